package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/server"
)

func newConfigCmd() *cobra.Command {
	var check string
	cmd := &cobra.Command{
		Use:   "config [--check FILE]",
		Short: "Print a commented default configuration for serve, or check one",
		Long: `Print the default configuration of ` + "`lorafuota serve`" + ` as a commented TOML
file, with a newly generated API token for the gRPC APIs. Every key can also
be set by an environment variable: LORAFUOTA_ and the key's path in upper
case, e.g. LORAFUOTA_CHIRPSTACK_API_KEY for chirpstack.api_key.

With --check, read FILE (and the environment) as serve would and report
what is wrong, naming the key.`,
		Example: `  lorafuota config > lorafuota.toml
  lorafuota config --check lorafuota.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if check != "" {
				if _, err := server.LoadConfig(check, os.LookupEnv); err != nil {
					return err
				}
				_, err := fmt.Fprintf(out, "%s: ok\n", check)
				return err
			}
			_, err := io.WriteString(out, server.DefaultConfigTOML())
			return err
		},
	}
	cmd.Flags().StringVar(&check, "check", "", "check a configuration file instead of printing the default")
	return cmd
}
