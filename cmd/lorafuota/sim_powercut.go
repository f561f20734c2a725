package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

func newSimPowercutCmd() *cobra.Command {
	var (
		layout, part, mode, imageSize, internalSize, behaviour string
		double, staging, permanent, metastable, asJSON         bool
		doubleCuts, workers                                    int
		seed                                                   uint64
	)
	cmd := &cobra.Command{
		Use:   "powercut --layout external-swap|dual-bank --flash nor|stm32wl|nrf52840 --image-size N [--mode before|after|torn|all] [--double] [--json]",
		Short: "Cut the power at every flash operation of a firmware update and check what the device boots",
		Long: `Build a simulated device running an old firmware image, confirmed, with a new
image staged and pending; run the update (reset, swap or bank switch, the new
build's join, uplink and confirmation) once to count its flash operations; then
repeat it cut at every operation, in each cut mode, boot the device to
completion after each cut and report what it runs: the old image, the new one,
a mix of both (must be 0) or nothing (bricked, must be 0), and whether any
persistent counter (DevNonce, frame counters, SessionCntPrev, security counter)
went backwards (must be 0). --double cuts each recovery as well.

--layout external-swap runs from internal flash and stages on external SPI NOR,
swapping through a scratch area; dual-bank runs either of two internal banks.
--flash picks the internal flash part. Dual-bank with a 128 KiB image does not
fit the 256 KiB STM32WL: give --internal-size 512KiB for a larger member of the
family (same 2 KiB pages and ECC64 words).

Cut modes: before (the operation does not happen), after (it completes, then
power fails), torn (part of it lands: all but the last unit, one bit, all bits
but one, a random prefix, random bits), all. --metastable makes the bits a cut
leaves changing read randomly until erased. The command fails unless no device
ended mixed, bricked or with a counter that went backwards.`,
		Example: `  lorafuota sim powercut --layout external-swap --flash nrf52840 --image-size 128KiB
  lorafuota sim powercut --layout dual-bank --flash stm32wl --internal-size 512KiB --image-size 128KiB --json
  lorafuota sim powercut --layout external-swap --flash stm32wl --image-size 16KiB --mode torn --double`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			cfg := boot.SweepConfig{
				Double:     double,
				DoubleCuts: doubleCuts,
				Staging:    staging,
				Permanent:  permanent,
				Seed:       seed,
				Workers:    workers,
			}
			var err error
			if cfg.Layout, err = boot.ParseLayout(layout); err != nil {
				return err
			}
			if cfg.Flash, err = boot.ParsePart(part); err != nil {
				return err
			}
			if cfg.ImageSize, err = parseSize(imageSize); err != nil {
				return fmt.Errorf("--image-size: %w", err)
			}
			if internalSize != "" {
				if cfg.InternalSize, err = parseSize(internalSize); err != nil {
					return fmt.Errorf("--internal-size: %w", err)
				}
			}
			if cfg.Modes, err = cutModes(mode, metastable); err != nil {
				return err
			}
			if cfg.NewBehaviour, err = boot.ParseBehaviour(behaviour); err != nil {
				return err
			}
			if doubleCuts < 0 {
				return fmt.Errorf("--double-cuts %d: want 0 (every operation) or more", doubleCuts)
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			start := time.Now()
			res, err := boot.Sweep(ctx, cfg)
			if err != nil {
				if errors.Is(err, boot.ErrDoesNotFit) && cfg.InternalSize == 0 {
					return fmt.Errorf("%w (--internal-size picks a larger part)", err)
				}
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				err = enc.Encode(struct {
					boot.SweepResult
					Mode         string `json:"mode"`
					Double       bool   `json:"double"`
					Staging      bool   `json:"staging"`
					Permanent    bool   `json:"permanent"`
					NewBehaviour string `json:"new_behaviour"`
					Seed         uint64 `json:"seed"`
				}{res, mode, double, staging, permanent, behaviour, seed})
			} else {
				err = printSweep(out, res, time.Since(start))
			}
			if err != nil {
				return err
			}
			if !res.OK() {
				return fmt.Errorf("power-cut sweep failed: %d mixed, %d bricked, %d counter regressions, %d anomalies in %d scenarios",
					res.Mixed, res.Bricked, res.CounterRegressions, res.Anomalies, res.Scenarios)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&layout, "layout", "", "slot layout: external-swap or dual-bank (required)")
	f.StringVar(&part, "flash", "", "internal flash part: nor, stm32wl or nrf52840 (required)")
	f.StringVar(&imageSize, "image-size", "128KiB", "size of the signed images, in bytes or with a KiB/MiB suffix")
	f.StringVar(&internalSize, "internal-size", "", "internal flash size instead of the part's (a larger member of its family)")
	f.StringVar(&mode, "mode", "all", "cut modes: before, after, torn or all")
	f.BoolVar(&metastable, "metastable", false, "also leave the bits a cut was changing metastable")
	f.BoolVar(&double, "double", false, "also cut each recovery")
	f.IntVar(&doubleCuts, "double-cuts", 0, "with --double: recovery cuts per first cut, drawn at random in random modes; 0 cuts every operation of the recovery in the first cut's mode")
	f.BoolVar(&staging, "with-staging", false, "make the download into the staging slot and SetPending part of the update")
	f.BoolVar(&permanent, "permanent", false, "request the new image permanently instead of on test")
	f.StringVar(&behaviour, "new-behaviour", "good", "the new build: good, hang, fail-join or no-confirm (a bad one must always end on the old image)")
	f.Uint64Var(&seed, "seed", 1, "seed of keys, image contents, tears and sampling")
	f.IntVar(&workers, "workers", 0, "scenarios run in parallel (0: one per CPU)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("layout")
	_ = cmd.MarkFlagRequired("flash")
	return cmd
}

// cutModes maps --mode (and --metastable) to flash cut modes.
func cutModes(mode string, metastable bool) ([]flash.CutMode, error) {
	var modes []flash.CutMode
	switch mode {
	case "before":
		modes = []flash.CutMode{flash.Before}
	case "after":
		modes = []flash.CutMode{flash.After}
	case "torn":
		for _, m := range flash.CutModes() {
			if m != flash.Before && m != flash.After {
				modes = append(modes, m)
			}
		}
	case "all":
		modes = flash.CutModes()
	default:
		return nil, fmt.Errorf("--mode %q: want before, after, torn or all", mode)
	}
	if metastable {
		for i, m := range modes {
			if m != flash.Before { // nothing changes, nothing is metastable
				modes[i] = m | flash.Metastable
			}
		}
	}
	return modes, nil
}

// parseSize reads a byte count: digits, optionally with K/KiB or M/MiB.
func parseSize(s string) (int, error) {
	mult := 1
	num := strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", flash.KiB}, {"MiB", flash.MiB}, {"K", flash.KiB}, {"k", flash.KiB}, {"M", flash.MiB}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > 1<<30/mult {
		return 0, fmt.Errorf("%q is not a size in bytes (such as 131072 or 128KiB)", s)
	}
	return n * mult, nil
}

func printSweep(w io.Writer, r boot.SweepResult, took time.Duration) error {
	fmt.Fprintf(w, "%s layout on %s flash, %d-byte images; cut modes %s\n", r.Layout, r.Flash, r.ImageSize, r.Modes)
	fmt.Fprintf(w, "clean update: %d flash operations (%d internal, %d external)\n", r.Operations, r.InternalOps, r.ExternalOps)
	for _, row := range []struct {
		name string
		n    int
	}{
		{"scenarios", r.Scenarios},
		{"with a second cut", r.DoubleScenarios},
		{"booted old image", r.BootedOld},
		{"booted new image", r.BootedNew},
		{"mixed", r.Mixed},
		{"bricked", r.Bricked},
		{"counter regressions", r.CounterRegressions},
		{"anomalies", r.Anomalies},
	} {
		fmt.Fprintf(w, "  %-20s %9d\n", row.name+":", row.n)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAIL %s\n", f)
	}
	_, err := fmt.Fprintf(w, "took %v\n", took.Round(time.Millisecond))
	return err
}
