package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/events"
)

// newSimCmd groups the simulator's commands.
func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the simulated field: a ChirpStack-compatible network, gateways and devices",
	}
	cmd.AddCommand(newSimServeCmd(), newSimPowercutCmd())
	return cmd
}

func newSimServeCmd() *cobra.Command {
	var (
		scenarioFile, grpcAddr, mqttURL, apiKey, logLevel, encoding string
		timeOrigin, signingKey                                      string
		httpURLs, httpHeaders                                       []string
		timeScale                                                   float64
		seed                                                        uint64
	)
	cmd := &cobra.Command{
		Use:   "serve [--scenario FILE] [--time-scale K [--time-origin T]] [--grpc ADDR] [--mqtt URL] [--http-integration URL [--http-header 'Name: value']] [--api-key KEY] [--signing-key KEY.pem]",
		Short: "Run the simulated network on the wall clock and serve ChirpStack's API",
		Long: `Run a simulated ChirpStack v4 network on the wall clock (sped up by
--time-scale) for external clients: the ChirpStack gRPC API on --grpc, with
bearer-token authentication (--api-key; without it a random key is made and
printed), and the integration events (up, txack, ack, log) published to an MQTT
broker (--mqtt) and/or HTTP endpoints (--http-integration, with the headers of
--http-header, such as the secret of lorafuota serve's HTTP integration),
encoded as ChirpStack encodes them. The devices are real simulated end devices
(TS003/TS004/TS005/TS006, flash, bootloader); every uplink and downlink is
logged.

Without --scenario it runs the built-in default: one tenant, one application,
one gateway and ten class C devices with LoRaWAN 1.0.x keys, in EU868. Keys not
in the scenario are derived from --seed, and so is the key that signs the
devices' firmware and that their bootloaders trust, unless --signing-key gives
one (a PKCS#8 PEM file from ` + "`lorafuota image keygen`" + `): images signed with it
(` + "`lorafuota image sign`" + `) install on the simulated devices.

The virtual time is T + (wall − T)·K for --time-origin T (RFC 3339; default:
the start) and --time-scale K, so a ` + "`lorafuota serve --time-scale K --time-origin T`" + `
given the same T and K keeps the same time as the simulation. The first line
on standard output is "listening on ADDR".`,
		Example: `  lorafuota sim serve --api-key secret
  lorafuota sim serve --scenario examples/mixed.toml --time-scale 10 --mqtt tcp://127.0.0.1:1883
  lorafuota sim serve --signing-key signing.pem --time-scale 10 --time-origin 2026-05-04T10:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !(timeScale > 0) || math.IsInf(timeScale, 1) {
				return fmt.Errorf("--time-scale %v: must be greater than 0", timeScale)
			}
			origin := time.Now()
			if timeOrigin != "" {
				var err error
				if origin, err = time.Parse(time.RFC3339Nano, timeOrigin); err != nil {
					return fmt.Errorf("--time-origin %q: want an RFC 3339 time such as 2026-05-04T10:00:00Z: %w", timeOrigin, err)
				}
				if origin.After(time.Now()) {
					return fmt.Errorf("--time-origin %s: in the future", timeOrigin)
				}
			}
			var signer crypto.Signer
			if signingKey != "" {
				pem, err := os.ReadFile(signingKey)
				if err != nil {
					return fmt.Errorf("--signing-key: %w", err)
				}
				if signer, err = image.ParsePrivateKeyPEM(pem); err != nil {
					return fmt.Errorf("--signing-key %s: %w", signingKey, err)
				}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			enc := events.JSON
			switch strings.ToLower(encoding) {
			case "json":
			case "protobuf":
				enc = events.Protobuf
			default:
				return fmt.Errorf("--encoding %q: not json or protobuf", encoding)
			}
			if len(httpHeaders) > 0 && len(httpURLs) == 0 {
				return errors.New("--http-header: only with --http-integration")
			}
			headers := map[string]string{}
			for _, h := range httpHeaders {
				name, value, ok := strings.Cut(h, ":")
				if name = strings.TrimSpace(name); !ok || name == "" || strings.ContainsAny(name, " \t") {
					return fmt.Errorf("--http-header %q: want \"Name: value\"", h)
				}
				headers[name] = strings.TrimSpace(value)
			}
			sc := simulator.DefaultScenario()
			if scenarioFile != "" {
				var err error
				if sc, err = simulator.LoadScenario(scenarioFile); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if apiKey == "" {
				var b [16]byte
				if _, err := rand.Read(b[:]); err != nil {
					return fmt.Errorf("making an API key: %w", err)
				}
				apiKey = hex.EncodeToString(b[:])
				fmt.Fprintf(out, "api key (no --api-key given): %s\n", apiKey)
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			// The clock starts at the time the origin maps to now, and
			// RunRealtimeFrom catches up with the time building the network
			// took.
			clk := clock.NewVirtual(origin.Add(time.Duration(float64(time.Since(origin)) * timeScale)))
			logger := slog.New(simulator.LogHandler(
				slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}), clk))

			cfg := events.Config{Logger: logger}
			if mqttURL != "" {
				cfg.MQTT = &events.MQTTConfig{Server: mqttURL, Encoding: enc}
			}
			if len(httpURLs) > 0 {
				cfg.HTTP = []events.HTTPConfig{{URLs: httpURLs, Encoding: enc, Headers: headers}}
			}
			pub, err := events.New(ctx, cfg)
			if err != nil {
				return err
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = pub.Close(cctx)
			}()

			nw, err := simulator.New(sc, clk, simulator.Options{
				Seed: seed, APIKeys: []string{apiKey}, Publisher: pub, Logger: logger, SigningKey: signer,
			})
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", grpcAddr)
			if err != nil {
				return fmt.Errorf("--grpc: %w", err)
			}
			fmt.Fprintf(out, "listening on %s\n", lis.Addr())
			logger.Info("simulation started", "devices", len(nw.Devices()), "gateways", len(nw.Gateways().Gateways()),
				"seed", seed, "time_scale", timeScale, "time_origin", origin.UTC().Format(time.RFC3339Nano),
				"grpc", lis.Addr().String())

			served := make(chan error, 1)
			go func() { served <- nw.Serve(ctx, lis) }()
			runErr := nw.RunRealtimeFrom(ctx, timeScale, origin)
			stop() // a loop that failed on its own stops the server too
			serveErr := <-served
			if err := errors.Join(runErr, serveErr); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			logger.Info("simulation stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenarioFile, "scenario", "", "scenario file (TOML); default: the built-in scenario")
	f.Float64Var(&timeScale, "time-scale", 1, "virtual seconds per wall-clock second")
	f.StringVar(&timeOrigin, "time-origin", "", "RFC 3339 wall-clock time the speed-up counts from (default: the start)")
	f.StringVar(&signingKey, "signing-key", "", "PEM private key that signs the devices' firmware and that they trust (default: derived from --seed)")
	f.StringVar(&grpcAddr, "grpc", "127.0.0.1:8080", "address of the ChirpStack gRPC API")
	f.StringVar(&mqttURL, "mqtt", "", "MQTT broker for the integration events, e.g. tcp://127.0.0.1:1883")
	f.StringSliceVar(&httpURLs, "http-integration", nil, "URL the integration events are POSTed to (repeatable)")
	f.StringArrayVar(&httpHeaders, "http-header", nil, `header of every POST to --http-integration, "Name: value" (repeatable), e.g. the secret lorafuota serve's HTTP integration wants`)
	f.StringVar(&encoding, "encoding", "json", "integration event encoding: json or protobuf")
	f.StringVar(&apiKey, "api-key", "", "bearer token the API accepts; default: a random one, printed")
	f.Uint64Var(&seed, "seed", 1, "seed of every random draw (keys, DevAddrs, losses)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
