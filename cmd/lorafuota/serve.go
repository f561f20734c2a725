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
	var configPath, redisAddr string
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--redis ADDR|memory]",
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
on standard output are "grpc listening on ADDR" and "http listening on ADDR".`,
		Example: `  lorafuota config > lorafuota.toml   # then set chirpstack.api_key
  lorafuota serve --config lorafuota.toml
  LORAFUOTA_CHIRPSTACK_API_KEY=... lorafuota serve --config lorafuota.toml --redis memory`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("--config: required (`lorafuota config > lorafuota.toml` writes one)")
			}
			redisChanged := cmd.Flags().Changed("redis")
			env := func(k string) (string, bool) {
				if redisChanged && k == server.EnvName("redis.addr") {
					return redisAddr, true
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
	return cmd
}
