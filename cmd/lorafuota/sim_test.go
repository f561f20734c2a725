package main

import (
	"bytes"
	"context"
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
