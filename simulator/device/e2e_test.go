package device_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// transfer sets up group 0, a fragmentation session for data and a class C
// session, and sends the fragments on the multicast group with the given
// loss, one every 2 s. It returns how many fragments were heard.
func (r *rig) transfer(data []byte, fragSize, redundancy int, loss float64, seed uint64, sessionCnt uint16) int {
	r.t.Helper()
	r.setupGroup(0)
	req, padded := r.setupReq(data, 0, fragSize, sessionCnt)
	r.setup(req)
	r.startClassC(0, 30)
	if c := r.dev.Class(); c != device.ClassC {
		r.t.Fatalf("class %v at the session start, want C", c)
	}
	rnd := rand.New(rand.NewPCG(seed, 99))
	heard := 0
	for n, p := range r.encode(padded, fragSize, redundancy) {
		r.run(2 * time.Second)
		if !r.dev.Listening(mcFreq, mcDR, r.clk.Now()) {
			r.t.Fatalf("fragment %d: device not listening on %d Hz DR%d", n+1, mcFreq, mcDR)
		}
		if rnd.Float64() < loss {
			continue
		}
		heard++
		_ = r.mcDown(mcAddr, fragmentation.DefaultFPort, frag(0, n+1, p)) // dropped once complete
	}
	return heard
}

// ackReceived checks the FragDataBlockReceivedReq uplinks sent so far and
// answers them; the device then stops repeating them.
func (r *rig) ackReceived(micError bool) {
	r.t.Helper()
	cmds := r.answers(fragmentation.DefaultFPort, time.Minute)
	if len(cmds) == 0 {
		r.t.Fatal("no FragDataBlockReceivedReq")
	}
	for _, c := range cmds {
		req, ok := c.(*fragmentation.FragDataBlockReceivedReq)
		if !ok || req.MICError != micError || req.FragIndex != 0 {
			r.t.Fatalf("uplink %s, want FragDataBlockReceivedReq with MICError %v", describe(cmds), micError)
		}
	}
	must(r.t, r.down(fragmentation.DefaultFPort, &fragmentation.FragDataBlockReceivedAns{}))
	if cmds := r.answers(fragmentation.DefaultFPort, time.Minute); len(cmds) != 0 {
		r.t.Fatalf("after FragDataBlockReceivedAns: %s", describe(cmds))
	}
}

// rebootIn asks for a reboot in 10 s and runs the clock past it.
func (r *rig) rebootIn() {
	r.t.Helper()
	must(r.t, r.down(fwmanagement.FPort, &fwmanagement.DevRebootCountdownReq{Countdown: 10}))
	if a := one[*fwmanagement.DevRebootCountdownAns](r, fwmanagement.FPort, time.Second); a.Countdown != 10 {
		r.t.Fatalf("DevRebootCountdownAns %+v, want 10 s", a)
	}
	r.run(15 * time.Second)
	if r.dev.Stats().Resets != 1 {
		r.t.Fatalf("%d resets, want 1", r.dev.Stats().Resets)
	}
}

func (r *rig) devVersion() uint32 {
	r.t.Helper()
	must(r.t, r.down(fwmanagement.FPort, &fwmanagement.DevVersionReq{}))
	a := one[*fwmanagement.DevVersionAns](r, fwmanagement.FPort, time.Second)
	if a.HWVersion != 0x12345678 {
		r.t.Fatalf("HWVersion %#x", a.HWVersion)
	}
	return a.FWVersion
}

func (r *rig) upgradeStatus() *fwmanagement.DevUpgradeImageAns {
	r.t.Helper()
	must(r.t, r.down(fwmanagement.FPort, &fwmanagement.DevUpgradeImageReq{}))
	return one[*fwmanagement.DevUpgradeImageAns](r, fwmanagement.FPort, time.Second)
}

