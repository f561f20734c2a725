package multicast

import (
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/lorafuota/lorafuota/applayer/applayertest"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
)

func TestPackage(t *testing.T) {
	p := Package()
	if p.ID != 2 || p.FPort != 200 || p.Spec != "TS005" || !reflect.DeepEqual(p.Versions, []uint8{1, 2}) {
		t.Errorf("Package() = %+v", p)
	}
	for _, v := range p.Versions {
		for _, dir := range []applayer.Direction{up, down} {
			for cid := byte(0); cid <= CIDMcClassBSession; cid++ {
				spec, ok := p.Lookup(cid, dir, v)
				if !ok {
					t.Errorf("no %v command 0x%02x in v%d", dir, cid, v)
					continue
				}
				c := spec.New(v)
				if c.CID() != cid || c.Name() != spec.Name {
					t.Errorf("%s: New gives %s (CID 0x%02x)", spec.Name, c.Name(), c.CID())
				}
			}
		}
	}
}

// TestFieldRange checks that every encoder refuses what its bits cannot carry
// with a *applayer.FieldError naming the JSON field.
func TestFieldRange(t *testing.T) {
	ok := new(uint32(10))
	tests := []struct {
		name  string
		cmd   applayer.Command
		field string // "" when the command must encode
	}{
		{"req_group_mask 15", &McGroupStatusReq{ReqGroupMask: 15}, ""},
		{"req_group_mask 16", &McGroupStatusReq{ReqGroupMask: 16}, "req_group_mask"},
		{"ans_group_mask 16", &McGroupStatusAns{AnsGroupMask: 16}, "ans_group_mask"},
		{"nb_total_groups 4", &McGroupStatusAns{NbTotalGroups: 4}, ""},
		{"nb_total_groups 5", &McGroupStatusAns{NbTotalGroups: 5}, "nb_total_groups"},
		{"groups missing", &McGroupStatusAns{AnsGroupMask: 3, Groups: []McGroupStatus{{McGroupID: 0}}}, "groups"},
		{"groups extra", &McGroupStatusAns{AnsGroupMask: 1, Groups: []McGroupStatus{{McGroupID: 0}, {McGroupID: 1}}}, "groups"},
		{"groups descending", &McGroupStatusAns{AnsGroupMask: 3, Groups: []McGroupStatus{{McGroupID: 1}, {McGroupID: 0}}}, "groups"},
		{"groups not in mask", &McGroupStatusAns{AnsGroupMask: 4, Groups: []McGroupStatus{{McGroupID: 1}}}, "groups"},
		{"setup mc_group_id", &McGroupSetupReq{McGroupID: 4}, "mc_group_id"},
		{"setup ans mc_group_id", &McGroupSetupAns{McGroupID: 4}, "mc_group_id"},
		{"delete mc_group_id", &McGroupDeleteReq{McGroupID: 4}, "mc_group_id"},
		{"delete ans mc_group_id", &McGroupDeleteAns{McGroupID: 255}, "mc_group_id"},
		{"class C mc_group_id", &McClassCSessionReq{McGroupID: 4}, "mc_group_id"},
		{"class C time_out 15", &McClassCSessionReq{TimeOut: 15}, ""},
		{"class C time_out 16", &McClassCSessionReq{TimeOut: 16}, "time_out"},
		{"class C dl_frequency 50 Hz step", &McClassCSessionReq{DLFrequency: 869525050}, "dl_frequency"},
		{"class C dl_frequency max", &McClassCSessionReq{DLFrequency: MaxDLFrequency}, ""},
		{"class C dl_frequency 2^24·100", &McClassCSessionReq{DLFrequency: 1 << 24 * 100}, "dl_frequency"},
		{"class B version 0", &McClassBSessionReq{}, "version"},
		{"class B mc_group_id", &McClassBSessionReq{Version: 2, McGroupID: 4}, "mc_group_id"},
		{"class B time_out 16", &McClassBSessionReq{Version: 1, TimeOut: 16}, "time_out"},
		{"class B periodicity 7", &McClassBSessionReq{Version: 1, Periodicity: 7}, ""},
		{"class B periodicity 8", &McClassBSessionReq{Version: 1, Periodicity: 8}, "periodicity"},
		{"class B dl_frequency", &McClassBSessionReq{Version: 1, DLFrequency: 1}, "dl_frequency"},
		{"class B session_time v1 unaligned", &McClassBSessionReq{Version: 1, SessionTime: gps2024}, ""},
		{"class B session_time v2 unaligned", &McClassBSessionReq{Version: 2, SessionTime: gps2024}, "session_time"},
		{"class B session_time v2 aligned", &McClassBSessionReq{Version: 2, SessionTime: gps2024B}, ""},
		{"ans version 0", &McClassCSessionAns{SessionAns{TimeToStart: ok}}, "version"},
		{"ans mc_group_id", &McClassCSessionAns{SessionAns{Version: 1, McGroupID: 4, TimeToStart: ok}}, "mc_group_id"},
		{"ans time_to_start missing", &McClassCSessionAns{SessionAns{Version: 2}}, "time_to_start"},
		{"ans time_to_start with error", &McClassBSessionAns{SessionAns{Version: 2, FreqError: true, TimeToStart: ok}}, "time_to_start"},
		{"ans time_to_start with reserved bit", &McClassBSessionAns{SessionAns{Version: 2, UnknownErrors: 0x80, TimeToStart: ok}}, "time_to_start"},
		{"ans time_to_start max", &McClassCSessionAns{SessionAns{Version: 2, TimeToStart: new(uint32(MaxTimeToStart))}}, ""},
		{"ans time_to_start 2^24", &McClassCSessionAns{SessionAns{Version: 2, TimeToStart: new(uint32(1 << 24))}}, "time_to_start"},
		{"ans start_missed v1", &McClassCSessionAns{SessionAns{Version: 1, StartMissed: true}}, "start_missed"},
		{"ans start_missed v2", &McClassCSessionAns{SessionAns{Version: 2, StartMissed: true}}, ""},
		{"ans unknown_errors bit 5 v1", &McClassCSessionAns{SessionAns{Version: 1, UnknownErrors: 0x20}}, ""},
		{"ans unknown_errors bit 5 v2", &McClassCSessionAns{SessionAns{Version: 2, UnknownErrors: 0x20}}, "unknown_errors"},
		{"ans unknown_errors bit 4", &McClassBSessionAns{SessionAns{Version: 1, UnknownErrors: 0x10}}, "unknown_errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.cmd.MarshalBinary()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("MarshalBinary: %v", err)
				}
				return
			}
			var fe *applayer.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("MarshalBinary = %x, %v; want a *FieldError", b, err)
			}
			if fe.Field != tt.field || fe.Command != tt.cmd.Name() {
				t.Errorf("FieldError names %s.%s, want %s.%s (%v)", fe.Command, fe.Field, tt.cmd.Name(), tt.field, err)
			}
			if _, err := EncodeFrame(tt.cmd); !errors.As(err, &fe) {
				t.Errorf("EncodeFrame: %v, want the FieldError wrapped", err)
			}
		})
	}
}

