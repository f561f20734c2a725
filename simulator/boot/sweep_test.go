package boot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

// TestSweep is the single-cut power-cut sweep of a 128 KiB image on every
// layout and flash part, in every cut mode (32 KiB with -short). The
// STM32WL has 256 KiB, too small for two 128 KiB banks: dual-bank runs on
// a 512 KiB member of the family (same 2 KiB pages and ECC64 words).
func TestSweep(t *testing.T) {
	size := 128 * flash.KiB
	if testing.Short() {
		size = 32 * flash.KiB
	}
	for _, layout := range []boot.Layout{boot.DualBank, boot.ExternalSwap} {
		for _, part := range boot.Parts() {
			t.Run(fmt.Sprintf("%v/%s", layout, part), func(t *testing.T) {
				cfg := boot.SweepConfig{Layout: layout, Flash: part, ImageSize: size, Seed: 1}
				if layout == boot.DualBank && part == boot.PartSTM32WL && size > 114*flash.KiB {
					cfg.InternalSize = 512 * flash.KiB
				}
				res := sweep(t, cfg)
				if want := res.Operations * len(flash.CutModes()); res.Scenarios != want {
					t.Errorf("%d scenarios, want %d operations × %d modes", res.Scenarios, res.Operations, len(flash.CutModes()))
				}
				// A test update ends on the new image unless the cut
				// falls between the swap and the confirmation.
				if res.BootedNew == 0 || res.BootedOld == 0 {
					t.Errorf("booted old %d, new %d: both outcomes expected", res.BootedOld, res.BootedNew)
				}
			})
		}
	}
}

// TestSweepTooSmall: 128 KiB dual-bank does not fit the real STM32WL, and
// the sweep says so.
func TestSweepTooSmall(t *testing.T) {
	_, err := boot.Sweep(context.Background(), boot.SweepConfig{Layout: boot.DualBank, Flash: boot.PartSTM32WL, ImageSize: 128 * flash.KiB})
	if err == nil || !strings.Contains(err.Error(), "the largest image that fits is 114 KiB") {
		t.Fatalf("error %v", err)
	}
}

// TestSweepVariants runs smaller sweeps of the other cases: double faults
// (every operation of the recovery for one mode on the smallest image, a
// sample for all modes), the download as part of the update, a permanent
// update, bad builds that must always end on the old image, and metastable
// cuts.
func TestSweepVariants(t *testing.T) {
	var metastable []flash.CutMode
	for _, m := range flash.CutModes()[1:] {
		metastable = append(metastable, m|flash.Metastable)
	}
	for _, tc := range []struct {
		name  string
		size  int
		parts []boot.Part
		mod   func(*boot.SweepConfig)
		check func(t *testing.T, r boot.SweepResult)
	}{
		{"double-exhaustive", 8 * flash.KiB, []boot.Part{boot.PartSTM32WL}, func(c *boot.SweepConfig) {
			c.Double, c.Modes = true, []flash.CutMode{flash.TornRandom}
		}, nil},
		{"double-sampled", 12 * flash.KiB, boot.Parts(), func(c *boot.SweepConfig) { c.Double, c.DoubleCuts = true, 2 }, nil},
		{"staging", 12 * flash.KiB, boot.Parts(), func(c *boot.SweepConfig) { c.Staging = true }, nil},
		{"permanent", 12 * flash.KiB, boot.Parts(), func(c *boot.SweepConfig) { c.Permanent = true }, func(t *testing.T, r boot.SweepResult) {
			if r.BootedOld != 0 {
				t.Errorf("a permanent update reverted in %d scenarios", r.BootedOld)
			}
		}},
		{"hang", 12 * flash.KiB, boot.Parts(), func(c *boot.SweepConfig) { c.NewBehaviour = boot.Hang }, bootsOld},
		{"fail-join", 12 * flash.KiB, []boot.Part{boot.PartNRF52840}, func(c *boot.SweepConfig) { c.NewBehaviour = boot.FailJoin }, bootsOld},
		{"metastable", 12 * flash.KiB, boot.Parts(), func(c *boot.SweepConfig) { c.Modes = metastable }, nil},
	} {
		for _, layout := range []boot.Layout{boot.DualBank, boot.ExternalSwap} {
			for _, part := range tc.parts {
				t.Run(fmt.Sprintf("%s/%v/%s", tc.name, layout, part), func(t *testing.T) {
					cfg := boot.SweepConfig{Layout: layout, Flash: part, ImageSize: tc.size, Seed: 2}
					tc.mod(&cfg)
					res := sweep(t, cfg)
					if cfg.Double && res.DoubleScenarios == 0 {
						t.Error("no double-fault scenarios")
					}
					if tc.check != nil {
						tc.check(t, res)
					}
				})
			}
		}
	}
}

func bootsOld(t *testing.T, r boot.SweepResult) {
	if r.BootedNew != 0 {
		t.Errorf("a bad build is running after %d scenarios", r.BootedNew)
	}
}

func sweep(t *testing.T, cfg boot.SweepConfig) boot.SweepResult {
	t.Helper()
	res, err := boot.Sweep(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	t.Logf("%d operations (%d internal, %d external): %d scenarios (%d double): old %d, new %d, mixed %d, bricked %d, counter regressions %d, anomalies %d",
		res.Operations, res.InternalOps, res.ExternalOps, res.Scenarios, res.DoubleScenarios,
		res.BootedOld, res.BootedNew, res.Mixed, res.Bricked, res.CounterRegressions, res.Anomalies)
	if !res.OK() || res.BootedOld+res.BootedNew != res.Scenarios {
		t.Errorf("sweep failed: %+v", res)
	}
	return res
}
