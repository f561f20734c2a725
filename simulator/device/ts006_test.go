package device_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// TestRebootCommands checks each reboot request's answer (as bytes) and
// whether and when the device reboots.
func TestRebootCommands(t *testing.T) {
	const clockOff = 20 * time.Second // the device's clock is ahead
	for _, tc := range []struct {
		name string
		// reqs builds the requests, sent 0.5 s apart; now is the device's GPS
		// second.
		reqs    func(now uint32) []applayer.Command
		answers []string
		reboot  time.Duration // after the first request; 0: none
	}{
		{name: "reboot time", reqs: func(now uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootTimeReq{RebootTime: now + 100}}
		}, answers: []string{"0264000000"}, reboot: 100 * time.Second},
		{name: "reboot time in the past", reqs: func(now uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootTimeReq{RebootTime: now - 5}}
		}, answers: []string{"0200000000"}},
		{name: "reboot time cancelled", reqs: func(now uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootTimeReq{RebootTime: now + 100},
				&fwmanagement.DevRebootTimeReq{RebootTime: fwmanagement.RebootTimeCancel}}
		}, answers: []string{"0264000000", "02ffffffff"}},
		{name: "countdown", reqs: func(uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootCountdownReq{Countdown: 300}}
		}, answers: []string{"032c0100"}, reboot: 300 * time.Second},
		{name: "countdown replaced", reqs: func(uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootCountdownReq{Countdown: 300},
				&fwmanagement.DevRebootCountdownReq{Countdown: 50}}
		}, answers: []string{"032c0100", "03320000"}, reboot: 50*time.Second + 500*time.Millisecond},
		{name: "countdown cancelled", reqs: func(uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootCountdownReq{Countdown: 300},
				&fwmanagement.DevRebootCountdownReq{Countdown: fwmanagement.CountdownCancel}}
		}, answers: []string{"032c0100", "03ffffff"}},
		{name: "cancel with nothing programmed", reqs: func(uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootCountdownReq{Countdown: fwmanagement.CountdownCancel}}
		}, answers: []string{"03ffffff"}},
		{name: "as soon as possible", reqs: func(uint32) []applayer.Command {
			return []applayer.Command{&fwmanagement.DevRebootTimeReq{RebootTime: fwmanagement.RebootASAP}}
		}, reboot: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{tweak: func(c *device.Config) { c.ClockOffset = clockOff }})
			r.clk.RunUntil(epoch.Add(time.Second)) // on a whole GPS second
			t0 := r.clk.Now()
			now := uint32(r.gpsNow() + uint64(clockOff/time.Second))
			for _, q := range tc.reqs(now) {
				must(t, r.down(fwmanagement.FPort, q))
				r.run(500 * time.Millisecond)
			}
			var got []string
			for _, u := range r.take(fwmanagement.FPort) {
				got = append(got, hex.EncodeToString(u.payload))
			}
			if len(got) != len(tc.answers) {
				t.Fatalf("answers %v, want %v", got, tc.answers)
			}
			for i := range got {
				if got[i] != tc.answers[i] {
					t.Fatalf("answers %v, want %v", got, tc.answers)
				}
			}
			at, programmed := r.dev.RebootAt()
			if tc.reboot == 0 {
				if programmed {
					t.Fatalf("reboot programmed at %v", at)
				}
				r.run(time.Hour)
				if n := r.dev.Stats().Resets; n != 0 {
					t.Fatalf("%d resets", n)
				}
				return
			}
			if want := t0.Add(tc.reboot); programmed && !at.Equal(want) {
				t.Fatalf("reboot at %v, want %v", at, want)
			}
			r.clk.RunUntil(t0.Add(tc.reboot - time.Millisecond))
			if n := r.dev.Stats().Resets; n != 0 {
				t.Fatalf("rebooted early")
			}
			r.clk.RunUntil(t0.Add(tc.reboot))
			if n := r.dev.Stats().Resets; n != 1 {
				t.Fatalf("%d resets at the reboot time", n)
			}
		})
	}
}

