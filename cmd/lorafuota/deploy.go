package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/region"
)

// deployFlags are the flags of `deploy`: the devices, the campaign options and
// what to do once the deployment is created.
type deployFlags struct {
	devices                           []string
	devicesFile, application, profile string
	tags                              []string

	regionName, class, dutyCycleModel                 string
	dr                                                int
	frequency, fragmentSize, redundancy               uint32
	expectedLoss, target                              float64
	nsMargin, retryTimeout, setupTimeout, rebootDelay time.Duration
	rebootGrace, statusDelay                          time.Duration
	mcGroupID, firmwareVersion, retryCount, ackDelay  uint32
	gateways                                          []string

	auto, noStart, planOnly, wait, asJSON bool
	confirmByReset                        bool
	name                                  string
}

func (f *deployFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.devices, "device", nil, "a device: EUI[,class[,mac_version]] (repeatable)")
	fl.StringVar(&f.devicesFile, "devices-file", "", "file of devices, one EUI[,class[,mac_version]] a line, # comments; - for stdin")
	fl.StringVar(&f.application, "application", "", "ChirpStack application ID: every device of it (with --profile and --tag)")
	fl.StringVar(&f.profile, "profile", "", "ChirpStack device profile ID the --application devices must have")
	fl.StringArrayVar(&f.tags, "tag", nil, "k=v tag the --application devices must carry (repeatable)")

	fl.StringVar(&f.regionName, "region", "", "region, e.g. EU868 (default: the server's)")
	fl.IntVar(&f.dr, "dr", 0, "multicast data rate (default: the server's)")
	fl.Uint32Var(&f.frequency, "frequency", 0, "multicast frequency in Hz (0: the region's RX2 frequency)")
	fl.Uint32Var(&f.fragmentSize, "fragment-size", 0, "TS004 fragment size in bytes, 1..255 (0: the largest the DR carries)")
	fl.Uint32Var(&f.redundancy, "redundancy", 0, "parity fragments per data block (0: sized from the expected loss)")
	fl.Float64Var(&f.expectedLoss, "expected-loss", 0, "probability that a device misses a multicast frame, [0, 1)")
	fl.Float64Var(&f.target, "target", 0, "probability that every device receives enough fragments (0: 0.99)")
	fl.StringVar(&f.class, "class", "", "class of the multicast session: C or B (default C)")
	fl.StringVar(&f.dutyCycleModel, "duty-cycle-model", "", "gateway duty-cycle enforcement: sliding-window (concentratord) or off-time (basic-station)")
	fl.DurationVar(&f.nsMargin, "ns-margin", 0, "ChirpStack's multicast margin between queue items")
	fl.Uint32Var(&f.mcGroupID, "mc-group-id", 0, "device-side multicast group slot, 0..3")
	fl.Uint32Var(&f.firmwareVersion, "firmware-version", 0, "TS006 version the image installs (0: what the devices report)")
	fl.StringArrayVar(&f.gateways, "gateway", nil, "gateway EUI that carries the multicast (repeatable; default: the server's)")
	fl.Uint32Var(&f.retryCount, "retry-count", 0, "unicast retries (0: the server's)")
	fl.DurationVar(&f.retryTimeout, "retry-timeout", 0, "unicast answer timeout (0: the server's)")
	fl.DurationVar(&f.setupTimeout, "setup-timeout", 0, "bound of the setup phase; devices not ready by then are left out")
	fl.Uint32Var(&f.ackDelay, "block-ack-delay", 0, "TS004 BlockAckDelay, 0..7")
	fl.BoolVar(&f.confirmByReset, "confirm-by-reset", false, "reboot each updated device once more and check it still runs the new version (an unconfirmed image reverts)")
	fl.DurationVar(&f.rebootDelay, "reboot-delay", 0, "DevRebootCountdownReq countdown")
	fl.DurationVar(&f.rebootGrace, "reboot-grace", 0, "time after the reboot before DevVersionReq checks the new version")
	fl.DurationVar(&f.statusDelay, "status-delay", 0, "wait from the last fragment's end to the status requests")

	fl.BoolVar(&f.auto, "auto", false, "take every radio choice from the devices and the network")
	fl.StringVar(&f.name, "name", "", "name of the deployment, for people")
	fl.BoolVar(&f.noStart, "no-start", false, "create the deployment without starting it (then: lorafuota start ID)")
	fl.BoolVar(&f.planOnly, "plan-only", false, "ask the server for the plan and print it; create nothing")
	fl.BoolVar(&f.wait, "wait", false, "follow the deployment until it ends, as status --follow does")
	fl.BoolVar(&f.asJSON, "json", false, "print protojson (with --wait, one object a line)")
}

