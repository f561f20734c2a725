package campaign_test

import (
	"reflect"
	"testing"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/campaign"
)

func TestRun(t *testing.T) {
	var progress []campaign.Progress
	cfg := campaign.Config{
		Plan:    fuota.PlanRequest{ImageSize: 4096, Region: region.EU868, DR: 5, ExpectedLoss: 0.2},
		Devices: 3, Loss: 0.2, PackageVersion: 2, Seed: 3,
		Progress: func(p campaign.Progress) { progress = append(progress, p) },
	}
	s, err := campaign.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Done || s.Updated != 3 || s.Failed != 0 || s.Bricked != 0 || s.Mismatches != 0 {
		t.Errorf("done %t, %d updated, %d failed, %d bricked, %d mismatches: %v", s.Done, s.Updated, s.Failed, s.Bricked, s.Mismatches, s.FailureReasons)
	}
	if s.FragmentsNeeded == 0 || s.FragmentsNeeded > s.FragmentsSent || s.Multicast < s.LowerBound || s.Campaign <= s.Multicast {
		t.Errorf("needed %d of %d fragments; multicast %v, lower bound %v, campaign %v",
			s.FragmentsNeeded, s.FragmentsSent, s.Multicast, s.LowerBound, s.Campaign)
	}
	if s.Rejections != 0 {
		t.Errorf("%d rejections: %v", s.Rejections, s.RejectionsByStatus)
	}
	if len(progress) == 0 || progress[len(progress)-1].Updated != 3 {
		t.Errorf("progress %+v", progress)
	}

	cfg.Progress = nil
	again, err := campaign.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, again) {
		t.Errorf("same seed, different runs:\n%+v\n%+v", s, again)
	}
}

// TestRunAcrossSessions runs a campaign too long for one class C session
// (EU868 DR0): its sessions, one multicast group each, are booked in the
// setup and follow each other, so the multicast runs at the duty cycle's
// pace from its first fragment to its last.
func TestRunAcrossSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("a 12-hour campaign in virtual time")
	}
	cfg := campaign.Config{
		Plan:    fuota.PlanRequest{ImageSize: 64 << 10, Region: region.EU868, DR: 0, ExpectedLoss: 0.05},
		Devices: 30, Loss: 0.05, Seed: 5,
	}
	s, err := campaign.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Plan.Sessions) < 2 {
		t.Fatalf("%d class C sessions planned; the test needs several", len(s.Plan.Sessions))
	}
	if !s.Done || s.Updated != cfg.Devices || s.Rejections != 0 || s.Mismatches != 0 {
		t.Errorf("done %t, %d of %d updated, %d rejections, %d mismatches: %v", s.Done, s.Updated, cfg.Devices, s.Rejections, s.Mismatches, s.FailureReasons)
	}
	if s.FragmentsSent != s.Plan.Frames {
		t.Errorf("%d fragments sent, %d planned", s.FragmentsSent, s.Plan.Frames)
	}
	if r := s.Multicast.Seconds() / s.LowerBound.Seconds(); r > 1.01 {
		t.Errorf("multicast %v, %.3f times its lower bound %v: a gap between the sessions", s.Multicast, r, s.LowerBound)
	}
}