// TestTruncated cuts every single-command vector short at every byte.
func TestTruncated(t *testing.T) {
	for _, v := range vectors() {
		if len(v.Cmds) != 1 {
			continue
		}
		frame := applayertest.MustHex(t, v.Hex)
		for n := 1; n < len(frame); n++ {
			cmds, err := DecodeFrame(frame[:n], v.Dir, v.Version)
			var de *applayer.DecodeError
			if !errors.Is(err, applayer.ErrTruncated) || !errors.As(err, &de) || de.Command != v.Cmds[0].Name() {
				t.Errorf("%s: DecodeFrame(%x) = %v, %v; want a truncated %s", v.Name, frame[:n], cmds, err, v.Cmds[0].Name())
			}
		}
	}
}

// TestDecodeRefused covers the frames that are long enough but cannot be read
// as the layout says.
func TestDecodeRefused(t *testing.T) {
	tests := []struct {
		name    string
		dir     applayer.Direction
		version uint8
		hex     string
		want    string // substring of the error
	}{
		{"nb_total_groups 5", up, 1, "0150", "nb_total_groups"},
		{"nb_total_groups 7", up, 2, "0170", "nb_total_groups"},
		{"group id not in mask", up, 1, "0101" + "0100000000", "groups"},
		{"duplicate group id", up, 2, "0103" + "0100000000" + "0100000000", "groups"},
		{"class B v2 unaligned", down, 2, "0500" + "12c3bc52" + "35" + "d2ad84" + "03", "session_time"},
		{"empty frame", up, 1, "", "empty frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := DecodeFrame(applayertest.MustHex(t, tt.hex), tt.dir, tt.version)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeFrame(%s) = %v, %v; want an error about %s", tt.hex, cmds, err, tt.want)
			}
		})
	}
	if _, err := DecodeFrame([]byte{0}, up, 3); err == nil {
		t.Error("DecodeFrame accepts package version 3")
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		name    string
		dir     applayer.Direction
		version uint8
		hex     string
		nOK     int // commands decoded before the unknown CID
		offset  int
	}{
		{"downlink 0x06", down, 1, "06", 0, 0},
		{"uplink 0x07 after a session answer", up, 2, "0421" + "07", 1, 2},
		{"TS004 DataFragment CID", down, 2, "0302" + "08000001", 1, 2},
		{"0xff", up, 1, "ff00", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := applayertest.MustHex(t, tt.hex)
			cmds, err := DecodeFrame(frame, tt.dir, tt.version)
			var ue *applayer.UnknownCommandError
			if !errors.As(err, &ue) {
				t.Fatalf("DecodeFrame(%x) error %v, want *UnknownCommandError", frame, err)
			}
			if ue.Offset != tt.offset || ue.CID != frame[tt.offset] || len(cmds) != tt.nOK {
				t.Errorf("DecodeFrame(%x) = %d commands, %v", frame, len(cmds), err)
			}
		})
	}
}

