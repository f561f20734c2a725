package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func newLogsCmd() *cobra.Command {
	var (
		conn         clientFlags
		follow       bool
		after        string
		limit        uint32
		asJSON       bool
		pollInterval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a deployment's log; --follow keeps printing until the deployment ends",
		Long: `Print a deployment's log, oldest first: time, device, kind, message and fields.
--after starts after an entry id; --limit stops after that many entries.
--follow asks for new entries every second until the deployment is done or
canceled, or until interrupted. --json prints one LogEntry a line.`,
		Example: `  lorafuota logs 01JD3W6Q
  lorafuota logs 01JD3W6Q --follow
  lorafuota logs 01JD3W6Q --json | jq 'select(.kind == "verdict")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := deploymentID(args)
			if err != nil {
				return err
			}
			if pollInterval <= 0 {
				return fmt.Errorf("--poll-interval %v: must be positive", pollInterval)
			}
			c, err := conn.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			lr := &logReader{c: c, w: cmd.OutOrStdout(), id: id, after: after, limit: limit, json: asJSON}
			if !follow {
				return lr.drain(cmd.Context())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			err = lr.follow(ctx, pollInterval)
			if ctx.Err() != nil {
				return nil // interrupted: the usual way to stop following
			}
			return err
		},
	}
	conn.register(cmd)
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new entries until the deployment ends")
	cmd.Flags().StringVar(&after, "after", "", "start after this entry id")
	cmd.Flags().Uint32Var(&limit, "limit", 0, "most entries to print (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one protojson LogEntry a line")
	cmd.Flags().DurationVar(&pollInterval, "poll-interval", time.Second, "how often --follow asks for new entries")
	_ = cmd.Flags().MarkHidden("poll-interval")
	return cmd
}

// logReader pages through a deployment's log.
type logReader struct {
	c       *client
	w       io.Writer
	id      string
	after   string // the last entry printed
	limit   uint32 // most entries to print; 0 for all
	printed uint32
	json    bool
}

func (r *logReader) full() bool { return r.limit > 0 && r.printed >= r.limit }

// drain prints the entries after the last one printed until the server has no
// more or the limit is reached.
func (r *logReader) drain(ctx context.Context) error {
	for !r.full() {
		req := &lorafuotapb.GetLogsRequest{Id: r.id, After: r.after}
		if r.limit > 0 {
			req.Limit = r.limit - r.printed
		}
		cctx, cancel := r.c.call(ctx)
		resp, err := r.c.GetLogs(cctx, req)
		cancel()
		if err != nil {
			return r.c.fail("GetLogs", err)
		}
		entries := resp.GetEntries()
		if len(entries) == 0 {
			return nil
		}
		for _, e := range entries {
			if r.full() {
				return nil
			}
			if err := r.print(e); err != nil {
				return err
			}
			r.printed++
		}
		last := entries[len(entries)-1].GetId()
		if last == "" || last == r.after {
			return fmt.Errorf("GetLogs: the server returned entries without moving past %q", r.after)
		}
		r.after = last
	}
	return nil
}

// follow drains the log every interval until the deployment has ended, and
// once more after that.
func (r *logReader) follow(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		cctx, cancel := r.c.call(ctx)
		st, err := r.c.GetDeployment(cctx, &lorafuotapb.GetDeploymentRequest{Id: r.id})
		cancel()
		if err != nil {
			return r.c.fail("GetDeployment", err)
		}
		// Entries logged before the deployment was seen ended are drained now.
		if err := r.drain(ctx); err != nil {
			return err
		}
		if r.full() || st.GetPhase() == "done" || st.GetPhase() == "canceled" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (r *logReader) print(e *lorafuotapb.LogEntry) error {
	if r.json {
		return writeProto(r.w, e, true)
	}
	_, err := fmt.Fprintln(r.w, logLine(e))
	return err
}

// logLine renders an entry: time, device, kind, message, then the fields in
// key order.
func logLine(e *lorafuotapb.LogEntry) string {
	t := "-"
	if e.GetTime() != nil {
		t = e.GetTime().AsTime().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-16s  %-8s  %s", t, dash(e.GetDevEui()), dash(e.GetKind()), e.GetMessage())
	fields := e.GetFields()
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		if v == "" || strings.ContainsAny(v, " \t\n\"=") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}