// TestEndToEnd is the "done when": fed the fragments of a signed image
// with random loss, a device ends up running it and reports the new version.
func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       rigOptions
		fragSize   int
		redundancy int
		loss       float64
	}{
		{"spec-v2/dual-bank/stm32wl", rigOptions{profile: device.Spec, part: boot.PartSTM32WL}, 100, 30, 0.15},
		{"lbm-v1/external-swap/nor", rigOptions{profile: device.LoRaBasicsModem, versions: device.Versions{Fragmentation: 1},
			layout: boot.ExternalSwap, part: boot.PartNRF52840}, 50, 50, 0.2},
		{"stm-v2/dual-bank/nrf52840", rigOptions{profile: device.STM32CubeWL, part: boot.PartNRF52840}, 98, 30, 0.1},
		{"lbm-v2/external-swap/nor/ram-budget", rigOptions{profile: device.LoRaBasicsModem, layout: boot.ExternalSwap,
			part: boot.PartSTM32WL, tweak: func(c *device.Config) { c.RAMBudget = 1200 }}, 60, 40, 0.15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts)
			img := r.image(2, 2, r.key)
			heard := r.transfer(img, tc.fragSize, tc.redundancy, tc.loss, 1, 1)
			v := r.dev.LastVerification()
			if v == nil || v.Status != fwmanagement.UpImageValid {
				info, _ := r.dev.FragSession(0)
				t.Fatalf("heard %d fragments; verification %+v; session %+v", heard, v, info)
			}
			if info, _ := r.dev.FragSession(0); info.RAM.Budget > 0 && info.RAM.Total > info.RAM.Budget {
				t.Fatalf("session RAM %+v over budget", info.RAM)
			}
			if r.dev.Versions().Fragmentation == 2 {
				r.ackReceived(false)
			}
			want := device.FirmwareVersion(image.Version{Major: 2})
			if a := r.upgradeStatus(); a.UpImageStatus != fwmanagement.UpImageValid || a.NextFirmwareVersion != want {
				t.Fatalf("DevUpgradeImageAns %+v, want status 3 version %#x", a, want)
			}
			if got := r.devVersion(); got != device.FirmwareVersion(image.Version{Major: 1}) {
				t.Fatalf("before reboot DevVersionAns FW %#x", got)
			}
			r.rebootIn()
			if got := r.devVersion(); got != want {
				t.Fatalf("after reboot DevVersionAns FW %#x, want %#x (boot %+v)", got, want, r.dev.LastBoot())
			}
			if run, _ := r.boot.Running(); run.Test {
				t.Fatal("new image still on test after its first uplink")
			}
			if a := r.upgradeStatus(); a.UpImageStatus != fwmanagement.UpImageAbsent {
				t.Fatalf("after the upgrade DevUpgradeImageAns %+v, want no image", a)
			}
		})
	}
}