// TestSessionAnsTolerance covers the session answers that device stacks send
// and a strict or buggy decoder misreads (PROTOCOLS §2.5, §5.5).
func TestSessionAnsTolerance(t *testing.T) {
	tests := []struct {
		name     string
		version  uint8
		hex      string // one McClassCSessionAns, CID included
		accepted bool
		reasons  []string // a substring for each reason, in order
	}{
		{"accepted", 2, "0400100e00", true, nil},
		{"accepted, saturated", 2, "0400ffffff", true, nil},
		{"LMN undefined group 0x1C|id", 1, "041d", false,
			[]string{"McGroupUndefined: group 1", "DRError", "FreqError"}},
		{"LMN v1 start time past", 1, "0412", false, []string{"SessionTime has already passed"}},
		{"StartMissed 1 byte", 2, "0420", false, []string{"StartMissed"}},
		{"v1 RFU bit 5", 1, "0423", false, []string{"RFU status bits 0x20"}},
		{"v2 future error bit 6", 2, "0440", false, []string{"reserved for future errors"}},
		{"v1 future error bit 7", 1, "0480", false, []string{"RFU status bits 0x80"}},
		{"DR and StartMissed", 2, "0426", false, []string{"DRError", "StartMissed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := applayertest.MustHex(t, tt.hex)
			a := &McClassCSessionAns{SessionAns{Version: tt.version}}
			if err := a.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary(%x): %v", b, err)
			}
			if a.Accepted() != tt.accepted || (a.TimeToStart != nil) != tt.accepted {
				t.Errorf("Accepted() = %v, TimeToStart %v; want %v", a.Accepted(), a.TimeToStart, tt.accepted)
			}
			reasons := a.Reasons()
			if len(reasons) != len(tt.reasons) {
				t.Fatalf("Reasons() = %q, want %d", reasons, len(tt.reasons))
			}
			for i, r := range reasons {
				if !strings.Contains(r, tt.reasons[i]) {
					t.Errorf("reason %d = %q, want it to mention %q", i, r, tt.reasons[i])
				}
			}
			err := a.Err()
			if tt.accepted != (err == nil) || (err != nil && !errors.Is(err, ErrRefused)) {
				t.Errorf("Err() = %v", err)
			}
			// The same byte answers class B the same way.
			bb := append([]byte{CIDMcClassBSession}, b[1:]...)
			ab := &McClassBSessionAns{SessionAns{Version: tt.version}}
			if err := ab.UnmarshalBinary(bb); err != nil || !reflect.DeepEqual(ab.SessionAns, a.SessionAns) {
				t.Errorf("class B: %+v, %v; want %+v", ab.SessionAns, err, a.SessionAns)
			}
			if err := ab.Err(); (err == nil) != tt.accepted || (err != nil && !strings.HasPrefix(err.Error(), "McClassBSessionAns: ")) {
				t.Errorf("class B Err() = %v", err)
			}
		})
	}
}

