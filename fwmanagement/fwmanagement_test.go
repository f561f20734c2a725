package fwmanagement

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/applayer/applayertest"
)

const (
	up   = applayer.Uplink
	down = applayer.Downlink
)

// lbmVectors are LoRa Basics Modem's fmp_test vectors, PROTOCOLS.md §4: each
// request and the answer a device gives.
var lbmVectors = []struct {
	name     string
	req, ans string
	reqCmd   applayer.Command
	ansCmd   applayer.Command
}{
	{"PackageVersion", "00", "000401",
		&applayer.PackageVersionReq{}, &applayer.PackageVersionAns{PackageIdentifier: 4, PackageVersion: 1}},
	{"DevVersion", "01", "014433221178563412",
		&DevVersionReq{}, &DevVersionAns{FWVersion: 0x11223344, HWVersion: 0x12345678}},
	{"DevRebootTime cancel", "02ffffffff", "02ffffffff",
		&DevRebootTimeReq{RebootTime: RebootTimeCancel}, &DevRebootTimeAns{RebootTime: RebootTimeCancel}},
	{"DevRebootCountdown cancel", "03ffffff", "03ffffff",
		&DevRebootCountdownReq{Countdown: CountdownCancel}, &DevRebootCountdownAns{Countdown: CountdownCancel}},
	{"DevUpgradeImage valid", "04", "040317011973",
		&DevUpgradeImageReq{}, &DevUpgradeImageAns{UpImageStatus: UpImageValid, NextFirmwareVersion: 0x73190117}},
	{"DevDeleteImage wrong version", "0501020304", "0502",
		&DevDeleteImageReq{FirmwareToDeleteVersion: 0x04030201}, &DevDeleteImageAns{ErrorInvalidVersion: true}},
	{"DevDeleteImage deleted", "0517011973", "0500",
		&DevDeleteImageReq{FirmwareToDeleteVersion: 0x73190117}, &DevDeleteImageAns{}},
}

func TestLBMVectors(t *testing.T) {
	var vectors []applayertest.Vector
	for _, v := range lbmVectors {
		vectors = append(vectors,
			applayertest.Vector{Name: v.name + " request", Dir: down, Version: 1, Hex: v.req, Cmds: []applayer.Command{v.reqCmd}},
			applayertest.Vector{Name: v.name + " answer", Dir: up, Version: 1, Hex: v.ans, Cmds: []applayer.Command{v.ansCmd}},
		)
	}
	applayertest.RunVectors(t, Package(), vectors)
}

