package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPlanJSON(t *testing.T) {
	out, err := run(t, "", "plan", "--image-size", "262144", "--dr", "5", "--redundancy", "110", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if p.Frames != 1207 || p.FragmentSize != 239 || p.SubBand != "P" || len(p.Blocks) != 1 {
		t.Errorf("unexpected plan: %+v", p)
	}
	// RADIO.md §5.2 gives 3600 + 116.16 s under a sliding window, the best
	// case with frames back to back; the gateway's 42.5 ms gap between the
	// 294 frames after the first hour makes it 3728.48 s (fuota's
	// TestNewPlanRadioFigures).
	if p.LowerBoundSeconds < 3728.4 || p.LowerBoundSeconds > 3728.5 {
		t.Errorf("lower_bound_seconds %v, want 3728.48", p.LowerBoundSeconds)
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--region", "XX"}, "--region"},
		{[]string{"plan", "--duty-cycle-model", "etsi"}, "--duty-cycle-model"},
		{[]string{"plan", "--fragment-size", "300"}, "fragment_size 300"},
		{[]string{"plan", "--image-size", "0"}, "image_size"},
	}
	for _, tt := range tests {
		out, err := run(t, "", tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want one naming %q\n%s", tt.args, err, tt.want, out)
		}
	}
}