func TestGroupAnsErr(t *testing.T) {
	tests := []struct {
		cmd     interface{ Err() error }
		refused bool
	}{
		{&McGroupSetupAns{McGroupID: 1}, false},
		{&McGroupSetupAns{McGroupID: 1, IDError: true}, true},
		{&McGroupDeleteAns{McGroupID: 2}, false},
		{&McGroupDeleteAns{McGroupID: 2, McGroupUndefined: true}, true},
	}
	for _, tt := range tests {
		err := tt.cmd.Err()
		if (err != nil) != tt.refused || (err != nil && !errors.Is(err, ErrRefused)) {
			t.Errorf("%+v.Err() = %v", tt.cmd, err)
		}
	}
}

// TestGroupStatusAnyOrder reads BRO's McGroupStatusAns vector, which lists group
// 3 before group 2, and keeps the entries ascending so that it encodes as TS005
// wants.
func TestGroupStatusAnyOrder(t *testing.T) {
	var a McGroupStatusAns
	if err := a.UnmarshalBinary(applayertest.MustHex(t, "014c"+"0304030201"+"0201020304")); err != nil {
		t.Fatal(err)
	}
	want := McGroupStatusAns{AnsGroupMask: 0x0c, NbTotalGroups: 4, Groups: []McGroupStatus{
		{McGroupID: 2, McAddr: lorawan.DevAddr{0x04, 0x03, 0x02, 0x01}},
		{McGroupID: 3, McAddr: lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}},
	}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got %+v, want %+v", a, want)
	}
	b, err := a.MarshalBinary()
	if err != nil || hex.EncodeToString(b) != "014c"+"0201020304"+"0304030201" {
		t.Errorf("MarshalBinary = %x, %v", b, err)
	}
}

