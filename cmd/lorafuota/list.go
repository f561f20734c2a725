package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

// deploymentPhases are the phases a deployment goes through, as the server
// names them.
var deploymentPhases = []string{"new", "setup", "session", "multicast", "completion", "done", "canceled"}

func newListCmd() *cobra.Command {
	var (
		conn   clientFlags
		phases []string
		limit  uint32
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List a server's deployments, newest first",
		Example: `  lorafuota list
  lorafuota list --phase setup,session,multicast,completion --limit 20
  lorafuota list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &lorafuotapb.ListDeploymentsRequest{Limit: limit}
			for _, p := range phases {
				p = strings.ToLower(strings.TrimSpace(p))
				if !slices.Contains(deploymentPhases, p) {
					return fmt.Errorf("--phase %q: want one of %s", p, strings.Join(deploymentPhases, ", "))
				}
				if !slices.Contains(req.Phases, p) {
					req.Phases = append(req.Phases, p)
				}
			}
			c, err := conn.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := c.call(cmd.Context())
			defer cancel()
			resp, err := c.ListDeployments(ctx, req)
			if err != nil {
				return c.fail("ListDeployments", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeProto(out, resp, false)
			}
			if len(resp.GetDeployments()) == 0 {
				_, err := fmt.Fprintln(out, "no deployments")
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPHASE\tDEVICES\tUPDATED\tFAILED\tFRAGMENTS")
			for _, d := range resp.GetDeployments() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d/%d\n", d.GetId(), dash(d.GetName()), d.GetPhase(),
					d.GetDevicesTotal(), d.GetUpdated(), d.GetFailed(), d.GetFragmentsSent(), d.GetFragmentsPlanned())
			}
			return tw.Flush()
		},
	}
	conn.register(cmd)
	cmd.Flags().StringSliceVar(&phases, "phase", nil, "only deployments in this phase (repeatable, or comma-separated): "+strings.Join(deploymentPhases, ", "))
	cmd.Flags().Uint32Var(&limit, "limit", 0, "most deployments to list (0: the server's default)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the ListDeploymentsResponse as protojson")
	return cmd
}
