package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func newCancelCmd() *cobra.Command {
	var (
		conn   clientFlags
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "cancel ID",
		Short:   "Cancel a deployment: no more fragments, pending reboots canceled, sessions and multicast group deleted",
		Example: `  lorafuota cancel 01JD3W6Q --reason "wrong image"`,
		Args:    cobra.ExactArgs(1),
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
			ctx, cancel := c.call(cmd.Context())
			defer cancel()
			st, err := c.CancelDeployment(ctx, &lorafuotapb.CancelDeploymentRequest{Id: id, Reason: reason})
			if err != nil {
				return c.fail("CancelDeployment", err)
			}
			if asJSON {
				return writeProto(cmd.OutOrStdout(), st, false)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deployment %s: %s, %d of %d devices updated\n",
				st.GetId(), st.GetPhase(), st.GetUpdated(), st.GetDevicesTotal())
			return err
		},
	}
	conn.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the deployment's log")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the deployment's status as protojson")
	return cmd
}

func newStartCmd() *cobra.Command {
	var (
		conn   clientFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "start ID",
		Short:   "Start a deployment created with `deploy --no-start`",
		Example: `  lorafuota start 01JD3W6Q && lorafuota status 01JD3W6Q --follow`,
		Args:    cobra.ExactArgs(1),
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
			ctx, cancel := c.call(cmd.Context())
			defer cancel()
			st, err := c.StartDeployment(ctx, &lorafuotapb.StartDeploymentRequest{Id: id})
			if err != nil {
				return c.fail("StartDeployment", err)
			}
			if asJSON {
				return writeProto(cmd.OutOrStdout(), st, false)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deployment %s: %s\n", st.GetId(), st.GetPhase())
			return err
		},
	}
	conn.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the deployment's status as protojson")
	return cmd
}