// TestTamperedImage: fed a tampered image, the device says why and keeps the
// old firmware.
func TestTamperedImage(t *testing.T) {
	vendorA, classA := image.UUID{1}, image.UUID{2}
	for _, tc := range []struct {
		name string
		// build returns the block the server sends and the block its MIC
		// covers.
		build     func(r *rig) (sent, mic []byte)
		status    fwmanagement.UpImageStatus
		reason    string
		micError  bool
		withClass bool
	}{
		{name: "byte flipped before encoding", build: func(r *rig) ([]byte, []byte) {
			img := r.image(2, 2, r.key)
			img[len(img)/2] ^= 0x40
			return img, img
		}, status: fwmanagement.UpImageCorrupt, reason: "sha256"},
		{name: "untrusted key", build: func(r *rig) ([]byte, []byte) {
			img := r.image(2, 2, testKey(r.t, 9))
			return img, img
		}, status: fwmanagement.UpImageCorrupt, reason: "keyhash"},
		{name: "MIC mismatch", build: func(r *rig) ([]byte, []byte) {
			img := r.image(2, 2, r.key)
			bad := append([]byte(nil), img...)
			bad[100] ^= 1
			return bad, img
		}, status: fwmanagement.UpImageCorrupt, reason: "MIC", micError: true},
		{name: "security counter rollback", build: func(r *rig) ([]byte, []byte) {
			img := r.image(2, 0, r.key)
			return img, img
		}, status: fwmanagement.UpImageCorrupt, reason: "security-counter"},
		{name: "other device class", withClass: true, build: func(r *rig) ([]byte, []byte) {
			other := image.UUID{3}
			img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: image.Version{Major: 2}, SecurityCounter: 2,
				Key: r.key, Size: imageSize, VendorID: &vendorA, ClassID: &other})
			must(r.t, err)
			return img, img
		}, status: fwmanagement.UpImageIncompatible, reason: "class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := rigOptions{profile: device.Spec}
			if tc.withClass {
				opts.bootCfg = func(c *boot.Config) { c.VendorID, c.ClassID = &vendorA, &classA }
			}
			r := newRig(t, opts)
			sent, micBlock := tc.build(r)
			r.setupGroup(0)
			req, padded := r.setupReq(sent, 0, 100, 1)
			must(t, req.SetMIC(fragmentation.DataBlockIntKey(genAppKey), micBlock))
			r.setup(req)
			r.startClassC(0, 30)
			for n, p := range r.encode(padded, 100, 10) {
				r.run(2 * time.Second)
				if n%7 == 3 {
					continue // lost
				}
				_ = r.mcDown(mcAddr, fragmentation.DefaultFPort, frag(0, n+1, p))
			}
			v := r.dev.LastVerification()
			if v == nil || v.Status != tc.status || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("verification %+v, want status %d because of %q", v, tc.status, tc.reason)
			}
			r.ackReceived(tc.micError)
			if a := r.upgradeStatus(); a.UpImageStatus != tc.status {
				t.Fatalf("DevUpgradeImageAns %+v, want status %d", a, tc.status)
			}
			r.rebootIn()
			if got, want := r.devVersion(), device.FirmwareVersion(image.Version{Major: 1}); got != want {
				t.Fatalf("after reboot FW %#x, want the old %#x", got, want)
			}
		})
	}
}

// TestRebootIntoBadFirmware: a valid image whose firmware hangs or cannot
// join is reverted by the bootloader at the reset that follows; one that
// never confirms runs until the next reset.
func TestRebootIntoBadFirmware(t *testing.T) {
	for _, tc := range []struct {
		behaviour boot.Behaviour
		boots     int   // in the reboot
		runs      uint8 // major version running after it
	}{
		{boot.Hang, 2, 1},
		{boot.FailJoin, 2, 1},
		{boot.NoConfirm, 1, 2},
		{boot.Good, 1, 2},
	} {
		t.Run(tc.behaviour.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: device.LoRaBasicsModem, layout: boot.ExternalSwap, part: boot.PartSTM32WL})
			img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: image.Version{Major: 2}, Behaviour: tc.behaviour,
				SecurityCounter: 2, Key: r.key, Size: imageSize, Seed: 2})
			must(t, err)
			req, padded := r.setupReq(img, 0, 100, 1)
			r.setup(req)
			frags := r.encode(padded, 100, 0)
			r.feed(0, frags, seq(1, len(frags))...)
			if a := r.upgradeStatus(); a.UpImageStatus != fwmanagement.UpImageValid {
				t.Fatalf("DevUpgradeImageAns %+v", a)
			}
			r.rebootIn()
			rep := r.dev.LastBoot()
			if len(rep.Boot) != tc.boots || rep.Pending != nil || rep.Err != nil {
				t.Fatalf("reboot: %+v", rep)
			}
			if got, want := r.devVersion(), device.FirmwareVersion(image.Version{Major: tc.runs}); got != want {
				t.Fatalf("runs %#x, want %#x", got, want)
			}
			if rep.Busy == 0 {
				t.Fatal("a swap took no flash time")
			}
			// A firmware that never confirms is reverted by the next reset.
			r.dev.Reset()
			want := tc.runs
			if tc.behaviour == boot.NoConfirm {
				want = 1
			}
			if v, _ := r.dev.Running(); v.Major != want {
				t.Fatalf("after another reset runs %v, want %d", v, want)
			}
		})
	}
}
