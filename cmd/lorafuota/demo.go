package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/rehearsal"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

// demoStart is the virtual time a demo campaign starts at; fixed so that runs
// replay from the seed alone.
func demoStart() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// demoJSON is the summary `demo --json` prints.
type demoJSON struct {
	Seed                uint64         `json:"seed"`
	Region              string         `json:"region"`
	DR                  int            `json:"dr"`
	DutyCycleModel      string         `json:"duty_cycle_model"`
	PackageVersion      int            `json:"package_version"`
	Loss                float64        `json:"loss"`
	Devices             int            `json:"devices"`
	Verified            int            `json:"verified"`
	Failed              int            `json:"failed"`
	FirmwareBytes       int            `json:"firmware_bytes"`
	ImageBytes          int            `json:"image_bytes"`
	FragmentSize        int            `json:"fragment_size"`
	Blocks              int            `json:"blocks"`
	FragmentsSent       int            `json:"fragments_sent"`
	FragmentsNeeded     int            `json:"fragments_needed_oracle"`
	AirtimeSeconds      float64        `json:"airtime_seconds"`
	MulticastSeconds    float64        `json:"multicast_seconds"`
	LowerBoundSeconds   float64        `json:"lower_bound_seconds"`
	DutyCycleRejections int            `json:"duty_cycle_rejections"`
	RejectionsByStatus  map[string]int `json:"rejections_by_status,omitempty"`
	SessionOverruns     int            `json:"session_overruns"`
	WallSeconds         float64        `json:"wall_seconds"`
	FailureReasons      map[string]int `json:"failure_reasons,omitempty"`
}