func newDeployCmd() *cobra.Command {
	var (
		flags deployFlags
		conn  clientFlags
	)
	cmd := &cobra.Command{
		Use:   "deploy IMAGE",
		Short: "Deploy a signed firmware image to devices through a lorafuota server",
		Long: `Send a signed image to a lorafuota server and create a deployment for the
devices given by one of --device, --devices-file or --application. The flags
are checked here before anything is sent; the options left unset take the
server's defaults. deploy prints the deployment's id and plan; --wait then
follows it as ` + "`lorafuota status --follow`" + ` does, and exits non-zero unless
every device was updated.`,
		Example: `  lorafuota deploy app-v2.signed.bin --device 70b3d57ed0000001 --device 70b3d57ed0000002 --wait
  lorafuota deploy app-v2.signed.bin --devices-file fleet.csv --region EU868 --dr 5 --expected-loss 0.1
  lorafuota deploy app-v2.signed.bin --application 6b1e... --tag site=north --plan-only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return flags.run(cmd, &conn, args[0])
		},
	}
	flags.register(cmd)
	conn.register(cmd)
	return cmd
}

func (f *deployFlags) run(cmd *cobra.Command, conn *clientFlags, imagePath string) error {
	switch {
	case f.planOnly && f.wait:
		return errors.New("--plan-only and --wait: a plan is not deployed, there is nothing to wait for")
	case f.planOnly && f.noStart:
		return errors.New("--plan-only and --no-start: a plan is not deployed")
	case f.planOnly && f.auto:
		return errors.New("--plan-only and --auto: with --auto the radio choices are made at deployment")
	case f.noStart && f.wait:
		return errors.New("--no-start and --wait: a deployment that is not started does not end")
	}
	image, err := readImage(imagePath)
	if err != nil {
		return err
	}
	devices, selector, err := f.targets(cmd.InOrStdin())
	if err != nil {
		return err
	}
	opts, err := f.options(cmd)
	if err != nil {
		return err
	}
	c, err := conn.dial(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	out := cmd.OutOrStdout()

	if f.planOnly {
		ctx, cancel := c.call(cmd.Context())
		defer cancel()
		resp, err := c.Plan(ctx, &lorafuotapb.PlanRequest{
			ImageSize: uint32(len(image)), Devices: uint32(len(devices)), Options: opts,
		})
		if err != nil {
			return c.fail("Plan", err)
		}
		if f.asJSON {
			return writeProto(out, resp, false)
		}
		return writePlan(out, resp.GetPlan())
	}

	req := &lorafuotapb.CreateDeploymentRequest{
		Name: f.name, Image: image, Devices: devices, Selector: selector, Options: opts, Auto: f.auto,
	}
	if f.noStart {
		req.Start = proto.Bool(false)
	}
	ctx, cancel := c.call(cmd.Context())
	resp, err := c.CreateDeployment(ctx, req)
	cancel()
	if err != nil {
		return c.fail("CreateDeployment", err)
	}
	if f.asJSON {
		if err := writeProto(out, resp, f.wait); err != nil {
			return err
		}
	} else {
		state := "started"
		if f.noStart {
			state = "not started; start it with `lorafuota start " + resp.GetId() + "`"
		}
		fmt.Fprintf(out, "deployment %s created, %s\n\n", resp.GetId(), state)
		if err := writePlan(out, resp.GetPlan()); err != nil {
			return err
		}
	}
	if !f.wait {
		return nil
	}
	if !f.asJSON {
		fmt.Fprintln(out)
	}
	return followDeployment(cmd, c, resp.GetId(), followOptions{json: f.asJSON})
}

// maxImageSize leaves a MiB of the largest message for the rest of the
// request.
const maxImageSize = maxMessageSize - 1<<20

// readImage reads the image to deploy; it must not be empty.
func readImage(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("IMAGE: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("IMAGE %s: empty file", path)
	}
	if len(b) > maxImageSize {
		return nil, fmt.Errorf("IMAGE %s: %d bytes, more than the %d a request can carry", path, len(b), maxImageSize)
	}
	return b, nil
}

// targets returns the devices of the deployment, from exactly one of
// --device, --devices-file and --application.
func (f *deployFlags) targets(stdin io.Reader) ([]*lorafuotapb.DeviceSpec, *lorafuotapb.DeviceSelector, error) {
	var given []string
	if len(f.devices) > 0 {
		given = append(given, "--device")
	}
	if f.devicesFile != "" {
		given = append(given, "--devices-file")
	}
	if f.application != "" {
		given = append(given, "--application")
	}
	switch len(given) {
	case 0:
		return nil, nil, errors.New("no devices: give --device, --devices-file or --application")
	case 1:
	default:
		return nil, nil, fmt.Errorf("%s: give only one of --device, --devices-file and --application", strings.Join(given, " and "))
	}
	if f.application == "" {
		if f.profile != "" {
			return nil, nil, errors.New("--profile: only with --application")
		}
		if len(f.tags) > 0 {
			return nil, nil, errors.New("--tag: only with --application")
		}
	}
	switch {
	case f.application != "":
		sel := &lorafuotapb.DeviceSelector{ApplicationId: f.application, DeviceProfileId: f.profile}
		for _, t := range f.tags {
			k, v, ok := strings.Cut(t, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, nil, fmt.Errorf("--tag %q: want key=value", t)
			}
			if sel.Tags == nil {
				sel.Tags = map[string]string{}
			}
			if _, dup := sel.Tags[k]; dup {
				return nil, nil, fmt.Errorf("--tag %q: key %q given twice", t, k)
			}
			sel.Tags[k] = v
		}
		return nil, sel, nil
	case f.devicesFile != "":
		devs, err := readDevicesFile(f.devicesFile, stdin)
		return devs, nil, err
	}
	seen := map[string]bool{}
	devs := make([]*lorafuotapb.DeviceSpec, 0, len(f.devices))
	for _, s := range f.devices {
		d, err := parseDeviceSpec(s)
		if err != nil {
			return nil, nil, fmt.Errorf("--device %q: %w", s, err)
		}
		if seen[d.DevEui] {
			return nil, nil, fmt.Errorf("--device %q: device %s given twice", s, d.DevEui)
		}
		seen[d.DevEui] = true
		devs = append(devs, d)
	}
	return devs, nil, nil
}

// readDevicesFile reads one device a line; "-" is stdin.
func readDevicesFile(path string, stdin io.Reader) ([]*lorafuotapb.DeviceSpec, error) {
	r := stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--devices-file: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	var devs []*lorafuotapb.DeviceSpec
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d, err := parseDeviceSpec(line)
		if err != nil {
			return nil, fmt.Errorf("--devices-file %s line %d: %w", path, n, err)
		}
		if first, dup := seen[d.DevEui]; dup {
			return nil, fmt.Errorf("--devices-file %s line %d: device %s already on line %d", path, n, d.DevEui, first)
		}
		seen[d.DevEui] = n
		devs = append(devs, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--devices-file %s: %w", path, err)
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("--devices-file %s: no devices in the file", path)
	}
	return devs, nil
}

var macVersionPattern = regexp.MustCompile(`^1\.[01](\.[0-9]+)?$`)

// parseDeviceSpec reads EUI[,class[,mac_version]].
func parseDeviceSpec(s string) (*lorafuotapb.DeviceSpec, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return nil, errors.New("want EUI[,class[,mac_version]]")
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	eui, err := parseEUI(parts[0])
	if err != nil {
		return nil, err
	}
	d := &lorafuotapb.DeviceSpec{DevEui: eui}
	if len(parts) > 1 && parts[1] != "" {
		c := strings.ToUpper(parts[1])
		if c != "A" && c != "B" && c != "C" {
			return nil, fmt.Errorf("class %q: want A, B or C", parts[1])
		}
		d.Class = c
	}
	if len(parts) > 2 && parts[2] != "" {
		if !macVersionPattern.MatchString(parts[2]) {
			return nil, fmt.Errorf("mac_version %q: want 1.0.x or 1.1", parts[2])
		}
		d.MacVersion = parts[2]
	}
	return d, nil
}

// parseEUI reads an EUI-64 as 16 hex digits and returns it in lower case.
func parseEUI(s string) (string, error) {
	var eui lorawan.EUI64
	if err := eui.UnmarshalText([]byte(s)); err != nil {
		return "", fmt.Errorf("EUI %q: want 16 hex digits: %w", s, err)
	}
	return eui.String(), nil
}

// options checks the campaign flags and returns what they ask for; the flags
// left unset stay zero, for the server to choose.
func (f *deployFlags) options(cmd *cobra.Command) (*lorafuotapb.CampaignOptions, error) {
	changed := cmd.Flags().Changed
	o := &lorafuotapb.CampaignOptions{
		FrequencyHz: f.frequency, Redundancy: f.redundancy, McGroupId: f.mcGroupID,
		FirmwareVersion: f.firmwareVersion, RetryCount: f.retryCount, BlockAckDelay: f.ackDelay,
		ConfirmByReset: f.confirmByReset,
	}
	var reg *region.Region
	if f.regionName != "" {
		name, err := region.ParseName(f.regionName)
		if err != nil {
			return nil, fmt.Errorf("--region: %w", err)
		}
		if reg, err = region.Get(name); err != nil {
			return nil, fmt.Errorf("--region: %w", err)
		}
		o.Region = string(name)
	}
	if changed("dr") {
		if f.dr < 0 || f.dr > 15 {
			return nil, fmt.Errorf("--dr %d: must be 0..15", f.dr)
		}
		if reg != nil {
			d, err := reg.DataRate(f.dr)
			if err != nil {
				return nil, fmt.Errorf("--dr %d: %w", f.dr, err)
			}
			if !d.Downlink {
				return nil, fmt.Errorf("--dr %d: %s %v is not a downlink data rate", f.dr, reg, d)
			}
		}
		o.Dr = proto.Uint32(uint32(f.dr))
	}
	if f.fragmentSize > 255 {
		return nil, fmt.Errorf("--fragment-size %d: must be 1..255 (0 for the largest the DR carries)", f.fragmentSize)
	}
	o.FragmentSize = f.fragmentSize
	if !(f.expectedLoss >= 0 && f.expectedLoss < 1) {
		return nil, fmt.Errorf("--expected-loss %v: must be in [0, 1)", f.expectedLoss)
	}
	o.ExpectedLoss = f.expectedLoss
	if !(f.target >= 0 && f.target < 1) {
		return nil, fmt.Errorf("--target %v: must be in (0, 1), or 0 for the default", f.target)
	}
	o.Target = f.target
	if f.class != "" {
		c := strings.ToUpper(f.class)
		if c != "B" && c != "C" {
			return nil, fmt.Errorf("--class %q: want C or B", f.class)
		}
		o.Class = c
	}
	if f.dutyCycleModel != "" {
		m, err := dutycycle.ParseModel(f.dutyCycleModel)
		if err != nil {
			return nil, fmt.Errorf("--duty-cycle-model: %w", err)
		}
		o.DutyCycleModel = m.String()
	}
	if f.mcGroupID > 3 {
		return nil, fmt.Errorf("--mc-group-id %d: must be 0..3", f.mcGroupID)
	}
	if f.ackDelay > 7 {
		return nil, fmt.Errorf("--block-ack-delay %d: must be 0..7", f.ackDelay)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  **durationpb.Duration
	}{
		{"ns-margin", f.nsMargin, &o.NsMargin},
		{"retry-timeout", f.retryTimeout, &o.RetryTimeout},
		{"setup-timeout", f.setupTimeout, &o.SetupTimeout},
		{"reboot-delay", f.rebootDelay, &o.RebootDelay},
		{"reboot-grace", f.rebootGrace, &o.RebootGrace},
		{"status-delay", f.statusDelay, &o.StatusDelay},
	} {
		if !changed(d.flag) {
			continue
		}
		if d.v < 0 {
			return nil, fmt.Errorf("--%s %v: must not be negative", d.flag, d.v)
		}
		*d.dst = durationpb.New(d.v)
	}
	seen := map[string]bool{}
	for _, g := range f.gateways {
		eui, err := parseEUI(strings.TrimSpace(g))
		if err != nil {
			return nil, fmt.Errorf("--gateway: %w", err)
		}
		if seen[eui] {
			return nil, fmt.Errorf("--gateway %s: given twice", eui)
		}
		seen[eui] = true
		o.GatewayIds = append(o.GatewayIds, eui)
	}
	return o, nil
}

// writePlan prints a plan the server made, laid out as `lorafuota plan` prints
// its own (fuota.Plan.String); the server's plan carries fewer fields.
func writePlan(w io.Writer, p *lorafuotapb.Plan) error {
	if p == nil {
		_, err := fmt.Fprintln(w, "plan           (none returned)")
		return err
	}
	var b strings.Builder
	size := uint64(0)
	for _, bl := range p.GetBlocks() {
		size += uint64(bl.GetSize())
	}
	fmt.Fprintf(&b, "image          %d bytes in %d data block(s)\n", size, len(p.GetBlocks()))
	fmt.Fprintf(&b, "radio          %s DR%d, %d Hz", p.GetRegion(), p.GetDr(), p.GetFrequencyHz())
	if dc := p.GetDutyCycle(); dc > 0 && dc < 1 {
		fmt.Fprintf(&b, ", duty cycle %s%%", strconv.FormatFloat(dc*100, 'f', -1, 64))
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "fragments      %d bytes each, %v on air per frame\n", p.GetFragmentSize(), p.GetFrameAirtime().AsDuration())
	for i, bl := range p.GetBlocks() {
		fmt.Fprintf(&b, "block %d        %d bytes: nb_frag %d + redundancy %d = %d frames, %v, session 2^%d s\n",
			i, bl.GetSize(), bl.GetNbFrag(), bl.GetRedundancy(), uint64(bl.GetNbFrag())+uint64(bl.GetRedundancy()),
			bl.GetDuration().AsDuration().Round(time.Second), bl.GetSessionTimeout())
	}
	fmt.Fprintf(&b, "airtime        %v for %d frames\n", p.GetAirtime().AsDuration().Round(time.Millisecond), p.GetFrames())
	fmt.Fprintf(&b, "lower bound    %v (bound by %s)\n", p.GetLowerBound().AsDuration().Round(time.Second), p.GetBinding())
	for _, warn := range p.GetWarnings() {
		fmt.Fprintf(&b, "warning        %s\n", warn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
