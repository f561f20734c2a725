package clocksync

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/applayer/applayertest"
)

const (
	up   = applayer.Uplink
	down = applayer.Downlink
)

func TestVectors(t *testing.T) {
	var vectors []applayertest.Vector
	for _, v := range []uint8{1, 2} {
		vectors = append(vectors,
			applayertest.Vector{Name: "PackageVersionReq", Dir: down, Version: v, Hex: "00",
				Cmds: []applayer.Command{&applayer.PackageVersionReq{}}},
			applayertest.Vector{Name: "PackageVersionAns", Dir: up, Version: v, Hex: "0001" + hex.EncodeToString([]byte{v}),
				Cmds: []applayer.Command{&applayer.PackageVersionAns{PackageIdentifier: 1, PackageVersion: v}}},
			// PROTOCOLS.md §3, ChirpStack's vector.
			applayertest.Vector{Name: "AppTimeAns CS", Dir: down, Version: v, Hex: "01000400000f",
				Cmds: []applayer.Command{&AppTimeAns{TimeCorrection: 1024, TokenAns: 15}}},
			applayertest.Vector{Name: "AppTimeAns negative", Dir: down, Version: v, Hex: "01fffdfbf705",
				Cmds: []applayer.Command{&AppTimeAns{TimeCorrection: -134480385, TokenAns: 5}}},
			applayertest.Vector{Name: "AppTimeReq", Dir: up, Version: v, Hex: "0101020408" + "15",
				Cmds: []applayer.Command{&AppTimeReq{DeviceTime: 0x08040201, TokenReq: 5, AnsRequired: true}}},
			applayertest.Vector{Name: "AppTimeReq no answer required", Dir: up, Version: v, Hex: "0192b37e52" + "0f",
				Cmds: []applayer.Command{&AppTimeReq{DeviceTime: 1384035218, TokenReq: 15}}},
			applayertest.Vector{Name: "DeviceAppTimePeriodicityReq", Dir: down, Version: v, Hex: "020f",
				Cmds: []applayer.Command{&DeviceAppTimePeriodicityReq{Period: 15}}},
			applayertest.Vector{Name: "DeviceAppTimePeriodicityAns", Dir: up, Version: v, Hex: "02" + "01" + "92b37e52",
				Cmds: []applayer.Command{&DeviceAppTimePeriodicityAns{NotSupported: true, DeviceTime: 1384035218}}},
			applayertest.Vector{Name: "DeviceAppTimePeriodicityAns supported", Dir: up, Version: v, Hex: "02" + "00" + "01000000",
				Cmds: []applayer.Command{&DeviceAppTimePeriodicityAns{DeviceTime: 1}}},
			applayertest.Vector{Name: "ForceDeviceResync", Dir: down, Version: v, Hex: "0307",
				Cmds: []applayer.Command{&ForceDeviceResync{Version: v, NbTransmissions: 7}}},
			applayertest.Vector{Name: "several downlink commands", Dir: down, Version: v, Hex: "00" + "01000400000f" + "0204" + "0302",
				Cmds: []applayer.Command{
					&applayer.PackageVersionReq{},
					&AppTimeAns{TimeCorrection: 1024, TokenAns: 15},
					&DeviceAppTimePeriodicityReq{Period: 4},
					&ForceDeviceResync{Version: v, NbTransmissions: 2},
				}},
			applayertest.Vector{Name: "several uplink commands", Dir: up, Version: v, Hex: "000101" + "02" + "00" + "92b37e52" + "0192b37e52" + "13",
				Cmds: []applayer.Command{
					&applayer.PackageVersionAns{PackageIdentifier: 1, PackageVersion: 1},
					&DeviceAppTimePeriodicityAns{DeviceTime: 1384035218},
					&AppTimeReq{DeviceTime: 1384035218, TokenReq: 3, AnsRequired: true},
				}},
		)
	}
	for i := range vectors {
		vectors[i].Name = fmt.Sprintf("v%d %s", vectors[i].Version, vectors[i].Name)
	}
	applayertest.RunVectors(t, Package(), vectors)
}

