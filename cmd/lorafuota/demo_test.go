package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestDemoJSON(t *testing.T) {
	out, err := run(t, "", "demo", "--json", "--devices", "10", "--image-size", "8192")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var s demoJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !s.Done || s.Devices != 10 || s.Updated != s.Devices || s.Failed != 0 || s.Bricked != 0 || s.VerdictMismatches != 0 {
		t.Errorf("done %t: %d of %d updated, %d failed, %d bricked, %d mismatches: %v",
			s.Done, s.Updated, s.Devices, s.Failed, s.Bricked, s.VerdictMismatches, s.FailureReasons)
	}
	if s.DutyCycleRejections != 0 {
		t.Errorf("%d gateway rejections %v", s.DutyCycleRejections, s.RejectionsByStatus)
	}
	if s.MulticastSeconds < s.LowerBoundSeconds || s.CampaignSeconds <= s.MulticastSeconds {
		t.Errorf("multicast %v s, lower bound %v s, campaign %v s", s.MulticastSeconds, s.LowerBoundSeconds, s.CampaignSeconds)
	}
	if s.FragmentsNeeded > s.FragmentsSent || s.FragmentsNeeded == 0 {
		t.Errorf("needed %d of %d sent", s.FragmentsNeeded, s.FragmentsSent)
	}
	if s.AirtimeSeconds <= 0 {
		t.Errorf("airtime %v s", s.AirtimeSeconds)
	}
}

func TestDemoReplaysFromSeed(t *testing.T) {
	args := []string{"demo", "--devices", "5", "--image-size", "4096", "--loss", "0.2", "--seed", "42"}
	a, err := run(t, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, a)
	}
	b, err := run(t, "", args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
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
		{[]string{"demo", "--class", "D"}, "--class"},
		{[]string{"demo", "--gateways", "0"}, "--gateways"},
	} {
		if out, err := run(t, "", tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want one naming %q\n%s", tt.args, err, tt.want, out)
		}
	}
}
