package runner_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/internal/inprocess"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/events"
)

const (
	apiKey     = "test-key"
	hookSecret = "Bearer hook"
	gatewayID  = "0016c001f0000001"

	deploymentID = "dep-1"
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
	// exec is what the runner calls: the client, or a wrapper of it.
	exec   runner.Executor
	store  *store.Store
	logger *slog.Logger
	region string
	runner *runner.Runner
	hook   http.Handler
	// stop ends the runner's timers, as its process dying would.
	stop context.CancelFunc
}

func newRig(t *testing.T, sc *simulator.Scenario, seed uint64) *rig {
	t.Helper()
	var h slog.Handler
	if testing.Verbose() {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	r := buildRig(t, sc, seed, h, nil)
	r.runner, r.hook = r.newRunner()
	return r
}

// buildRig builds the field of sc, logging to h (nil: nowhere), with the
// runner calling wrap(client, clock) (nil: the client), and no runner yet.
func buildRig(t *testing.T, sc *simulator.Scenario, seed uint64, h slog.Handler,
	wrap func(*integration.Client, *clock.Virtual) runner.Executor) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	clk := clock.NewVirtual(epoch)
	var logger *slog.Logger
	if h != nil {
		logger = slog.New(simulator.LogHandler(h, clk))
	}
	field, err := inprocess.Open(ctx, sc, clk, simulator.Options{Seed: seed, Logger: logger}, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		field.Close()
		cancel()
	})
	n, client, st := field.Net, field.Client, field.Store
	r := &rig{t: t, ctx: ctx, clk: clk, net: n, client: client, exec: client, store: st, logger: logger, region: sc.Region}
	if wrap != nil {
		r.exec = wrap(client, clk)
	}
	n.Publisher().Subscribe(r.deliver)
	return r
}