// TestRFUIgnored checks that decoders ignore RFU bits and encoders write them as 0.
func TestRFUIgnored(t *testing.T) {
	tests := []struct {
		name    string
		dir     applayer.Direction
		in, out string
		want    applayer.Command
	}{
		{"AppTimeReq param bits 7:5", up, "0101020304f5", "010102030415",
			&AppTimeReq{DeviceTime: 0x04030201, TokenReq: 5, AnsRequired: true}},
		{"AppTimeAns param bits 7:4", down, "0100000000f3", "010000000003",
			&AppTimeAns{TokenAns: 3}},
		{"DeviceAppTimePeriodicityReq bits 7:4", down, "02f3", "0203",
			&DeviceAppTimePeriodicityReq{Period: 3}},
		{"DeviceAppTimePeriodicityAns status bits 7:1", up, "02fe01000000", "020001000000",
			&DeviceAppTimePeriodicityAns{DeviceTime: 1}},
		{"ForceDeviceResync bits 7:3 (0x13 is 3, not 19)", down, "0313", "0303",
			&ForceDeviceResync{Version: 1, NbTransmissions: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFrame(applayertest.MustHex(t, tt.in), tt.dir, 1)
			if err != nil {
				t.Fatalf("DecodeFrame(%s): %v", tt.in, err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Fatalf("DecodeFrame(%s) = %#v, want %#v", tt.in, got, tt.want)
			}
			b, err := EncodeFrame(got...)
			if err != nil {
				t.Fatalf("EncodeFrame: %v", err)
			}
			if hex.EncodeToString(b) != tt.out {
				t.Errorf("re-encoded %x, want %s", b, tt.out)
			}
		})
	}
}

func TestFieldRange(t *testing.T) {
	tests := []struct {
		cmd   applayer.Command
		field string // empty: valid
	}{
		{&AppTimeReq{TokenReq: 15}, ""},
		{&AppTimeReq{TokenReq: 16}, "token_req"},
		{&AppTimeAns{TokenAns: 15}, ""},
		{&AppTimeAns{TokenAns: 16}, "token_ans"},
		{&DeviceAppTimePeriodicityReq{Period: 15}, ""},
		{&DeviceAppTimePeriodicityReq{Period: 16}, "period"},
		{&ForceDeviceResync{NbTransmissions: 7}, ""},
		{&ForceDeviceResync{NbTransmissions: 8}, "nb_transmissions"},
		{&ForceDeviceResync{Version: 2, NbTransmissions: 0x17}, "nb_transmissions"},
	}
	for _, tt := range tests {
		_, err := tt.cmd.MarshalBinary()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%#v: %v", tt.cmd, err)
			}
			continue
		}
		var fe *applayer.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Command != tt.cmd.Name() {
			t.Errorf("%#v: error %v, want a FieldError for %s.%s", tt.cmd, err, tt.cmd.Name(), tt.field)
		}
		// The frame encoder passes the same error on.
		if _, err := EncodeFrame(tt.cmd); !errors.As(err, &fe) {
			t.Errorf("EncodeFrame(%#v): error %v, want a FieldError", tt.cmd, err)
		}
	}
}

