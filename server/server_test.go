package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/lorafuota/lorafuota/api/lorafuotapb"
	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/internal/testserver"
	"github.com/lorafuota/lorafuota/server"
	"github.com/lorafuota/lorafuota/simulator"
)

// simulatedChirpStack serves the simulated ChirpStack's API on a loopback
// port (its field does not run) and returns the address.
func simulatedChirpStack(t *testing.T) string {
	t.Helper()
	n, err := simulator.New(scenario(2), clock.NewVirtual(epoch), simulator.Options{Seed: 1, APIKeys: []string{apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-served
		_ = n.Close(context.Background())
	})
	return lis.Addr().String()
}

// TestServer puts the server together from a configuration, with the
// simulated ChirpStack, an MQTT broker and the embedded Redis, and checks
// what it serves and that it stops.
func TestServer(t *testing.T) {
	broker := testserver.Mosquitto(t)
	cfg, err := server.ParseConfig([]byte(server.DefaultConfigTOML()), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.GRPCListen, cfg.Server.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Server.APITokens = []string{token}
	cfg.ChirpStack.API, cfg.ChirpStack.APIKey = simulatedChirpStack(t), apiKey
	cfg.ChirpStack.MQTT.Server = broker.URL()
	cfg.ChirpStack.HTTPIntegration.Enabled, cfg.ChirpStack.HTTPIntegration.Secret = true, hookSecret
	cfg.Redis.Addr = "memory"

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := server.New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	base := "http://" + s.HTTPAddr().String()

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, `lorafuota_integration_events_received_total{source="mqtt"}`) ||
		!strings.Contains(body, `lorafuota_integration_events_received_total{source="http"}`) {
		t.Errorf("/metrics: %d, without both sources", code)
	}
	resp, err := http.Post(base+"/integration?event=up", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("integration without the secret: %d", resp.StatusCode)
	}

	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewDeploymentServiceClient(conn)
	if _, err := c.ListDeployments(ctx, &pb.ListDeploymentsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without a token: %v", err)
	}
	if _, err := c.ListDeployments(authed(ctx), &pb.ListDeploymentsRequest{}); err != nil {
		t.Errorf("with the token: %v", err)
	}
	// A watch in progress does not hold the shutdown up.
	created, err := c.CreateDeployment(authed(ctx), &pb.CreateDeploymentRequest{
		Image: []byte(strings.Repeat("image ", 1000)), Devices: []*pb.DeviceSpec{{DevEui: "70b3d57ed0000001"}}, Start: proto.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.WatchDeployment(authed(t.Context()), &pb.WatchDeploymentRequest{Id: created.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop")
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("watch at the shutdown: %v, want Unavailable", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("HTTP still served after the shutdown")
	}
}

// TestServerStartErrors names what is wrong when the server cannot start.
func TestServerStartErrors(t *testing.T) {
	ok, err := server.ParseConfig([]byte(server.DefaultConfigTOML()), nil)
	if err != nil {
		t.Fatal(err)
	}
	ok.Server.GRPCListen, ok.Server.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	ok.Redis.Addr = "memory"
	ok.ChirpStack.MQTT.Enabled = false
	ok.ChirpStack.HTTPIntegration.Enabled, ok.ChirpStack.HTTPIntegration.Secret = true, hookSecret
	// Dial waits for ChirpStack until its deadline: keep it short.
	for _, tc := range []struct {
		name string
		edit func(c *server.Config)
		want string
	}{
		{"no API key", func(c *server.Config) {}, "chirpstack.api_key"},
		{"no ChirpStack", func(c *server.Config) { c.ChirpStack.APIKey, c.ChirpStack.API = "k", "127.0.0.1:1" }, "chirpstack.api 127.0.0.1:1"},
		{"no Redis", func(c *server.Config) { c.ChirpStack.APIKey, c.Redis.Addr = "k", "127.0.0.1:1" }, "redis:"},
		{"invalid", func(c *server.Config) { c.Server.APITokens = nil }, "server.api_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			s, err := server.New(ctx, cfg, nil)
			if err == nil {
				_ = s.Serve(canceled())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
