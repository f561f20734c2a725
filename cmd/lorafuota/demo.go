package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/simulator/campaign"
)

// demoJSON is the summary `demo --json` prints.
type demoJSON struct {
	Seed                uint64         `json:"seed"`
	Region              string         `json:"region"`
	DR                  int            `json:"dr"`
	Class               string         `json:"class"`
	Stack               string         `json:"stack"`
	DutyCycleModel      string         `json:"duty_cycle_model"`
	PackageVersion      int            `json:"package_version"`
	Loss                float64        `json:"loss"`
	Gateways            int            `json:"gateways"`
	Devices             int            `json:"devices"`
	Updated             int            `json:"updated"`
	Failed              int            `json:"failed"`
	Bricked             int            `json:"bricked"`
	VerdictMismatches   int            `json:"verdict_mismatches"`
	Done                bool           `json:"done"`
	ImageBytes          int            `json:"image_bytes"`
	FragmentSize        int            `json:"fragment_size"`
	Blocks              int            `json:"blocks"`
	CampaignSeconds     float64        `json:"campaign_seconds"`
	MulticastSeconds    float64        `json:"multicast_seconds"`
	LowerBoundSeconds   float64        `json:"lower_bound_seconds"`
	FragmentsSent       int            `json:"fragments_sent"`
	FragmentsNeeded     int            `json:"fragments_needed_oracle"`
	AirtimeSeconds      float64        `json:"airtime_seconds"`
	DutyCycleRejections int            `json:"duty_cycle_rejections"`
	RejectionsByStatus  map[string]int `json:"rejections_by_status,omitempty"`
	Outcomes            map[string]int `json:"outcomes"`
	FailureReasons      map[string]int `json:"failure_reasons,omitempty"`
	WallSeconds         float64        `json:"wall_seconds"`
}

func newDemoCmd() *cobra.Command {
	var (
		flags          planFlags
		loss           float64
		packageVersion int
		gateways       int
		class, stack   string
		seed           uint64
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a FUOTA campaign against a simulated field in virtual time: sign, plan, deploy, update, summarise",
		Long: `Run a complete FUOTA campaign in one process, in virtual time, with nothing to
install: the FUOTA server (campaign engine, runner, embedded store) talks to a
simulated ChirpStack through the same gRPC client it uses against a real one,
over an in-memory connection, and hears its events in process; the simulated
gateways enforce their duty cycle, and the simulated devices (TS003/TS004/TS005/
TS006 application layer, flash, MCUboot-style bootloader) lose --loss of the
frames they would hear. A firmware image is generated and signed, the campaign
is planned (with the simulated loss unless --expected-loss is given) and
deployed: unicast setup, class C session, paced multicast, completion, reboot
and confirmation. A progress line goes to stderr when it is a terminal; the
summary goes to stdout. --ns-margin 0 is the simulated ChirpStack's
multicast_class_c_margin, 5 s. The same seed gives the same run.`,
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
			if packageVersion != 1 && packageVersion != 2 {
				return fmt.Errorf("--package-version %d: want 1 or 2", packageVersion)
			}
			if gateways < 1 {
				return fmt.Errorf("--gateways %d: want at least 1", gateways)
			}
			cls := fuota.Class(strings.ToUpper(class))
			if cls != fuota.ClassA && cls != fuota.ClassB && cls != fuota.ClassC {
				return fmt.Errorf("--class %q: want A, B or C", class)
			}
			if !cmd.Flags().Changed("expected-loss") {
				req.ExpectedLoss = loss
			}
			cfg := campaign.Config{
				Plan: req, Devices: flags.devices, Gateways: gateways, Class: cls, Stack: stack,
				PackageVersion: packageVersion, Loss: loss, Seed: seed,
			}
			var p *progress
			if !asJSON {
				p = progressWriter(cmd.ErrOrStderr())
			}
			if p != nil {
				cfg.Progress = p.update
			}
			sum, err := campaign.Run(cmd.Context(), cfg)
			if p != nil {
				p.end()
			}
			if err != nil {
				return err
			}
			out := demoJSON{
				Seed: seed, Region: string(req.Region), DR: req.DR, Class: string(cls), Stack: stack,
				DutyCycleModel: req.DutyCycleModel.String(), PackageVersion: packageVersion, Loss: loss,
				Gateways: gateways, Devices: sum.Devices, Updated: sum.Updated, Failed: sum.Failed,
				Bricked: sum.Bricked, VerdictMismatches: sum.Mismatches, Done: sum.Done,
				ImageBytes: sum.ImageBytes, FragmentSize: sum.Plan.FragmentSize, Blocks: len(sum.Plan.Blocks),
				CampaignSeconds: sum.Campaign.Seconds(), MulticastSeconds: sum.Multicast.Seconds(),
				LowerBoundSeconds: sum.LowerBound.Seconds(), FragmentsSent: sum.FragmentsSent,
				FragmentsNeeded: sum.FragmentsNeeded, AirtimeSeconds: sum.Airtime.Seconds(),
				DutyCycleRejections: sum.Rejections, RejectionsByStatus: sum.RejectionsByStatus,
				Outcomes: map[string]int{}, FailureReasons: sum.FailureReasons,
			}
			for o, n := range sum.Outcomes {
				out.Outcomes[string(o)] = n
			}
			out.WallSeconds = time.Since(wallStart).Seconds()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return writeDemoSummary(cmd.OutOrStdout(), sum.Plan, out)
		},
	}
	flags.register(cmd, 100)
	cmd.Flags().Float64Var(&loss, "loss", 0.1, "probability that a device misses a frame from a gateway (simulated)")
	cmd.Flags().IntVar(&packageVersion, "package-version", 1, "TS004 version the devices speak (1 or 2)")
	cmd.Flags().IntVar(&gateways, "gateways", 1, "number of gateways; every device hears every gateway")
	cmd.Flags().StringVar(&class, "class", "C", "device class: C; A (switched to class C for the session); B (class A devices following a class B session in their ping slots)")
	cmd.Flags().StringVar(&stack, "stack", "spec", "device stack profile: spec, loramac-node, stm32cubewl, lora-basics-modem")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of every random choice; the same seed replays the same run")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of the report")
	return cmd
}