func TestTruncated(t *testing.T) {
	tests := []struct {
		dir     applayer.Direction
		version uint8
		hex     string
		command string
		offset  int
	}{
		{up, 1, "0001", "PackageVersionAns", 0},
		{up, 1, "0101020304", "AppTimeReq", 0},
		{up, 2, "01", "AppTimeReq", 0},
		{down, 1, "0101020304", "AppTimeAns", 0},
		{down, 1, "02", "DeviceAppTimePeriodicityReq", 0},
		{up, 1, "0201010203", "DeviceAppTimePeriodicityAns", 0},
		{down, 1, "03", "ForceDeviceResyncReq", 0},
		{down, 2, "03", "ForceDeviceResyncCmd", 0},
		{down, 2, "020303", "ForceDeviceResyncCmd", 2},
		{up, 1, "000101" + "01aabbcc", "AppTimeReq", 3},
	}
	for _, tt := range tests {
		cmds, err := DecodeFrame(applayertest.MustHex(t, tt.hex), tt.dir, tt.version)
		var de *applayer.DecodeError
		if !errors.Is(err, applayer.ErrTruncated) || !errors.As(err, &de) {
			t.Errorf("%v v%d %s: error %v, want a truncated DecodeError", tt.dir, tt.version, tt.hex, err)
			continue
		}
		if de.Command != tt.command || de.Offset != tt.offset || de.Package != "clocksync" {
			t.Errorf("%v v%d %s: error names %s %s at byte %d, want clocksync %s at byte %d",
				tt.dir, tt.version, tt.hex, de.Package, de.Command, de.Offset, tt.command, tt.offset)
		}
		if tt.offset > 0 && len(cmds) == 0 {
			t.Errorf("%s: commands before the truncated one not returned", tt.hex)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		dir     applayer.Direction
		version uint8
		hex     string
		offset  int
	}{
		{up, 1, "03", 0},   // ForceDeviceResync is downlink only
		{down, 1, "04", 0}, // TS003 defines no CID 0x04
		{down, 2, "0305ff", 2},
	}
	for _, tt := range tests {
		_, err := DecodeFrame(applayertest.MustHex(t, tt.hex), tt.dir, tt.version)
		var ue *applayer.UnknownCommandError
		if !errors.As(err, &ue) || ue.Offset != tt.offset {
			t.Errorf("%v v%d %s: error %v, want UnknownCommandError at byte %d", tt.dir, tt.version, tt.hex, err, tt.offset)
		}
	}
	if _, err := DecodeFrame([]byte{0}, down, 3); err == nil {
		t.Error("version 3 accepted")
	}
}

// TestTable checks that every table entry builds a command whose CID and name
// agree with the entry, so names and JSON match the specification's version.
func TestTable(t *testing.T) {
	p := Package()
	if p.ID != 1 || p.FPort != 202 {
		t.Errorf("package id %d port %d, want 1 and 202", p.ID, p.FPort)
	}
	for _, s := range p.Commands {
		for v := s.MinVersion; v <= s.MaxVersion; v++ {
			c := s.New(v)
			if c.CID() != s.CID || c.Name() != s.Name {
				t.Errorf("v%d %s: command says CID 0x%02x name %s", v, s.Name, c.CID(), c.Name())
			}
		}
	}
	for v, want := range map[uint8]string{1: "ForceDeviceResyncReq", 2: "ForceDeviceResyncCmd"} {
		cmds, err := DecodeFrame([]byte{0x03, 0x01}, down, v)
		if err != nil || cmds[0].Name() != want {
			t.Errorf("v%d: decoded %v (%v), want %s", v, cmds, err, want)
		}
		if _, ok := p.LookupName(want, v); !ok {
			t.Errorf("v%d: LookupName(%s) failed", v, want)
		}
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		cmd  applayer.Command
		want string
	}{
		{&AppTimeReq{DeviceTime: 7, TokenReq: 2, AnsRequired: true}, `{"device_time":7,"token_req":2,"ans_required":true}`},
		{&AppTimeAns{TimeCorrection: -3, TokenAns: 2}, `{"time_correction":-3,"token_ans":2}`},
		{&DeviceAppTimePeriodicityReq{Period: 4}, `{"period":4}`},
		{&DeviceAppTimePeriodicityAns{NotSupported: true, DeviceTime: 9}, `{"not_supported":true,"device_time":9}`},
		{&ForceDeviceResync{Version: 2, NbTransmissions: 3}, `{"nb_transmissions":3}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.cmd)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: JSON %s (%v), want %s", tt.cmd.Name(), b, err, tt.want)
		}
	}
}

func TestUnmarshalBinary(t *testing.T) {
	var req AppTimeReq
	if err := req.UnmarshalBinary(applayertest.MustHex(t, "010102040815")); err != nil {
		t.Fatal(err)
	}
	if want := (AppTimeReq{DeviceTime: 0x08040201, TokenReq: 5, AnsRequired: true}); req != want {
		t.Errorf("got %+v, want %+v", req, want)
	}
	for _, in := range []string{"", "02010204081500", "01010204081500", "0101"} {
		if err := req.UnmarshalBinary(applayertest.MustHex(t, in)); err == nil {
			t.Errorf("UnmarshalBinary(%s) accepted", in)
		}
	}
}
