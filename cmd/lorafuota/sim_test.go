package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSimServe is the "done when": `sim serve` with the sample
// scenario starts, answers the gRPC API with the key and rejects a call
// without it.
func TestSimServe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		devices int
	}{
		{"default", nil, 10},
		{"mixed", []string{"--scenario", "../../examples/mixed.toml", "--time-scale", "20"}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := newSimCmd()
			var out, errOut syncBuffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs(append([]string{"serve", "--grpc", "127.0.0.1:0", "--api-key", "secret", "--log-level", "warn"}, tc.args...))
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(ctx) }()

			addr := ""
			for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); {
				select {
				case err := <-done:
					t.Fatalf("serve returned early: %v\n%s", err, errOut.String())
				case <-time.After(10 * time.Millisecond):
				}
				for line := range strings.Lines(out.String()) {
					if a, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
						addr = a
					}
				}
			}
			if addr == "" {
				t.Fatalf("no listening line; stdout %q", out.String())
			}
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()

			tenants := api.NewTenantServiceClient(cc)
			_, err = tenants.List(ctx, &api.ListTenantsRequest{Limit: 10})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("without the key: %v, want Unauthenticated", err)
			}
			bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong")
			if _, err = tenants.List(bad, &api.ListTenantsRequest{Limit: 10}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("with a wrong key: %v, want Unauthenticated", err)
			}
			authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer secret")
			ts, err := tenants.List(authed, &api.ListTenantsRequest{Limit: 10})
			if err != nil || len(ts.Result) != 1 {
				t.Fatalf("tenants %v, %v; want one", ts, err)
			}
			apps, err := api.NewApplicationServiceClient(cc).List(authed, &api.ListApplicationsRequest{Limit: 10, TenantId: ts.Result[0].Id})
			if err != nil || len(apps.Result) == 0 {
				t.Fatalf("applications %v, %v", apps, err)
			}
			// The first application in name order: "fuota" or "meters".
			devs, err := api.NewDeviceServiceClient(cc).List(authed, &api.ListDevicesRequest{Limit: 100, ApplicationId: apps.Result[0].Id})
			if err != nil || len(devs.Result) != tc.devices {
				t.Fatalf("devices %d, %v; want %d", len(devs.GetResult()), err, tc.devices)
			}

			time.Sleep(200 * time.Millisecond) // let the clock run a little
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve: %v\n%s", err, errOut.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}

func TestSimServeErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--time-scale", "0"}, "--time-scale"},
		{[]string{"--scenario", "no-such-file.toml"}, "no-such-file.toml"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--grpc", "256.0.0.1:1"}, "--grpc"},
		{[]string{"--time-origin", "yesterday"}, "--time-origin"},
		{[]string{"--time-origin", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, "in the future"},
		{[]string{"--signing-key", "no-such-key.pem"}, "--signing-key"},
		{[]string{"--http-header", "Authorization: Bearer x"}, "only with --http-integration"},
		{[]string{"--http-integration", "http://127.0.0.1:1/", "--http-header", "no colon"}, "--http-header"},
		{[]string{"--signing-key", "../../examples/default.toml"}, "--signing-key ../../examples/default.toml"},
	} {
		cmd := newSimCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"serve", "--api-key", "k"}, tc.args...))
		err := cmd.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}

// TestSimServeOriginAndKey: with --time-origin the virtual time is the
// origin plus the wall time since, scaled, as another process given the same
// origin and scale computes it; --signing-key is the key the devices boot
// with.
func TestSimServeOriginAndKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.pem")
	if _, _, err := execute(t, "", "image", "keygen", "-o", key); err != nil {
		t.Fatal(err)
	}
	// Two hours of virtual time have passed since an origin one hour ago.
	const scale = 2
	origin := time.Now().Add(-time.Hour).UTC()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := newSimCmd()
	var out, errOut syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"serve", "--grpc", "127.0.0.1:0", "--api-key", "secret", "--time-scale", fmt.Sprint(scale),
		"--time-origin", origin.Format(time.RFC3339Nano), "--signing-key", key})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	addr := ""
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		for line := range strings.Lines(out.String()) {
			if a, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok {
				addr = a
			}
		}
	}
	if addr == "" {
		t.Fatalf("no listening line; stdout %q", out.String())
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer secret")
	// The gateway is marked seen when the simulation starts, at its
	// virtual time.
	var seen time.Time
	for deadline := time.Now().Add(10 * time.Second); seen.IsZero() && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		gw, err := api.NewGatewayServiceClient(cc).Get(authed, &api.GetGatewayRequest{GatewayId: "0016c001f0000001"})
		if err != nil {
			t.Fatal(err)
		}
		if gw.GetLastSeenAt() != nil {
			seen = gw.GetLastSeenAt().AsTime()
		}
	}
	want := origin.Add(scale * time.Since(origin))
	if d := want.Sub(seen); d < -time.Minute || d > time.Minute {
		t.Errorf("gateway seen at virtual %v, want about %v (origin %v, scale %d)", seen, want, origin, scale)
	}
	if !strings.Contains(errOut.String(), "device booted") {
		t.Errorf("no device booted its factory image, signed with --signing-key:\n%s", errOut.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestSimServeHTTPHeaders: the events POSTed to --http-integration carry the
// --http-header headers, as lorafuota serve's HTTP integration needs its
// secret.
func TestSimServeHTTPHeaders(t *testing.T) {
	got := make(chan http.Header, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
	}))
	defer hook.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := newSimCmd()
	var out, errOut syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	// The first events come about a minute of virtual time after
	// power-on: within a second at ×100.
	cmd.SetArgs([]string{"serve", "--grpc", "127.0.0.1:0", "--api-key", "secret", "--time-scale", "100",
		"--http-integration", hook.URL + "/events", "--http-header", "Authorization: Bearer hook-secret",
		"--http-header", "X-Extra:  two words "})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case h := <-got:
		if a, x := h.Get("Authorization"), h.Get("X-Extra"); a != "Bearer hook-secret" || x != "two words" {
			t.Errorf("event POSTed with Authorization %q, X-Extra %q", a, x)
		}
	case err := <-done:
		t.Fatalf("serve returned early: %v\n%s", err, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("no event POSTed\n%s", errOut.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
