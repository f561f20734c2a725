package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

// barWidth is the width of a progress bar between its brackets.
const barWidth = 30

func newStatusCmd() *cobra.Command {
	var (
		conn                    clientFlags
		asJSON, devices, follow bool
	)
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a deployment's progress; --follow shows it live until the deployment ends",
		Long: `Show a deployment's progress: its phases as bars, the devices by outcome and
the fragments sent, and with --devices every device's step and outcome.

With --follow the server sends the progress at every change until the
deployment ends: on a terminal the bars are redrawn in place, otherwise one
line is printed per change; the summary follows, and the command exits
non-zero if the deployment was canceled, failed, or left a device failed.
--json prints the status as protojson (with --follow, one object a line).`,
		Example: `  lorafuota status 01JD3W6Q --devices
  lorafuota status 01JD3W6Q --follow
  lorafuota status 01JD3W6Q --json | jq .updated`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := deploymentID(args)
			if err != nil {
				return err
			}
			c, err := conn.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			if follow {
				return followDeployment(cmd, c, id, followOptions{json: asJSON, devices: devices})
			}
			ctx, cancel := c.call(cmd.Context())
			defer cancel()
			st, err := c.GetDeployment(ctx, &lorafuotapb.GetDeploymentRequest{Id: id, Devices: devices})
			if err != nil {
				return c.fail("GetDeployment", err)
			}
			if asJSON {
				return writeProto(cmd.OutOrStdout(), st, false)
			}
			return writeStatus(cmd.OutOrStdout(), st, devices)
		},
	}
	conn.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as protojson")
	cmd.Flags().BoolVar(&devices, "devices", false, "include every device's status")
	cmd.Flags().BoolVar(&follow, "follow", false, "follow the deployment until it ends")
	return cmd
}

type followOptions struct {
	json, devices bool
}

// followDeployment watches deployment id until the server ends the stream,
// printing each status, then the summary. An interrupt stops the watch, not
// the deployment.
func followDeployment(cmd *cobra.Command, c *client, id string, o followOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	return watch(ctx, c, cmd.OutOrStdout(), id, o)
}

func watch(ctx context.Context, c *client, w io.Writer, id string, o followOptions) error {
	stream, err := c.WatchDeployment(ctx, &lorafuotapb.WatchDeploymentRequest{Id: id, Devices: o.devices})
	if err != nil {
		return c.fail("WatchDeployment", err)
	}
	var live *liveView
	if !o.json && isTerminal(w) {
		live = &liveView{w: w}
	}
	var last *lorafuotapb.DeploymentStatus
	for {
		st, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; deployment %s goes on (lorafuota status %s)", id, id)
			}
			return c.fail("WatchDeployment", err)
		}
		last = st
		switch {
		case o.json:
			err = writeProto(w, st, true)
		case live != nil:
			err = live.draw(st)
		default:
			_, err = fmt.Fprintln(w, statusLine(st))
		}
		if err != nil {
			return err
		}
	}
	if last == nil {
		return fmt.Errorf("WatchDeployment: the server ended the watch of %s without a status", id)
	}
	if !o.json {
		fmt.Fprintln(w)
		if err := writeCounts(w, last); err != nil {
			return err
		}
		if o.devices {
			fmt.Fprintln(w)
			if err := writeDevices(w, last.GetDeviceStatuses()); err != nil {
				return err
			}
		}
	}
	return outcomeError(last)
}

// outcomeError says why a deployment that the server stopped watching did not
// update every device, or nil if it did.
func outcomeError(st *lorafuotapb.DeploymentStatus) error {
	id := st.GetId()
	switch {
	case st.GetPhase() == "canceled":
		return fmt.Errorf("deployment %s was canceled", id)
	case st.GetError() != "":
		return fmt.Errorf("deployment %s: %s", id, st.GetError())
	case st.GetPhase() != "done":
		return fmt.Errorf("deployment %s: the server ended the watch in phase %q, before the end", id, st.GetPhase())
	case st.GetFailed() > 0:
		return fmt.Errorf("deployment %s: %d of %d devices failed", id, st.GetFailed(), st.GetDevicesTotal())
	}
	return nil
}

// renderBar draws one phase as a bar of width characters: "#" done, "."
// to do. A phase without a total is full when done and empty otherwise.
func renderBar(p *lorafuotapb.PhaseProgress, width int) string {
	done, total := p.GetDone(), p.GetTotal()
	filled, pct := 0, 0
	switch {
	case total > 0:
		done = min(done, total)
		filled = int(mulDiv(done, uint64(width), total))
		pct = int(mulDiv(done, 100, total))
	case p.GetState() == "done":
		filled, pct = width, 100
	}
	return fmt.Sprintf("%-10s [%s%s] %3d%% %d/%d %s", p.GetName(),
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, p.GetDone(), total, p.GetState())
}

