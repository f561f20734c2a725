package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
)

// planFlags are the campaign parameters `plan` and `demo` share.
type planFlags struct {
	imageSize, dr, fragmentSize, redundancy, devices, maxLost int
	regionName, dutyCycleModel                                string
	expectedLoss, target                                      float64
	frequency                                                 uint32
	margin                                                    time.Duration
}

func (f *planFlags) register(cmd *cobra.Command, defaultDevices int) {
	fl := cmd.Flags()
	fl.IntVar(&f.imageSize, "image-size", 64<<10, "image size in bytes")
	fl.StringVar(&f.regionName, "region", string(region.EU868), "region: "+fmt.Sprint(region.Names()))
	fl.IntVar(&f.dr, "dr", 5, "multicast data rate")
	fl.IntVar(&f.fragmentSize, "fragment-size", 0, "TS004 fragment size in bytes (0: the largest the DR carries)")
	fl.IntVar(&f.redundancy, "redundancy", 0, "parity fragments per data block (0: sized from the expected loss)")
	fl.Float64Var(&f.expectedLoss, "expected-loss", 0.1, "probability that a device misses a multicast frame")
	fl.IntVar(&f.devices, "devices", defaultDevices, "number of devices")
	fl.Float64Var(&f.target, "target", 0.99, "probability that every device receives enough fragments")
	fl.Uint32Var(&f.frequency, "frequency", 0, "multicast frequency in Hz (0: the region's RX2 frequency)")
	fl.StringVar(&f.dutyCycleModel, "duty-cycle-model", "concentratord", "gateway duty-cycle enforcement: concentratord (sliding window) or basic-station (off-time)")
	fl.DurationVar(&f.margin, "ns-margin", 0, "least spacing the network server keeps between multicast frames (ChirpStack multicast_class_c_margin)")
	fl.IntVar(&f.maxLost, "max-lost", 0, "devices' Lmax: most uncoded fragments they can lose (0: unknown)")
}

func (f *planFlags) request() (fuota.PlanRequest, error) {
	name, err := region.ParseName(f.regionName)
	if err != nil {
		return fuota.PlanRequest{}, fmt.Errorf("--region: %w", err)
	}
	model, err := dutycycle.ParseModel(f.dutyCycleModel)
	if err != nil {
		return fuota.PlanRequest{}, fmt.Errorf("--duty-cycle-model: %w", err)
	}
	return fuota.PlanRequest{
		ImageSize: f.imageSize, Region: name, DR: f.dr, FragmentSize: f.fragmentSize,
		Redundancy: f.redundancy, ExpectedLoss: f.expectedLoss, Devices: f.devices, Target: f.target,
		FrequencyHz: f.frequency, DutyCycleModel: model, Margin: f.margin, MaxLost: f.maxLost,
	}, nil
}

// planJSON is the machine-readable plan.
type planJSON struct {
	ImageSize         int         `json:"image_size"`
	Region            string      `json:"region"`
	DR                int         `json:"dr"`
	FrequencyHz       uint32      `json:"frequency"`
	SubBand           string      `json:"sub_band"`
	DutyCycle         float64     `json:"duty_cycle"`
	DutyCycleModel    string      `json:"duty_cycle_model"`
	FragmentSize      int         `json:"fragment_size"`
	FrameAirtimeMs    float64     `json:"frame_airtime_ms"`
	Blocks            []blockJSON `json:"blocks"`
	Frames            int         `json:"frames"`
	AirtimeSeconds    float64     `json:"airtime_seconds"`
	LowerBoundSeconds float64     `json:"lower_bound_seconds"`
	Binding           string      `json:"binding"`
	Warnings          []string    `json:"warnings"`
}

type blockJSON struct {
	Offset     int     `json:"offset"`
	Size       int     `json:"size"`
	NbFrag     int     `json:"nb_frag"`
	Padding    int     `json:"padding"`
	Redundancy int     `json:"redundancy"`
	Frames     int     `json:"frames"`
	Seconds    float64 `json:"seconds"`
	TimeOut    uint8   `json:"time_out"`
}

func newPlanJSON(p *fuota.Plan) planJSON {
	out := planJSON{
		ImageSize: p.Request.ImageSize, Region: string(p.Request.Region), DR: p.Request.DR,
		FrequencyHz: p.FrequencyHz, SubBand: p.SubBand.Name, DutyCycle: p.DutyCycle,
		DutyCycleModel: p.Request.DutyCycleModel.String(), FragmentSize: p.FragmentSize,
		FrameAirtimeMs: float64(p.FrameAirtime) / float64(time.Millisecond), Frames: p.Frames,
		AirtimeSeconds: p.Airtime.Seconds(), LowerBoundSeconds: p.LowerBound.Seconds(),
		Binding: p.Binding, Warnings: append([]string{}, p.Warnings...),
	}
	for _, b := range p.Blocks {
		out.Blocks = append(out.Blocks, blockJSON{
			Offset: b.Offset, Size: b.Size, NbFrag: b.NbFrag, Padding: b.Padding, Redundancy: b.Redundancy,
			Frames: b.Frames, Seconds: b.Duration.Seconds(), TimeOut: b.TimeOut,
		})
	}
	return out
}

func newPlanCmd() *cobra.Command {
	var (
		flags  planFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Plan a campaign: fragments, redundancy, data blocks, sessions, airtime, duty-cycle lower bound",
		Example: `  lorafuota plan --image-size 262144 --dr 3 --expected-loss 0.1 --devices 1000
  lorafuota plan --region US915 --dr 13 --image-size 1048576 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := flags.request()
			if err != nil {
				return err
			}
			p, err := fuota.NewPlan(req)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(newPlanJSON(p))
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), p)
			return err
		},
	}
	flags.register(cmd, 1)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}
