package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// runPowercut executes `sim powercut ARGS...` on a fresh command tree and
// returns its standard output and error.
func runPowercut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := execute(t, "", append([]string{"sim", "powercut"}, args...)...)
	return stdout, err
}

func TestSimPowercutJSON(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		scenarios int // 0: only > 0 checked
	}{
		{[]string{"--layout", "external-swap", "--flash", "stm32wl", "--image-size", "8KiB", "--mode", "before"}, 0},
		{[]string{"--layout", "dual-bank", "--flash", "nrf52840", "--image-size", "8192", "--mode", "all"}, 5 * 7},
		{[]string{"--layout", "dual-bank", "--flash", "nor", "--image-size", "8k", "--mode", "torn", "--double", "--double-cuts", "2"}, 5*5 + 5*5*2},
		{[]string{"--layout", "external-swap", "--flash", "nrf52840", "--image-size", "8KiB", "--mode", "after", "--new-behaviour", "hang"}, 0},
	} {
		out, err := runPowercut(t, append(tc.args, "--json")...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		for _, k := range []string{"scenarios", "booted_old", "booted_new", "mixed", "bricked", "counter_regressions", "operations", "layout", "flash", "mode"} {
			if _, ok := got[k]; !ok {
				t.Errorf("%v: JSON has no %q field:\n%s", tc.args, k, out)
			}
		}
		n := int(got["scenarios"].(float64))
		if n == 0 || tc.scenarios != 0 && n != tc.scenarios {
			t.Errorf("%v: %d scenarios, want %d", tc.args, n, tc.scenarios)
		}
		if old, nw := got["booted_old"].(float64), got["booted_new"].(float64); int(old+nw) != n {
			t.Errorf("%v: %v old + %v new != %d scenarios", tc.args, old, nw, n)
		}
		for _, k := range []string{"mixed", "bricked", "counter_regressions"} {
			if got[k].(float64) != 0 {
				t.Errorf("%v: %s = %v", tc.args, k, got[k])
			}
		}
	}
}

func TestSimPowercutText(t *testing.T) {
	out, err := runPowercut(t, "--layout", "external-swap", "--flash", "nor", "--image-size", "8KiB", "--mode", "before", "--seed", "7")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"external-swap layout on nor flash", "clean update:", "scenarios:", "booted new image:", "bricked:", "counter regressions:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSimPowercutErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--flash", "nor"}, `"layout" not set`},
		{[]string{"--layout", "triple-bank", "--flash", "nor"}, "unknown layout"},
		{[]string{"--layout", "dual-bank", "--flash", "esp32"}, "unknown flash"},
		{[]string{"--layout", "dual-bank", "--flash", "nor", "--mode", "sideways"}, "--mode"},
		{[]string{"--layout", "dual-bank", "--flash", "nor", "--image-size", "big"}, "--image-size"},
		{[]string{"--layout", "dual-bank", "--flash", "stm32wl", "--image-size", "128KiB"}, "--internal-size"},
		{[]string{"--layout", "dual-bank", "--flash", "nor", "--new-behaviour", "meh"}, "unknown behaviour"},
	} {
		if _, err := runPowercut(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int{"131072": 131072, "128KiB": 131072, "128k": 131072, "1MiB": 1 << 20, "2M": 2 << 20} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "-1", "12 bytes", "1.5KiB", "99999999MiB"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) accepted", s)
		}
	}
}
