package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// run executes the root command with args and stdin and returns what it wrote
// to standard output and standard error, together, and the error.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := execute(t, stdin, args...)
	return stdout + stderr, err
}

func TestFrameDecode(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		command string
		field   string
		want    any
	}{
		{"v1 setup", []string{"--fport", "201", "--downlink", "02 35 01 02 ff 2c 81 01 02 03 04"},
			"FragSessionSetupReq", "nb_frag", 513.0},
		{"v1 setup descriptor hex", []string{"--fport", "201", "--downlink", "02350102ff2c8101020304"},
			"FragSessionSetupReq", "descriptor", "01020304"},
		{"v2 setup session_cnt", []string{"--fport", "201", "--version", "2", "--downlink", "023100048 00d400102030480000102030 4"},
			"FragSessionSetupReq", "session_cnt", 128.0},
		{"class c frequency", []string{"--fport", "200", "--downlink", "04 01 00000000 08 d2ad84 05"},
			"McClassCSessionReq", "dl_frequency", 869525000.0},
		{"app time ans", []string{"--fport", "202", "--downlink", "010004000 00f"},
			"AppTimeAns", "time_correction", 1024.0},
		{"upgrade image ans", []string{"--fport", "203", "--uplink", "0403170119 73"},
			"DevUpgradeImageAns", "next_firmware_version", float64(0x73190117)},
		{"remapped port", []string{"--fport", "10", "--port-fwmanagement", "10", "--uplink", "050 2"},
			"DevDeleteImageAns", "error_invalid_version", true},
		{"base64", []string{"--fport", "201", "--base64", "--downlink", "AwM="},
			"FragSessionDeleteReq", "frag_index", 3.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"frame", "decode"}, tt.args...)
			out, err := run(t, "", args...)
			if err != nil {
				t.Fatalf("lorafuota %v: %v\n%s", args, err, out)
			}
			var got []struct {
				CID     int            `json:"cid"`
				Command string         `json:"command"`
				Fields  map[string]any `json:"fields"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if len(got) != 1 || got[0].Command != tt.command {
				t.Fatalf("got %s, want one %s", out, tt.command)
			}
			if v := got[0].Fields[tt.field]; v != tt.want {
				t.Errorf("%s = %v (%T), want %v", tt.field, v, v, tt.want)
			}
		})
	}
}

func TestFrameDecodeMultiple(t *testing.T) {
	out, err := run(t, "", "frame", "decode", "--fport", "203", "--downlink", "0104", "--compact")
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"cid":1,"command":"DevVersionReq","fields":{}},{"cid":4,"command":"DevUpgradeImageReq","fields":{}}]` + "\n"
	if out != want {
		t.Errorf("got %s want %s", out, want)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	frames := []struct {
		fport, version, dir, hex string
	}{
		{"201", "1", "--downlink", "02350102ff2c8101020304"},
		{"201", "2", "--downlink", "02310004800d40010203048000 01020304"},
		{"201", "1", "--downlink", "0801c2010203040506"},
		{"201", "2", "--uplink", "0406"},
		// LoRa Basics Modem's 4-byte "no session" answer keeps its form.
		{"201", "2", "--uplink", "0104000000"},
		{"201", "2", "--uplink", "0104"},
		{"201", "1", "--uplink", "02cf"},
		{"200", "1", "--downlink", "0401000000000 8d2ad8405"},
		{"202", "1", "--downlink", "01000400000f"},
		{"203", "1", "--uplink", "014433221178563412"},
	}
	for _, f := range frames {
		t.Run(f.hex, func(t *testing.T) {
			js, err := run(t, "", "frame", "decode", "--fport", f.fport, "--version", f.version, f.dir, f.hex)
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, js)
			}
			out, err := run(t, js, "frame", "encode", "--fport", f.fport, "--version", f.version)
			if err != nil {
				t.Fatalf("encode %s: %v\n%s", js, err, out)
			}
			if want := strings.ReplaceAll(f.hex, " ", "") + "\n"; out != want {
				t.Errorf("encode(decode(%s)) = %s", want, out)
			}
		})
	}
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string // substring of the error
	}{
		{"no direction", "", []string{"frame", "decode", "--fport", "201"}, "exactly one of --uplink and --downlink"},
		{"both directions", "", []string{"frame", "decode", "--fport", "201", "--uplink", "00", "--downlink", "00"}, "exactly one"},
		{"bad hex", "", []string{"frame", "decode", "--fport", "201", "--uplink", "0g"}, "invalid hex"},
		{"unknown port", "", []string{"frame", "decode", "--fport", "99", "--uplink", "00"}, "no application-layer package"},
		{"port clash", "", []string{"frame", "decode", "--fport", "201", "--port-clocksync", "201", "--uplink", "00"}, "mapped to both"},
		{"truncated", "", []string{"frame", "decode", "--fport", "201", "--downlink", "02350102"}, "FragSessionSetupReq (CID 0x02) at byte 0"},
		{"unknown cid", "", []string{"frame", "decode", "--fport", "201", "--downlink", "0307ee"}, "unknown downlink CID 0xee"},
		{"v2 cid in v1", "", []string{"frame", "decode", "--fport", "201", "--uplink", "0406"}, "CID 0x04"},
		{"version 2 of TS006", "", []string{"frame", "decode", "--fport", "203", "--version", "2", "--uplink", "00"}, "version 2 not supported"},
		{"unknown command", `[{"command":"Nope"}]`, []string{"frame", "encode", "--fport", "201"}, `"Nope" is not a fragmentation`},
		{"unknown field", `{"command":"FragSessionDeleteReq","fields":{"frag_idx":1}}`, []string{"frame", "encode", "--fport", "201"}, "frag_idx"},
		{"cid mismatch", `{"cid":9,"command":"FragSessionDeleteReq"}`, []string{"frame", "encode", "--fport", "201"}, "cid 9"},
		{"range", `{"command":"McClassCSessionReq","fields":{"time_out":16}}`, []string{"frame", "encode", "--fport", "200"}, "time_out"},
		{"not json", `nope`, []string{"frame", "encode", "--fport", "200"}, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, tt.stdin, tt.args...)
			if err == nil {
				t.Fatalf("no error; output %s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