// mulDiv returns a·b/c without overflow, for a ≤ c and c > 0.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// statusHeadline is the one-line summary above the bars.
func statusHeadline(st *lorafuotapb.DeploymentStatus) string {
	name := ""
	if n := []rune(st.GetName()); len(n) > 0 {
		if len(n) > 24 {
			n = append(n[:23], '…')
		}
		name = " (" + string(n) + ")"
	}
	return fmt.Sprintf("%s%s: %s, %d/%d updated, %d failed, %d/%d fragments", st.GetId(), name, st.GetPhase(),
		st.GetUpdated(), st.GetDevicesTotal(), st.GetFailed(), st.GetFragmentsSent(), st.GetFragmentsPlanned())
}

// statusLine is one update of a followed deployment when the output is not a
// terminal.
func statusLine(st *lorafuotapb.DeploymentStatus) string {
	var b strings.Builder
	b.WriteString(statusHeadline(st))
	for _, p := range st.GetPhases() {
		fmt.Fprintf(&b, "; %s %d/%d %s", p.GetName(), p.GetDone(), p.GetTotal(), p.GetState())
	}
	return b.String()
}

// liveView redraws the headline and bars in place on a terminal.
type liveView struct {
	w     io.Writer
	lines int // drawn by the last call
}

func (v *liveView) draw(st *lorafuotapb.DeploymentStatus) error {
	var b strings.Builder
	if v.lines > 0 {
		// Up to the first line drawn, and clear from there down.
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", v.lines)
	}
	b.WriteString(statusHeadline(st))
	b.WriteByte('\n')
	for _, p := range st.GetPhases() {
		b.WriteString(renderBar(p, barWidth))
		b.WriteByte('\n')
	}
	v.lines = 1 + len(st.GetPhases())
	_, err := io.WriteString(v.w, b.String())
	return err
}

// writeStatus prints a deployment's status: what it is, its phases, its
// counts and, with devices, every device.
func writeStatus(w io.Writer, st *lorafuotapb.DeploymentStatus, devices bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "deployment\t%s\n", st.GetId())
	if st.GetName() != "" {
		fmt.Fprintf(tw, "name\t%s\n", st.GetName())
	}
	fmt.Fprintf(tw, "phase\t%s\n", st.GetPhase())
	fmt.Fprintf(tw, "created\t%s\n", formatTime(st.GetCreatedAt()))
	fmt.Fprintf(tw, "last change\t%s\n", formatTime(st.GetUpdatedAt()))
	if st.GetSessionStart() != nil {
		fmt.Fprintf(tw, "session start\t%s\n", formatTime(st.GetSessionStart()))
	}
	if st.GetError() != "" {
		fmt.Fprintf(tw, "error\t%s\n", st.GetError())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.GetPhases()) > 0 {
		fmt.Fprintln(w)
		for _, p := range st.GetPhases() {
			fmt.Fprintln(w, renderBar(p, barWidth))
		}
	}
	fmt.Fprintln(w)
	if err := writeCounts(w, st); err != nil {
		return err
	}
	if devices {
		fmt.Fprintln(w)
		return writeDevices(w, st.GetDeviceStatuses())
	}
	return nil
}

// writeCounts prints the devices by outcome and the fragments.
func writeCounts(w io.Writer, st *lorafuotapb.DeploymentStatus) error {
	// Right-aligned numbers; the two spaces between columns are part of the
	// cells so that the first column starts at the margin.
	tw := tabwriter.NewWriter(w, 0, 0, 0, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "devices\t  updated\t  received\t  failed\t  canceled\t  skipped\t  pending\t  fragments sent/planned\t\n")
	fmt.Fprintf(tw, "%d\t  %d\t  %d\t  %d\t  %d\t  %d\t  %d\t  %d/%d\t\n", st.GetDevicesTotal(), st.GetUpdated(), st.GetReceived(),
		st.GetFailed(), st.GetCanceled(), st.GetSkipped(), st.GetPending(), st.GetFragmentsSent(), st.GetFragmentsPlanned())
	return tw.Flush()
}

// writeDevices prints one row per device.
func writeDevices(w io.Writer, devices []*lorafuotapb.DeviceStatus) error {
	if len(devices) == 0 {
		_, err := fmt.Fprintln(w, "no device statuses")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEV_EUI\tSTEP\tOUTCOME\tREASON\tFIRMWARE")
	for _, d := range devices {
		fw := "-"
		if d.GetFirmwareVersion() != 0 {
			fw = fmt.Sprint(d.GetFirmwareVersion())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.GetDevEui(), dash(d.GetStep()), dash(d.GetOutcome()), dash(d.GetReason()), fw)
	}
	return tw.Flush()
}

// dash stands in for an empty table cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatTime prints a timestamp in UTC, or "-" when unset.
func formatTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}