// TestMoreVectors covers values the LBM vectors do not: other statuses, both
// delete error bits, ordinary reboot times, and several commands per frame.
func TestMoreVectors(t *testing.T) {
	applayertest.RunVectors(t, Package(), []applayertest.Vector{
		{Name: "DevRebootTimeReq at GPS 1384035218", Dir: down, Version: 1, Hex: "0292b37e52",
			Cmds: []applayer.Command{&DevRebootTimeReq{RebootTime: 1384035218}}},
		{Name: "DevRebootTimeReq ASAP", Dir: down, Version: 1, Hex: "0200000000",
			Cmds: []applayer.Command{&DevRebootTimeReq{RebootTime: RebootASAP}}},
		{Name: "DevRebootTimeAns in an hour", Dir: up, Version: 1, Hex: "02100e0000",
			Cmds: []applayer.Command{&DevRebootTimeAns{RebootTime: 3600}}},
		{Name: "DevRebootTimeAns failed", Dir: up, Version: 1, Hex: "0200000000",
			Cmds: []applayer.Command{&DevRebootTimeAns{RebootTime: RebootFailed}}},
		{Name: "DevRebootCountdownReq max", Dir: down, Version: 1, Hex: "03feffff",
			Cmds: []applayer.Command{&DevRebootCountdownReq{Countdown: MaxCountdown}}},
		{Name: "DevRebootCountdownAns 300 s", Dir: up, Version: 1, Hex: "032c0100",
			Cmds: []applayer.Command{&DevRebootCountdownAns{Countdown: 300}}},
		{Name: "DevUpgradeImageAns absent", Dir: up, Version: 1, Hex: "0400",
			Cmds: []applayer.Command{&DevUpgradeImageAns{UpImageStatus: UpImageAbsent}}},
		{Name: "DevUpgradeImageAns corrupt", Dir: up, Version: 1, Hex: "0401",
			Cmds: []applayer.Command{&DevUpgradeImageAns{UpImageStatus: UpImageCorrupt}}},
		{Name: "DevUpgradeImageAns incompatible", Dir: up, Version: 1, Hex: "0402",
			Cmds: []applayer.Command{&DevUpgradeImageAns{UpImageStatus: UpImageIncompatible}}},
		{Name: "DevDeleteImageAns no valid image", Dir: up, Version: 1, Hex: "0501",
			Cmds: []applayer.Command{&DevDeleteImageAns{ErrorNoValidImage: true}}},
		{Name: "DevDeleteImageAns both errors", Dir: up, Version: 1, Hex: "0503",
			Cmds: []applayer.Command{&DevDeleteImageAns{ErrorNoValidImage: true, ErrorInvalidVersion: true}}},
		{Name: "DevVersionReq and DevUpgradeImageReq", Dir: down, Version: 1, Hex: "0104",
			Cmds: []applayer.Command{&DevVersionReq{}, &DevUpgradeImageReq{}}},
		{Name: "their answers", Dir: up, Version: 1, Hex: "014433221178563412" + "040317011973",
			Cmds: []applayer.Command{
				&DevVersionAns{FWVersion: 0x11223344, HWVersion: 0x12345678},
				&DevUpgradeImageAns{UpImageStatus: UpImageValid, NextFirmwareVersion: 0x73190117},
			}},
		{Name: "delete, then ask again", Dir: down, Version: 1, Hex: "0517011973" + "04" + "01",
			Cmds: []applayer.Command{&DevDeleteImageReq{FirmwareToDeleteVersion: 0x73190117}, &DevUpgradeImageReq{}, &DevVersionReq{}}},
		{Name: "their answers, short status first", Dir: up, Version: 1, Hex: "0500" + "0400" + "014433221178563412",
			Cmds: []applayer.Command{
				&DevDeleteImageAns{},
				&DevUpgradeImageAns{UpImageStatus: UpImageAbsent},
				&DevVersionAns{FWVersion: 0x11223344, HWVersion: 0x12345678},
			}},
		{Name: "every request", Dir: down, Version: 1, Hex: "00" + "01" + "02ffffffff" + "03ffffff" + "04" + "0501020304",
			Cmds: []applayer.Command{
				&applayer.PackageVersionReq{}, &DevVersionReq{},
				&DevRebootTimeReq{RebootTime: RebootTimeCancel}, &DevRebootCountdownReq{Countdown: CountdownCancel},
				&DevUpgradeImageReq{}, &DevDeleteImageReq{FirmwareToDeleteVersion: 0x04030201},
			}},
	})
}