func writeDemoSummary(w io.Writer, plan *fuota.Plan, s demoJSON) error {
	fmt.Fprintf(w, "lorafuota demo (seed %d): %d class %s devices (%s), %d gateway(s), %s DR%d, %.0f %% loss, TS004 v%d\n\n",
		s.Seed, s.Devices, s.Class, s.Stack, s.Gateways, s.Region, s.DR, s.Loss*100, s.PackageVersion)
	fmt.Fprint(w, plan)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ratio := 0.0
	if s.LowerBoundSeconds > 0 {
		ratio = s.MulticastSeconds / s.LowerBoundSeconds
	}
	rows := [][2]string{
		{"devices updated", fmt.Sprintf("%d of %d", s.Updated, s.Devices)},
		{"devices failed", fmt.Sprint(s.Failed)},
		{"devices bricked", fmt.Sprint(s.Bricked)},
		{"campaign (virtual)", seconds(s.CampaignSeconds)},
		{"multicast transfer (virtual)", seconds(s.MulticastSeconds)},
		{"duty-cycle lower bound", fmt.Sprintf("%s (transfer/bound %.3f)", seconds(s.LowerBoundSeconds), ratio)},
		{"fragments sent", fmt.Sprint(s.FragmentsSent)},
		{"fragments needed (oracle)", fmt.Sprint(s.FragmentsNeeded)},
		{"airtime", seconds(s.AirtimeSeconds)},
		{"gateway rejections", fmt.Sprint(s.DutyCycleRejections)},
		{"wall time", fmt.Sprintf("%.2f s", s.WallSeconds)},
	}
	if !s.Done {
		rows = slices.Insert(rows, 0, [2]string{"deployment", "NOT finished"})
	}
	if s.VerdictMismatches > 0 {
		rows = append(rows, [2]string{"verdicts contradicting the device", fmt.Sprint(s.VerdictMismatches)})
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

// progress rewrites one status line on a terminal.
type progress struct {
	w io.Writer
}

// progressWriter returns a progress line on w if w is a terminal, else nil.
func progressWriter(w io.Writer) *progress {
	if !isTerminal(w) {
		return nil
	}
	return &progress{w: w}
}

func (p *progress) update(s campaign.Progress) {
	const width = 30
	done := 0
	if s.Devices > 0 {
		done = width * s.Verdicts / s.Devices
	}
	fmt.Fprintf(p.w, "\r[%s%s] +%-9v %-10s %d/%d updated, %d fragments ",
		strings.Repeat("#", done), strings.Repeat(".", width-done), s.Elapsed.Round(time.Second), s.Phase,
		s.Updated, s.Devices, s.FragmentsSent)
}

func (p *progress) end() { fmt.Fprintln(p.w) }
