package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestDemoJSON(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"defaults, fewer devices", []string{"--devices", "20"}},
		{"off-time DR3 v2", []string{"--devices", "10", "--image-size", "20000", "--dr", "3", "--duty-cycle-model", "basic-station", "--package-version", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, "", append([]string{"demo", "--json"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var s demoJSON
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if s.Verified != s.Devices || s.Failed != 0 {
				t.Errorf("verified %d of %d, failed %d: %v", s.Verified, s.Devices, s.Failed, s.FailureReasons)
			}
			if s.DutyCycleRejections != 0 || s.SessionOverruns != 0 {
				t.Errorf("%d gateway rejections %v, %d frames past their session", s.DutyCycleRejections, s.RejectionsByStatus, s.SessionOverruns)
			}
			if r := s.MulticastSeconds / s.LowerBoundSeconds; r < 1 || r > 1.01 {
				t.Errorf("multicast %v s vs bound %v s", s.MulticastSeconds, s.LowerBoundSeconds)
			}
			if s.FragmentsNeeded > s.FragmentsSent || s.FragmentsNeeded == 0 {
				t.Errorf("needed %d of %d sent", s.FragmentsNeeded, s.FragmentsSent)
			}
		})
	}
}

func TestDemoReplaysFromSeed(t *testing.T) {
	a, err := run(t, "", "demo", "--devices", "5", "--loss", "0.3", "--seed", "42")
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(t, "", "demo", "--devices", "5", "--loss", "0.3", "--seed", "42")
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the wall time must repeat.
	wall := regexp.MustCompile(`wall time +[0-9.]+ s`)
	if !wall.MatchString(a) {
		t.Fatalf("report has no wall time line:\n%s", a)
	}
	if strip := func(s string) string { return wall.ReplaceAllString(s, "") }; strip(a) != strip(b) {
		t.Errorf("same seed, different reports:\n%s\n%s", a, b)
	}
}

func TestDemoErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--loss", "1"}, "--loss"},
		{[]string{"demo", "--package-version", "3"}, "--package-version"},
		{[]string{"demo", "--dr", "7", "--region", "EU868"}, "dr 7"},
	} {
		if out, err := run(t, "", tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want one naming %q\n%s", tt.args, err, tt.want, out)
		}
	}
}