// TestRFUIgnored checks that RFU bits are ignored on decode and written as 0.
func TestRFUIgnored(t *testing.T) {
	tests := []struct {
		in, out string
		want    applayer.Command
	}{
		{"04fc", "0400", &DevUpgradeImageAns{UpImageStatus: UpImageAbsent}},
		{"04fe", "0402", &DevUpgradeImageAns{UpImageStatus: UpImageIncompatible}},
		{"04ff17011973", "040317011973", &DevUpgradeImageAns{UpImageStatus: UpImageValid, NextFirmwareVersion: 0x73190117}},
		{"05fe", "0502", &DevDeleteImageAns{ErrorInvalidVersion: true}},
		{"05fc", "0500", &DevDeleteImageAns{}},
	}
	for _, tt := range tests {
		got, err := DecodeFrame(applayertest.MustHex(t, tt.in), up, 1)
		if err != nil {
			t.Fatalf("DecodeFrame(%s): %v", tt.in, err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
			t.Errorf("DecodeFrame(%s) = %#v, want %#v", tt.in, got, tt.want)
			continue
		}
		if b, err := EncodeFrame(got...); err != nil || hex.EncodeToString(b) != tt.out {
			t.Errorf("re-encoded %x (%v), want %s", b, err, tt.out)
		}
	}
}

func TestFieldRange(t *testing.T) {
	tests := []struct {
		cmd   applayer.Command
		field string // empty: valid
	}{
		{&DevRebootCountdownReq{Countdown: 0xffffff}, ""},
		{&DevRebootCountdownReq{Countdown: 0x1000000}, "countdown"},
		{&DevRebootCountdownAns{Countdown: 0xffffff}, ""},
		{&DevRebootCountdownAns{Countdown: 0xffffffff}, "countdown"},
		{&DevUpgradeImageAns{UpImageStatus: 3, NextFirmwareVersion: 0}, ""},
		{&DevUpgradeImageAns{UpImageStatus: 4}, "up_image_status"},
		{&DevUpgradeImageAns{UpImageStatus: UpImageCorrupt, NextFirmwareVersion: 7}, "next_firmware_version"},
		{&DevUpgradeImageAns{UpImageStatus: UpImageAbsent, NextFirmwareVersion: 1}, "next_firmware_version"},
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
		if _, err := EncodeFrame(&DevVersionReq{}, tt.cmd); !errors.As(err, &fe) {
			t.Errorf("EncodeFrame(..., %#v): error %v, want a FieldError", tt.cmd, err)
		}
	}
}

func TestTruncated(t *testing.T) {
	tests := []struct {
		dir     applayer.Direction
		hex     string
		command string
		offset  int
	}{
		{up, "0004", "PackageVersionAns", 0},
		{up, "0144332211785634", "DevVersionAns", 0},
		{down, "02ffffff", "DevRebootTimeReq", 0},
		{up, "02", "DevRebootTimeAns", 0},
		{down, "03ffff", "DevRebootCountdownReq", 0},
		{up, "03ff", "DevRebootCountdownAns", 0},
		{up, "04", "DevUpgradeImageAns", 0},
		{up, "0403170119", "DevUpgradeImageAns", 0}, // status 3 promises 4 more bytes
		{down, "05010203", "DevDeleteImageReq", 0},
		{up, "05", "DevDeleteImageAns", 0},
		{down, "01" + "04" + "0501", "DevDeleteImageReq", 2},
		{up, "0500" + "0403", "DevUpgradeImageAns", 2},
	}
	for _, tt := range tests {
		cmds, err := DecodeFrame(applayertest.MustHex(t, tt.hex), tt.dir, 1)
		var de *applayer.DecodeError
		if !errors.Is(err, applayer.ErrTruncated) || !errors.As(err, &de) {
			t.Errorf("%v %s: error %v, want a truncated DecodeError", tt.dir, tt.hex, err)
			continue
		}
		if de.Command != tt.command || de.Offset != tt.offset || de.Package != "fwmanagement" {
			t.Errorf("%v %s: error names %s %s at byte %d, want fwmanagement %s at byte %d",
				tt.dir, tt.hex, de.Package, de.Command, de.Offset, tt.command, tt.offset)
		}
		if tt.offset > 0 && len(cmds) == 0 {
			t.Errorf("%s: commands before the truncated one not returned", tt.hex)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, tt := range []struct {
		dir    applayer.Direction
		hex    string
		offset int
	}{
		{down, "06", 0},
		{up, "0500" + "ff", 2},
	} {
		_, err := DecodeFrame(applayertest.MustHex(t, tt.hex), tt.dir, 1)
		var ue *applayer.UnknownCommandError
		if !errors.As(err, &ue) || ue.Offset != tt.offset {
			t.Errorf("%v %s: error %v, want UnknownCommandError at byte %d", tt.dir, tt.hex, err, tt.offset)
		}
	}
	if _, err := DecodeFrame([]byte{0}, down, 2); err == nil {
		t.Error("version 2 accepted")
	}
}

func TestTable(t *testing.T) {
	p := Package()
	if p.ID != 4 || p.FPort != 203 || !reflect.DeepEqual(p.Versions, []uint8{1}) {
		t.Errorf("package id %d port %d versions %v, want 4, 203, [1]", p.ID, p.FPort, p.Versions)
	}
	for _, s := range p.Commands {
		c := s.New(1)
		if c.CID() != s.CID || c.Name() != s.Name {
			t.Errorf("%s: command says CID 0x%02x name %s", s.Name, c.CID(), c.Name())
		}
	}
}

func TestHelpers(t *testing.T) {
	if r := (&DevRebootTimeReq{}); !r.IsASAP() || r.IsCancel() {
		t.Error("DevRebootTimeReq 0: want ASAP")
	}
	if r := (&DevRebootTimeReq{RebootTime: RebootTimeCancel}); r.IsASAP() || !r.IsCancel() {
		t.Error("DevRebootTimeReq 0xffffffff: want cancel")
	}
	if r := (&DevRebootCountdownReq{Countdown: CountdownCancel}); r.IsASAP() || !r.IsCancel() {
		t.Error("DevRebootCountdownReq 0xffffff: want cancel")
	}
	if r := (&DevRebootCountdownReq{Countdown: 60}); r.IsASAP() || r.IsCancel() {
		t.Error("DevRebootCountdownReq 60: neither ASAP nor cancel")
	}
	if a := (&DevRebootTimeAns{}); !a.Failed() || a.CancelAcked() {
		t.Error("DevRebootTimeAns 0: want failed")
	}
	if a := (&DevRebootTimeAns{RebootTime: RebootTimeCancel}); a.Failed() || !a.CancelAcked() {
		t.Error("DevRebootTimeAns 0xffffffff: want cancel acknowledged")
	}
	if a := (&DevRebootCountdownAns{Countdown: CountdownCancel}); a.Failed() || !a.CancelAcked() {
		t.Error("DevRebootCountdownAns 0xffffff: want cancel acknowledged")
	}
	if a := (&DevRebootCountdownAns{Countdown: 5}); a.Failed() || a.CancelAcked() {
		t.Error("DevRebootCountdownAns 5: neither failed nor cancel")
	}

	for s, want := range map[UpImageStatus]string{
		UpImageAbsent:       "no upgrade image",
		UpImageCorrupt:      "upgrade image corrupted or signature invalid",
		UpImageIncompatible: "upgrade image for another hardware platform",
		UpImageValid:        "valid upgrade image",
		7:                   "UpImageStatus(7)",
	} {
		if got := s.String(); got != want {
			t.Errorf("UpImageStatus(%d).String() = %q, want %q", s, got, want)
		}
	}

	tests := []struct {
		ans          DevDeleteImageAns
		noValid, bad bool
		msg          string
	}{
		{DevDeleteImageAns{}, false, false, ""},
		{DevDeleteImageAns{ErrorNoValidImage: true}, true, false, "image not deleted: no valid upgrade image stored"},
		{DevDeleteImageAns{ErrorInvalidVersion: true}, false, true, "image not deleted: version does not match the stored upgrade image"},
		{DevDeleteImageAns{ErrorNoValidImage: true, ErrorInvalidVersion: true}, true, true,
			"image not deleted: no valid upgrade image stored, and version does not match the stored upgrade image"},
	}
	for _, tt := range tests {
		err := tt.ans.Err()
		if errors.Is(err, ErrNoValidImage) != tt.noValid || errors.Is(err, ErrInvalidVersion) != tt.bad {
			t.Errorf("%+v: Err() = %v", tt.ans, err)
		}
		if (err == nil) != (tt.msg == "") || (err != nil && err.Error() != tt.msg) {
			t.Errorf("%+v: Err() = %v, want %q", tt.ans, err, tt.msg)
		}
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		cmd  applayer.Command
		want string
	}{
		{&DevVersionAns{FWVersion: 1, HWVersion: 2}, `{"fw_version":1,"hw_version":2}`},
		{&DevRebootTimeReq{RebootTime: 3}, `{"reboot_time":3}`},
		{&DevRebootTimeAns{RebootTime: 3}, `{"reboot_time":3}`},
		{&DevRebootCountdownReq{Countdown: 4}, `{"countdown":4}`},
		{&DevRebootCountdownAns{Countdown: 4}, `{"countdown":4}`},
		{&DevUpgradeImageAns{UpImageStatus: 3, NextFirmwareVersion: 5}, `{"up_image_status":3,"next_firmware_version":5}`},
		{&DevDeleteImageReq{FirmwareToDeleteVersion: 6}, `{"firmware_to_delete_version":6}`},
		{&DevDeleteImageAns{ErrorInvalidVersion: true}, `{"error_no_valid_image":false,"error_invalid_version":true}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.cmd)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: JSON %s (%v), want %s", tt.cmd.Name(), b, err, tt.want)
		}
	}
}

func TestUnmarshalBinary(t *testing.T) {
	var ans DevUpgradeImageAns
	if err := ans.UnmarshalBinary(applayertest.MustHex(t, "040317011973")); err != nil {
		t.Fatal(err)
	}
	if ans.NextFirmwareVersion != 0x73190117 {
		t.Errorf("NextFirmwareVersion = %#x", ans.NextFirmwareVersion)
	}
	// A status other than 3 is one byte; a trailing version is not part of it.
	for _, in := range []string{"040217011973", "04", "05", "0403"} {
		if err := ans.UnmarshalBinary(applayertest.MustHex(t, in)); err == nil {
			t.Errorf("UnmarshalBinary(%s) accepted", in)
		}
	}
	// Decoding into a used value clears a version the new status does not carry.
	ans = DevUpgradeImageAns{UpImageStatus: UpImageValid, NextFirmwareVersion: 9}
	if err := ans.UnmarshalBinary(applayertest.MustHex(t, "0401")); err != nil || ans.NextFirmwareVersion != 0 {
		t.Errorf("reuse: %+v, %v", ans, err)
	}
}
