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
	// RADIO.md §5.2: 3600 + 116.16 s under a sliding window.
	if p.LowerBoundSeconds < 3716 || p.LowerBoundSeconds > 3717 {
		t.Errorf("lower_bound_seconds %v, want 3716.2", p.LowerBoundSeconds)
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