func newDemoCmd() *cobra.Command {
	var (
		flags          planFlags
		loss           float64
		packageVersion int
		seed           uint64
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Rehearse a FUOTA campaign in virtual time: sign, plan, pace, deliver, decode, verify",
		Long: `Rehearse the multicast transfer of a FUOTA campaign in virtual time, with nothing
to install: a generated firmware is signed as an MCUboot image, the campaign is
planned (fragment size, redundancy, data blocks, class C sessions), the fragments
are FEC-encoded and paced within the gateway's duty cycle, and every simulated
device hears each frame with the given loss, decodes with a TS004 decoder and
verifies the image's signature. The same seed gives the same run.

Today the demo covers planning, pacing, FEC and verification; the simulated
ChirpStack network, the device application layer and the bootloader join it as
they land.`,
		Example: `  lorafuota demo
  lorafuota demo --devices 1000 --image-size 262144 --dr 3 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wallStart := time.Now()
			req, err := flags.request()
			if err != nil {
				return err
			}
			if !(loss >= 0 && loss < 1) {
				return fmt.Errorf("--loss %v: must be in [0, 1)", loss)
			}
			matrix := fragmentation.MatrixV1
			switch packageVersion {
			case 1:
			case 2:
				matrix = fragmentation.MatrixV2
			default:
				return fmt.Errorf("--package-version %d: want 1 or 2", packageVersion)
			}
			if !cmd.Flags().Changed("expected-loss") {
				req.ExpectedLoss = loss
			}
			src := rng.New(seed)

			firmware := make([]byte, flags.imageSize)
			fill := src.Stream("firmware")
			for i := range firmware {
				firmware[i] = byte(fill.Uint32())
			}
			key, err := image.GenerateKey(image.Ed25519, rngReader{src.Stream("signing-key")})
			if err != nil {
				return fmt.Errorf("signing key: %w", err)
			}
			signed, err := image.Sign(firmware, image.SignOptions{Version: image.Version{Major: 1, Minor: 1}, Key: key})
			if err != nil {
				return fmt.Errorf("sign: %w", err)
			}
			req.ImageSize = len(signed)
			plan, err := fuota.NewPlan(req)
			if err != nil {
				return err
			}
			pub := key.Public()
			res, err := rehearsal.Run(rehearsal.Config{
				Plan: plan, Image: signed, Matrix: matrix, Loss: loss, MaxLost: flags.maxLost,
				Start: demoStart(), Rand: src.Stream,
				Verify: func(img []byte) error {
					if rep := image.Verify(img, pub, image.VerifyOptions{}); !rep.OK() {
						return fmt.Errorf("image verification failed: %v", rep.Failed())
					}
					return nil
				},
			})
			if err != nil {
				return err
			}
			sum := demoJSON{
				Seed: seed, Region: string(req.Region), DR: req.DR, DutyCycleModel: req.DutyCycleModel.String(),
				PackageVersion: packageVersion, Loss: loss, Devices: len(res.Devices),
				FirmwareBytes: len(firmware), ImageBytes: len(signed), FragmentSize: plan.FragmentSize,
				Blocks: len(plan.Blocks), FragmentsSent: res.FramesSent, FragmentsNeeded: res.FramesNeeded,
				AirtimeSeconds: res.Airtime.Seconds(), MulticastSeconds: res.Duration.Seconds(),
				LowerBoundSeconds: plan.LowerBound.Seconds(), DutyCycleRejections: res.Rejections,
				RejectionsByStatus: res.RejectionsByStatus, SessionOverruns: res.SessionOverruns,
			}
			for _, d := range res.Devices {
				if d.Completed {
					sum.Verified++
					continue
				}
				sum.Failed++
				if sum.FailureReasons == nil {
					sum.FailureReasons = map[string]int{}
				}
				sum.FailureReasons[d.Err.Error()]++
			}
			sum.WallSeconds = time.Since(wallStart).Seconds()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			}
			return writeDemoSummary(cmd.OutOrStdout(), plan, sum)
		},
	}
	flags.register(cmd, 100)
	cmd.Flags().Float64Var(&loss, "loss", 0.1, "probability that a device misses a multicast frame (simulated)")
	cmd.Flags().IntVar(&packageVersion, "package-version", 1, "TS004 version the devices speak (1 or 2: the parity matrix)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of every random choice; the same seed replays the same run")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of the report")
	return cmd
}

func writeDemoSummary(w io.Writer, plan *fuota.Plan, s demoJSON) error {
	fmt.Fprintf(w, "lorafuota demo (seed %d): %d devices, %s DR%d, %.0f %% loss, TS004 v%d\n\n",
		s.Seed, s.Devices, s.Region, s.DR, s.Loss*100, s.PackageVersion)
	fmt.Fprint(w, plan)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"devices with the verified image", fmt.Sprintf("%d of %d", s.Verified, s.Devices)},
		{"devices failed", fmt.Sprint(s.Failed)},
		{"fragments sent", fmt.Sprint(s.FragmentsSent)},
		{"fragments needed (oracle)", fmt.Sprint(s.FragmentsNeeded)},
		{"airtime", seconds(s.AirtimeSeconds)},
		{"multicast transfer (virtual)", seconds(s.MulticastSeconds)},
		{"duty-cycle lower bound", fmt.Sprintf("%s (transfer/bound %.3f)", seconds(s.LowerBoundSeconds), s.MulticastSeconds/s.LowerBoundSeconds)},
		{"gateway rejections", fmt.Sprint(s.DutyCycleRejections)},
		{"frames past their session", fmt.Sprint(s.SessionOverruns)},
		{"wall time", fmt.Sprintf("%.2f s", s.WallSeconds)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	for _, reason := range slices.Sorted(maps.Keys(s.FailureReasons)) {
		fmt.Fprintf(tw, "  failed: %s\t%d\n", reason, s.FailureReasons[reason])
	}
	return tw.Flush()
}

func seconds(s float64) string {
	return fmt.Sprintf("%.1f s (%v)", s, time.Duration(s*float64(time.Second)).Round(time.Second))
}

// rngReader adapts a seeded stream to io.Reader for key generation, so the
// demo's signing key replays from the seed. Never use it for real keys.
type rngReader struct{ r interface{ Uint32() uint32 } }

func (r rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}
