package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/internal/testserver"
	"github.com/lorafuota/lorafuota/server"
	"github.com/lorafuota/lorafuota/simulator"
)

// TestConfigCmd prints a default configuration that serve's loader
// accepts, and checks files.
func TestConfigCmd(t *testing.T) {
	out, _, err := execute(t, "", "config")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "[chirpstack.mqtt]") || !strings.Contains(out, "api_tokens = [\"") {
		t.Fatalf("config printed:\n%s", out)
	}
	if _, err := server.ParseConfig([]byte(out), nil); err != nil {
		t.Fatalf("the printed configuration is refused: %v", err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, err := execute(t, "", "config", "--check", good); err != nil || !strings.Contains(got, "ok") {
		t.Errorf("config --check of the default: %q, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(strings.Replace(out, `level = "info"`, `level = "loud"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, "", "config", "--check", bad); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("config --check of a bad file: %v, want an error naming log.level", err)
	}
}

// TestServeErrors refuses to start without a usable configuration.
func TestServeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\ngrpc_listen = \"nowhere\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte(server.DefaultConfigTOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"serve"}, "--config: required"},
		{"missing file", []string{"serve", "--config", filepath.Join(dir, "none.toml")}, "none.toml"},
		{"bad key", []string{"serve", "--config", bad}, "server.grpc_listen"},
		// The flags override [testing], and are checked as the keys are.
		{"slow time", []string{"serve", "--config", good, "--time-scale", "0.5"}, "testing.time_scale 0.5"},
		{"bad origin", []string{"serve", "--config", good, "--time-origin", "yesterday"}, "testing.time_origin \"yesterday\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := execute(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// TestServe runs serve on the default configuration, unchanged, with the
// environment pointing it at a simulated ChirpStack, an MQTT broker and
// loopback ports, and --redis memory; it serves until its context ends.
func TestServe(t *testing.T) {
	broker := testserver.Mosquitto(t)
	n, err := simulator.New(simulator.DefaultScenario(), clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		simulator.Options{Seed: 1, APIKeys: []string{"sim-key"}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	simDone := make(chan error, 1)
	go func() { simDone <- n.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-simDone })

	path := filepath.Join(t.TempDir(), "lorafuota.toml")
	if err := os.WriteFile(path, []byte(server.DefaultConfigTOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"LORAFUOTA_CHIRPSTACK_API":         lis.Addr().String(),
		"LORAFUOTA_CHIRPSTACK_API_KEY":     "sim-key",
		"LORAFUOTA_CHIRPSTACK_MQTT_SERVER": broker.URL(),
		"LORAFUOTA_SERVER_GRPC_LISTEN":     "127.0.0.1:0",
		"LORAFUOTA_SERVER_HTTP_LISTEN":     "127.0.0.1:0",
		"LORAFUOTA_REDIS_ADDR":             "127.0.0.1:1", // --redis wins
	} {
		t.Setenv(k, v)
	}

	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"serve", "--config", path, "--redis", "memory"})
	served := make(chan error, 1)
	go func() {
		served <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var httpAddr string
	for httpAddr == "" && lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "http listening on "); ok {
			httpAddr = a
		}
	}
	if httpAddr == "" {
		t.Fatalf("serve printed no HTTP address: %v", <-served)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}
