package runner_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/events"
)

const (
	apiKey     = "test-key"
	hookSecret = "Bearer hook"
	gatewayID  = "0016c001f0000001"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rig is the runner against a simulated field on a virtual clock: the
// ChirpStack API over bufconn, the integration events fed through
// integration's HTTP handler, and the embedded store.
type rig struct {
	t      *testing.T
	ctx    context.Context
	clk    *clock.Virtual
	net    *simulator.Network
	client *integration.Client
	store  *store.Store
	runner *runner.Runner
	hook   http.Handler
}

func newRig(t *testing.T, sc *simulator.Scenario, seed uint64) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	clk := clock.NewVirtual(epoch)
	var logger *slog.Logger
	if testing.Verbose() {
		logger = slog.New(simulator.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), clk))
	}
	n, err := simulator.New(sc, clk, simulator.Options{Seed: seed, APIKeys: []string{apiKey}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx, lis) }()
	client, err := integration.Dial(ctx, integration.ClientConfig{
		Address: "passthrough:///bufnet", APIKey: apiKey,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Config{Addr: store.Memory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		cancel()
		<-served
		_ = n.Close(context.Background())
		_ = st.Close()
	})
	r := &rig{t: t, ctx: ctx, clk: clk, net: n, client: client, store: st}
	r.runner, err = runner.New(runner.Config{
		Clock: clk, Executor: client, Store: st, Logger: logger,
		ApplicationID: r.applicationID(), Region: sc.Region,
		McAddrPool: store.McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0}, Max: lorawan.DevAddr{0xfc, 0, 0, 0xff}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The events reach the runner through integration's own decoding and
	// filtering, synchronously on the loop goroutine: the subscriber encodes
	// each event as ChirpStack's HTTP integration would POST it.
	r.hook, err = integration.NewHTTPHandler(integration.HTTPConfig{Secret: hookSecret, Now: clk.Now}, r.runner)
	if err != nil {
		t.Fatal(err)
	}
	n.Publisher().Subscribe(r.deliver)
	return r
}

func (r *rig) deliver(e events.Event) {
	b, err := events.Marshal(e.Message, events.JSON)
	if err != nil {
		r.t.Errorf("encoding %s event: %v", e.Type, err)
		return
	}
	req := httptest.NewRequestWithContext(r.ctx, http.MethodPost, "/?event="+e.Type, strings.NewReader(string(b)))
	req.Header.Set("Authorization", hookSecret)
	req.Header.Set("Content-Type", events.JSON.ContentType())
	rec := httptest.NewRecorder()
	r.hook.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		r.t.Errorf("%s event refused: %d %s", e.Type, rec.Code, rec.Body)
	}
}

// applicationID is the id of the scenario's only application.
func (r *rig) applicationID() string {
	r.t.Helper()
	ts, err := r.client.Tenants.List(r.ctx, &api.ListTenantsRequest{Limit: 10})
	if err != nil || len(ts.Result) != 1 {
		r.t.Fatalf("tenants: %v %v", ts, err)
	}
	apps, err := r.client.Applications.List(r.ctx, &api.ListApplicationsRequest{Limit: 10, TenantId: ts.Result[0].Id})
	if err != nil || len(apps.Result) != 1 {
		r.t.Fatalf("applications: %v %v", apps, err)
	}
	return apps.Result[0].Id
}

