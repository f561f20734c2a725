package main

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadDevicesFile feeds arbitrary device lists to readDevicesFile: it
// must refuse with an error naming the flag, or return devices whose EUIs are
// 16 lower-case hex digits, listed once each, with a class of A, B or C (or
// none), each of which parseDeviceSpec reads back alike.
func FuzzReadDevicesFile(f *testing.F) {
	f.Add([]byte("70b3d57ed0000001\n70B3D57ED0000002,c,1.0.4\n# comment\n\n70b3d57ed0000003,A\n"))
	f.Add([]byte("70b3d57ed0000001\n70b3d57ed0000001\n"))
	f.Add([]byte("70b3d57ed000000g\n"))
	f.Add([]byte("70b3d57ed0000001,,1.1\n"))
	f.Add([]byte("70b3d57ed0000001,c,1.0.4,x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		devs, err := readDevicesFile("-", bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--devices-file") {
				t.Fatalf("error %q does not name the flag", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, d := range devs {
			if len(d.DevEui) != 16 || strings.ToLower(d.DevEui) != d.DevEui || seen[d.DevEui] {
				t.Fatalf("device %q: not 16 lower-case hex digits, or listed twice", d.DevEui)
			}
			seen[d.DevEui] = true
			if c := d.Class; c != "" && c != "A" && c != "B" && c != "C" {
				t.Fatalf("class %q", c)
			}
			again, err := parseDeviceSpec(strings.Join([]string{d.DevEui, d.Class, d.MacVersion}, ","))
			if err != nil || again.DevEui != d.DevEui || again.Class != d.Class || again.MacVersion != d.MacVersion {
				t.Fatalf("%+v does not read back: %+v, %v", d, again, err)
			}
		}
	})
}
