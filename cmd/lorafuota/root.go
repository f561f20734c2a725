package main

import "github.com/spf13/cobra"

// newRootCmd builds the command tree. Each subcommand lives in its own file and is
// built fresh here, so tests can run any command in isolation.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "lorafuota",
		Short: "LoRaWAN FUOTA server for ChirpStack v4, and a simulator of the field",
		// Errors are printed once by main, not by cobra and again by main.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(
		newDemoCmd(),
		newFragCmd(),
		newFrameCmd(),
		newImageCmd(),
		newPlanCmd(),
		newSimCmd(),
		// The server, and its configuration.
		newServeCmd(),
		newConfigCmd(),
		// Clients of a lorafuota server.
		newDeployCmd(),
		newStatusCmd(),
		newListCmd(),
		newStartCmd(),
		newCancelCmd(),
		newLogsCmd(),
		newInventoryCmd(),
	)
	return root
}