// deployment plans a campaign of img for every device of the network.
func (r *rig) deployment(img []byte, loss float64) *fuota.Deployment {
	r.t.Helper()
	plan, err := fuota.NewPlan(fuota.PlanRequest{ImageSize: len(img), Region: region.Name("EU868"), DR: 5,
		ExpectedLoss: loss, Devices: len(r.net.Devices()),
		// The simulated ChirpStack's multicast_class_c_margin (its default):
		// without it the pacer enqueues faster than the group queue drains,
		// and the status requests go out while fragments are still queued.
		Margin: 5 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	key := lorawan.AES128Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	// Default retries: the engine spaces class C unicasts (UnicastSpacing),
	// so answers do not collide with the next downlinks at the half-duplex
	// gateway.
	cfg := fuota.DeploymentConfig{ID: "dep-1", Plan: plan, Image: img, McKey: &key, McGroupID: 0,
		Gateways: []fuota.GatewayConfig{{ID: gatewayID}}}
	for _, d := range r.net.Devices() {
		cfg.Devices = append(cfg.Devices, fuota.DeviceConfig{DevEUI: d.DevEUI(), MACVersion: fuota.MAC10x, Class: fuota.ClassC})
	}
	d, err := fuota.NewDeployment(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// running returns the firmware version a device runs.
func running(t *testing.T, d *simulator.Device) image.Version {
	t.Helper()
	app, ok := d.App().(simulator.DeviceApp)
	if !ok {
		t.Fatalf("%s: app is a %T", d.Name(), d.App())
	}
	v, ok := app.Running()
	if !ok {
		t.Fatalf("%s: runs nothing", d.Name())
	}
	return v
}

func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
	}{
		{"lossless", 0},
		{"10% loss", 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := simulator.DefaultScenario()
			g := &sc.Devices[0]
			g.Count = 5
			g.Stack = "spec"
			g.Versions = simulator.VersionsSpec{ClockSync: 2, Multicast: 2, Fragmentation: 2, FirmwareManagement: 1}
			if tc.loss > 0 {
				g.Loss = &simulator.LossSpec{Model: "bernoulli", P: tc.loss}
			}
			r := newRig(t, sc, 7)

			newVersion := image.Version{Major: 2}
			img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: newVersion, Behaviour: boot.Good,
				SecurityCounter: 2, Key: r.net.SigningKey(), Size: 4096, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			// Class C devices are reachable once the network has heard them:
			// each sends a frame within 10 s of power-on.
			r.net.RunFor(r.ctx, 15*time.Second)
			if err := r.runner.Start(r.ctx, r.deployment(img, tc.loss)); err != nil {
				t.Fatal(err)
			}
			const limit = 6 * time.Hour
			for start := r.clk.Now(); !r.runner.Done() && r.clk.Now().Sub(start) < limit; {
				r.net.RunFor(r.ctx, 5*time.Minute)
			}
			if err := r.runner.Err(); err != nil {
				t.Fatal(err)
			}
			verdicts := map[lorawan.EUI64]fuota.Verdict{}
			for _, v := range r.runner.Verdicts() {
				verdicts[v.DevEUI] = v
			}
			if !r.runner.Done() || len(verdicts) != len(r.net.Devices()) {
				var b strings.Builder
				for _, d := range r.net.Devices() {
					fmt.Fprintf(&b, "\n  %s: verdict %+v, runs %s", d.DevEUI(), verdicts[d.DevEUI()], running(t, d))
				}
				t.Fatalf("after %s: done %t, %d verdicts of %d devices:%s", limit, r.runner.Done(), len(verdicts), len(r.net.Devices()), b.String())
			}
			for _, d := range r.net.Devices() {
				if v := verdicts[d.DevEUI()]; v.Outcome != fuota.Updated {
					t.Errorf("%s: verdict %+v, want updated", d.DevEUI(), v)
				}
				if got := running(t, d); got != newVersion {
					t.Errorf("%s: runs %s, want %s", d.DevEUI(), got, newVersion)
				}
			}
			rec, err := r.store.GetDeployment(r.ctx, "dep-1")
			if err != nil {
				t.Fatal(err)
			}
			if rec.State != string(fuota.PhaseDone) {
				t.Errorf("stored state %q, want %q", rec.State, fuota.PhaseDone)
			}
			// What was stored is enough to rebuild the deployment.
			if d, err := fuota.UnmarshalDeployment(rec.Data, img); err != nil {
				t.Errorf("stored deployment: %v", err)
			} else if !d.Done() {
				t.Errorf("stored deployment in phase %s, want done", d.Phase())
			}
			t.Logf("done at +%s virtual", r.clk.Now().Sub(epoch))
		})
	}
}
