package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/server"
)

func newServeCmd() *cobra.Command {
	var configPath, redisAddr, timeOrigin string
	var timeScale float64
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--redis ADDR|memory] [--time-scale K --time-origin T]",
		Short: "Run the FUOTA server: deployments on ChirpStack, its gRPC APIs, metrics",
		Long: `Run the FUOTA server beside ChirpStack v4: it creates and runs deployments
(lorafuota's DeploymentService and ChirpStack's FuotaService, on
server.grpc_listen, with bearer tokens), hears the devices through ChirpStack's
MQTT or HTTP integration, keeps every deployment's state in Redis and resumes
the unfinished ones when it starts again, and serves /metrics and /healthz on
server.http_listen. ` + "`lorafuota config`" + ` prints a commented configuration file.

--redis overrides redis.addr; "memory" runs an embedded Redis whose state is
lost when the server exits. The environment overrides any key
(LORAFUOTA_CHIRPSTACK_API_KEY for chirpstack.api_key, and so on); flags come
first. It runs until SIGINT or SIGTERM, then stops taking events and calls,
lets the calls in progress end (server.shutdown_timeout) and stops the
deployments, whose state stays in Redis for the next start. The first lines
on standard output are "grpc listening on ADDR" and "http listening on ADDR".

For tests only, --time-scale K and --time-origin T (testing.time_scale and
testing.time_origin) run the server's clock K times as fast as the wall clock
from T, the time of a ` + "`lorafuota sim serve --time-scale K --time-origin T`" + `
given the same values; never with real devices.`,
		Example: `  lorafuota config > lorafuota.toml   # then set chirpstack.api_key
  lorafuota serve --config lorafuota.toml
  LORAFUOTA_CHIRPSTACK_API_KEY=... lorafuota serve --config lorafuota.toml --redis memory`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("--config: required (`lorafuota config > lorafuota.toml` writes one)")
			}
			// Flags come first, then the environment, then the file.
			flags := map[string]string{}
			for flag, key := range map[string]string{
				"redis": "redis.addr", "time-scale": "testing.time_scale", "time-origin": "testing.time_origin",
			} {
				if f := cmd.Flags().Lookup(flag); f.Changed {
					flags[server.EnvName(key)] = f.Value.String()
				}
			}
			env := func(k string) (string, bool) {
				if v, ok := flags[k]; ok {
					return v, true
				}
				return os.LookupEnv(k)
			}
			cfg, err := server.LoadConfig(configPath, env)
			if err != nil {
				return err
			}
			log, err := server.NewLogger(cfg.Log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s, err := server.New(ctx, cfg, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "grpc listening on %s\n", s.GRPCAddr())
			if a := s.HTTPAddr(); a != nil {
				fmt.Fprintf(out, "http listening on %s\n", a)
			}
			return s.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "configuration file (TOML); `lorafuota config` prints a default one")
	f.StringVar(&redisAddr, "redis", "", `Redis address, overriding redis.addr; "memory" for an embedded one (state lost on exit)`)
	f.Float64Var(&timeScale, "time-scale", 1, "for tests: run the clock K times as fast as the wall clock (testing.time_scale)")
	f.StringVar(&timeOrigin, "time-origin", "", "for tests: RFC 3339 time the --time-scale speed-up counts from (testing.time_origin; default: the start)")
	return cmd
}