// TestUpgradeImageAndDelete: DevUpgradeImageReq and DevDeleteImageReq before
// and after a valid image arrives.
func TestUpgradeImageAndDelete(t *testing.T) {
	r := newRig(t, rigOptions{})
	if a := r.upgradeStatus(); a.UpImageStatus != fwmanagement.UpImageAbsent {
		t.Fatalf("no image yet: %+v", a)
	}
	del := func(version uint32) string {
		t.Helper()
		must(t, r.down(fwmanagement.FPort, &fwmanagement.DevDeleteImageReq{FirmwareToDeleteVersion: version}))
		r.run(time.Second)
		ups := r.take(fwmanagement.FPort)
		if len(ups) != 1 {
			t.Fatalf("%d answers", len(ups))
		}
		return hex.EncodeToString(ups[0].payload)
	}
	v2 := device.FirmwareVersion(image.Version{Major: 2})
	if got := del(v2); got != "0501" {
		t.Fatalf("delete without an image: %s, want 0501 (ErrorNoValidImage)", got)
	}
	img := r.image(2, 2, r.key)
	req, padded := r.setupReq(img, 0, 100, 1)
	r.setup(req)
	frags := r.encode(padded, 100, 0)
	r.feed(0, frags, seq(1, len(frags))...)
	if a := r.upgradeStatus(); a.UpImageStatus != fwmanagement.UpImageValid || a.NextFirmwareVersion != v2 {
		t.Fatalf("DevUpgradeImageAns %+v", a)
	}
	if got := del(v2 + 1); got != "0502" {
		t.Fatalf("delete of another version: %s, want 0502 (ErrorInvalidVersion)", got)
	}
	if got := del(v2); got != "0500" {
		t.Fatalf("delete: %s, want 0500", got)
	}
	if a := r.upgradeStatus(); a.UpImageStatus != fwmanagement.UpImageAbsent {
		t.Fatalf("after delete: %+v", a)
	}
	// A reboot no longer installs it.
	must(t, r.down(fwmanagement.FPort, &fwmanagement.DevRebootCountdownReq{Countdown: fwmanagement.RebootASAP}))
	r.run(5 * time.Second)
	if v, _ := r.dev.Running(); v.Major != 1 || r.dev.Stats().Resets != 1 {
		t.Fatalf("after reboot runs %v (%d resets)", v, r.dev.Stats().Resets)
	}
}

func TestLoRaMacNodeHasNoFirmwareManagement(t *testing.T) {
	r := newRig(t, rigOptions{profile: device.LoRaMacNode})
	if err := r.down(fwmanagement.FPort, &fwmanagement.DevVersionReq{}); !errors.Is(err, device.ErrDropped) {
		t.Fatalf("DevVersionReq: %v", err)
	}
	if ups := r.take(fwmanagement.FPort); len(ups) != 0 {
		t.Fatalf("answered on FPort 203: %+v", ups)
	}
}

// TestOnBoot: the hook sees every power-on, the first included, with the
// version the device then runs.
func TestOnBoot(t *testing.T) {
	var reports []device.BootReport
	r := newRig(t, rigOptions{tweak: func(c *device.Config) {
		c.OnBoot = func(rep device.BootReport) { reports = append(reports, rep) }
	}})
	if len(reports) != 1 {
		t.Fatalf("%d boot reports after New, want 1", len(reports))
	}
	r.run(time.Minute)
	r.dev.Reset()
	if len(reports) != 2 {
		t.Fatalf("%d boot reports after a reset, want 2", len(reports))
	}
	for i, rep := range reports {
		if v, ok := rep.Running(); !ok || v != (image.Version{Major: 1}) {
			t.Errorf("report %d: running %v (%v), want 1.0.0", i, v, rep.Err)
		}
	}
	if !reports[1].At.After(reports[0].At) {
		t.Errorf("the reset's report is at %v, not after the first's %v", reports[1].At, reports[0].At)
	}
}