// newRunner builds a runner on the rig's network and store, as a server
// does when it starts, and the HTTP integration handler that feeds it.
func (r *rig) newRunner() (*runner.Runner, http.Handler) {
	r.t.Helper()
	rn, err := runner.New(runner.Config{
		Clock: r.clk, Executor: r.exec, Store: r.store, Logger: r.logger,
		ApplicationID: r.applicationID(), Region: r.region,
		McAddrPool: store.McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0}, Max: lorawan.DevAddr{0xfc, 0, 0, 0xff}},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	// The events reach the runner through integration's own decoding and
	// filtering, synchronously on the loop goroutine: the subscriber encodes
	// each event as ChirpStack's HTTP integration would POST it.
	hook, err := integration.NewHTTPHandler(integration.HTTPConfig{Secret: hookSecret, Now: r.clk.Now}, rn)
	if err != nil {
		r.t.Fatal(err)
	}
	return rn, hook
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
func (r *rig) deployment(img []byte, loss float64, mods ...func(*fuota.DeploymentConfig)) *fuota.Deployment {
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
	// The engine spaces class C unicasts (UnicastSpacing), so answers do not
	// collide with the next downlinks at the half-duplex gateway; what fails
	// an exchange is the loss, on the request or on its answer. The default 3
	// retries cover 10 % loss; above that, enough are made that an exchange
	// fails about once in 10⁴.
	cfg := fuota.DeploymentConfig{ID: deploymentID, Plan: plan, Image: img, McKey: &key, McGroupID: 0,
		Gateways: []fuota.GatewayConfig{{ID: gatewayID}}}
	if loss > 0.1 {
		cfg.Retry.Count = int(math.Ceil(math.Log(1e-4)/math.Log(1-(1-loss)*(1-loss)))) - 1
	}
	for _, d := range r.net.Devices() {
		cfg.Devices = append(cfg.Devices, fuota.DeviceConfig{DevEUI: d.DevEUI(), MACVersion: fuota.MAC10x, Class: fuota.ClassC})
	}
	for _, m := range mods {
		m(&cfg)
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

// firmware builds a signed image of size bytes that installs version v and
// behaves as b once it runs.
func (r *rig) firmware(v image.Version, b boot.Behaviour, size int) []byte {
	r.t.Helper()
	img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: v, Behaviour: b,
		SecurityCounter: 2, Key: r.net.SigningKey(), Size: size, Seed: 2})
	if err != nil {
		r.t.Fatal(err)
	}
	return img
}

// start starts d on the rig's runner once the devices can be reached: class C
// devices are reachable once the network has heard them. Each sends a frame
// within 10 s of power-on, and one every uplink interval after that, so on a
// lossy link the wait goes on until every device has been heard, for at most
// an hour: a device out of range is never heard.
func (r *rig) start(d *fuota.Deployment) {
	r.t.Helper()
	r.net.RunFor(r.ctx, 15*time.Second)
	for deadline := r.clk.Now().Add(time.Hour); !r.heard() && r.clk.Now().Before(deadline); {
		r.net.RunFor(r.ctx, time.Minute)
	}
	ctx, stop := context.WithCancel(r.ctx)
	r.stop = stop
	if err := r.runner.Start(ctx, d); err != nil {
		r.t.Fatal(err)
	}
}

// restart kills the runner, timers and all, as a crashed server, and resumes
// the deployment, rebuilt from what the store holds, on a new runner.
func (r *rig) restart(img []byte) {
	r.t.Helper()
	r.stop()
	rec, err := r.store.GetDeployment(r.ctx, deploymentID)
	if err != nil {
		r.t.Fatal(err)
	}
	d, err := fuota.UnmarshalDeployment(rec.Data, img)
	if err != nil {
		r.t.Fatal(err)
	}
	r.runner, r.hook = r.newRunner()
	if err := r.runner.Resume(r.ctx, d, rec.Version); err != nil {
		r.t.Fatal(err)
	}
}

// heard reports whether the network has heard every device.
func (r *rig) heard() bool {
	r.t.Helper()
	for _, d := range r.net.Devices() {
		resp, err := r.client.Devices.Get(r.ctx, &api.GetDeviceRequest{DevEui: d.DevEUI().String()})
		if err != nil {
			r.t.Fatal(err)
		}
		if resp.LastSeenAt == nil {
			return false
		}
	}
	return true
}

// runFor runs the field for d or until the deployment is done, whichever
// comes first.
func (r *rig) runFor(d time.Duration) {
	for start := r.clk.Now(); !r.runner.Done() && r.clk.Now().Sub(start) < d; {
		r.net.RunFor(r.ctx, min(5*time.Minute, d-r.clk.Now().Sub(start)))
	}
}

// finish runs the field until the deployment is done, at most limit, and
// returns the verdicts by DevEUI. It stops the test unless the runner has
// not failed, the deployment is done and every device has its verdict.
func (r *rig) finish(limit time.Duration) map[lorawan.EUI64]fuota.Verdict {
	r.t.Helper()
	r.runFor(limit)
	if err := r.runner.Err(); err != nil {
		r.t.Fatal(err)
	}
	verdicts := map[lorawan.EUI64]fuota.Verdict{}
	for _, v := range r.runner.Verdicts() {
		verdicts[v.DevEUI] = v
	}
	if !r.runner.Done() || len(verdicts) != len(r.net.Devices()) {
		var b strings.Builder
		for _, d := range r.net.Devices() {
			fmt.Fprintf(&b, "\n  %s: verdict %+v, runs %s", d.DevEUI(), verdicts[d.DevEUI()], running(r.t, d))
		}
		r.t.Fatalf("after %s: done %t, %d verdicts of %d devices:%s", limit, r.runner.Done(), len(verdicts), len(r.net.Devices()), b.String())
	}
	return verdicts
}

// checkStored checks that the store holds the deployment as done, in a form
// that rebuilds it.
func (r *rig) checkStored(img []byte) {
	r.t.Helper()
	rec, err := r.store.GetDeployment(r.ctx, deploymentID)
	if err != nil {
		r.t.Fatal(err)
	}
	if rec.State != string(fuota.PhaseDone) {
		r.t.Errorf("stored state %q, want %q", rec.State, fuota.PhaseDone)
	}
	if d, err := fuota.UnmarshalDeployment(rec.Data, img); err != nil {
		r.t.Errorf("stored deployment: %v", err)
	} else if !d.Done() {
		r.t.Errorf("stored deployment in phase %s, want done", d.Phase())
	}
}

// phase returns the stored deployment's phase.
func (r *rig) phase() string {
	r.t.Helper()
	rec, err := r.store.GetDeployment(r.ctx, deploymentID)
	if err != nil {
		r.t.Fatal(err)
	}
	return rec.State
}