// TestRFUIgnored checks that RFU bits are dropped on decode and written as 0.
func TestRFUIgnored(t *testing.T) {
	tests := []struct {
		dir      applayer.Direction
		version  uint8
		in, want string
	}{
		{down, 1, "01fa", "010a"},
		{down, 2, "02fe" + "0403020101020304050607080102030405060708" + "64000000c8000000",
			"0202" + "0403020101020304050607080102030405060708" + "64000000c8000000"},
		{up, 1, "02fb", "0203"},
		{down, 2, "03ff", "0303"},
		{up, 2, "03f9", "0301"},
		{up, 2, "01cc" + "fe01020304" + "ff04030201", "014c" + "0201020304" + "0304030201"},
		{down, 1, "04fd" + "12c3bc52" + "fc" + "d2ad84" + "00", "0401" + "12c3bc52" + "0c" + "d2ad84" + "00"},
		{down, 2, "05fe" + "80c3bc52" + "b5" + "d2ad84" + "03", "0502" + "80c3bc52" + "35" + "d2ad84" + "03"},
	}
	for _, tt := range tests {
		cmds, err := DecodeFrame(applayertest.MustHex(t, tt.in), tt.dir, tt.version)
		if err != nil {
			t.Errorf("DecodeFrame(%s): %v", tt.in, err)
			continue
		}
		if b, err := EncodeFrame(cmds...); err != nil || hex.EncodeToString(b) != tt.want {
			t.Errorf("%s re-encodes to %x, %v; want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestUnmarshalBinary(t *testing.T) {
	// Every single-command vector through the command's own UnmarshalBinary.
	for _, v := range vectors() {
		if len(v.Cmds) != 1 {
			continue
		}
		spec, ok := Package().LookupName(v.Cmds[0].Name(), v.Version)
		if !ok {
			t.Fatalf("%s: no %s in v%d", v.Name, v.Cmds[0].Name(), v.Version)
		}
		c := spec.New(v.Version)
		if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(applayertest.MustHex(t, v.Hex)); err != nil || !reflect.DeepEqual(c, v.Cmds[0]) {
			t.Errorf("%s: UnmarshalBinary = %+v, %v", v.Name, c, err)
		}
	}

	var r McGroupDeleteReq
	if err := r.UnmarshalBinary([]byte{CIDMcGroupDelete, 2}); err != nil || r.McGroupID != 2 {
		t.Errorf("UnmarshalBinary = %+v, %v", r, err)
	}
	if err := r.UnmarshalBinary([]byte{CIDMcGroupDelete, 2, 0}); err == nil {
		t.Error("UnmarshalBinary accepts a trailing byte")
	}
	if err := r.UnmarshalBinary([]byte{CIDMcGroupSetup, 2}); err == nil {
		t.Error("UnmarshalBinary accepts another CID")
	}
	// A session answer decoded without a version refuses rather than guessing.
	var a McClassCSessionAns
	var fe *applayer.FieldError
	if err := a.UnmarshalBinary([]byte{CIDMcClassCSession, 0x20}); !errors.As(err, &fe) || fe.Field != "version" {
		t.Errorf("UnmarshalBinary without version: %v", err)
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		cmd  applayer.Command
		want string
	}{
		{&McGroupSetupReq{McGroupID: 1, McAddr: lorawan.DevAddr{0x01, 0x02, 0x03, 0x04},
			McKeyEncrypted: applayer.Bytes16{0x34, 0x37, 0xd6, 0xe2, 15: 0x11}, MinMcFCnt: 1, MaxMcFCnt: 9},
			`{"mc_group_id":1,"mc_addr":"01020304","mc_key_encrypted":"3437d6e2000000000000000000000011","min_mc_fcnt":1,"max_mc_fcnt":9}`},
		{&McGroupStatusAns{AnsGroupMask: 2, NbTotalGroups: 1, Groups: []McGroupStatus{{McGroupID: 1, McAddr: lorawan.DevAddr{0xfe, 0, 0, 1}}}},
			`{"ans_group_mask":2,"nb_total_groups":1,"groups":[{"mc_group_id":1,"mc_addr":"fe000001"}]}`},
		{&McClassBSessionReq{Version: 2, McGroupID: 1, SessionTime: gps2024B, TimeOut: 5, Periodicity: 3, DLFrequency: 869525000, DR: 3},
			`{"mc_group_id":1,"session_time":1388102528,"time_out":5,"periodicity":3,"dl_frequency":869525000,"dr":3}`},
		{&McClassCSessionAns{SessionAns{Version: 2, McGroupID: 1, TimeToStart: new(uint32(60))}},
			`{"mc_group_id":1,"dr_error":false,"freq_error":false,"mc_group_undefined":false,"start_missed":false,"time_to_start":60}`},
		{&McClassCSessionAns{SessionAns{Version: 2, StartMissed: true, UnknownErrors: 0x40}},
			`{"mc_group_id":0,"dr_error":false,"freq_error":false,"mc_group_undefined":false,"start_missed":true,"unknown_errors":64}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.cmd)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%s) = %s, %v\nwant %s", tt.cmd.Name(), b, err, tt.want)
			continue
		}
		back := reflect.New(reflect.TypeOf(tt.cmd).Elem()).Interface()
		if err := json.Unmarshal(b, back); err != nil {
			t.Errorf("json.Unmarshal(%s): %v", b, err)
		}
	}
}
