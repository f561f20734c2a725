package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/internal/inprocess"
	"github.com/lorafuota/lorafuota/server"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/events"
)

const (
	apiKey     = "test-key"
	hookSecret = "Bearer hook"
	gatewayID  = "0016c001f0000001"
)

var (
	epoch      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	newVersion = image.Version{Major: 2}
)

// rig is a Manager against a simulated field on a virtual clock, as the
// fuota/runner tests assemble one: the simulated ChirpStack's API over
// bufconn, its events posted to the managers' HTTP integration handlers,
// the embedded store.
type rig struct {
	t      *testing.T
	ctx    context.Context
	clk    *clock.Virtual
	net    *simulator.Network
	client *integration.Client
	store  *store.Store
	logger *slog.Logger
	appID  string
	// mgrClock, if set, is the managers' clock instead of clk.
	mgrClock clock.Clock

	mu    sync.Mutex
	hooks map[string]*integration.HTTPHandler // by manager owner
}

// newRig builds the field of sc: devices class C spec v2, unless sc says
// otherwise.
func newRig(t *testing.T, sc *simulator.Scenario, seed uint64) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	clk := clock.NewVirtual(epoch)
	var logger *slog.Logger
	if testing.Verbose() {
		logger = slog.New(simulator.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), clk))
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
	r := &rig{t: t, ctx: ctx, clk: clk, net: n, client: client, store: st, logger: logger, hooks: map[string]*integration.HTTPHandler{}}
	r.appID = r.applicationID()
	n.Publisher().Subscribe(r.deliver)
	return r
}

// scenario is the default field with count class C devices of stack at
// package versions 2 (TS006 1).
func scenario(count int) *simulator.Scenario {
	sc := simulator.DefaultScenario()
	g := &sc.Devices[0]
	g.Count = count
	g.Stack = "spec"
	g.Versions = simulator.VersionsSpec{ClockSync: 2, Multicast: 2, Fragmentation: 2, FirmwareManagement: 1}
	return sc
}

// defaults are the configuration's campaign defaults.
func defaults(t *testing.T) server.Defaults {
	t.Helper()
	c := server.DefaultConfig()
	d, err := c.Campaign.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// manager opens a Manager called owner on the rig's store and field, and
// has the field's events posted to it.
func (r *rig) manager(owner string) *server.Manager {
	r.t.Helper()
	var clk clock.Clock = r.clk
	if r.mgrClock != nil {
		clk = r.mgrClock
	}
	m, err := server.NewManager(server.ManagerConfig{
		Clock: clk, Store: r.store, Executor: r.client, Directory: r.client, Logger: r.logger,
		Owner: owner, LeaseTTL: time.Minute,
		McAddrPool: store.McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0}, Max: lorawan.DevAddr{0xfc, 0, 0, 0xff}},
		Gateways:   []string{gatewayID}, Defaults: defaults(r.t),
	})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := m.Open(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = m.Close(context.Background()) })
	hook, err := integration.NewHTTPHandler(integration.HTTPConfig{
		Secret: hookSecret, Now: r.clk.Now, Filter: integration.Filter{Managed: m.Managed},
	}, m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.hooks[owner] = hook
	r.mu.Unlock()
	return m
}

// hook returns the HTTP integration handler of owner's manager.
func (r *rig) hook(owner string) *integration.HTTPHandler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hooks[owner]
}

// unhook stops posting events to owner's manager.
func (r *rig) unhook(owner string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hooks, owner)
}

// deliver posts an event, as ChirpStack's HTTP integration would, to every
// manager's handler, synchronously on the loop goroutine.
func (r *rig) deliver(e events.Event) {
	b, err := events.Marshal(e.Message, events.JSON)
	if err != nil {
		r.t.Errorf("encoding %s event: %v", e.Type, err)
		return
	}
	r.mu.Lock()
	hooks := make([]*integration.HTTPHandler, 0, len(r.hooks))
	for _, h := range r.hooks {
		hooks = append(hooks, h)
	}
	r.mu.Unlock()
	for _, h := range hooks {
		req := httptest.NewRequestWithContext(r.ctx, http.MethodPost, "/?event="+e.Type, strings.NewReader(string(b)))
		req.Header.Set("Authorization", hookSecret)
		req.Header.Set("Content-Type", events.JSON.ContentType())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			r.t.Errorf("%s event refused: %d %s", e.Type, rec.Code, rec.Body)
		}
	}
}

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

// firmware is a signed image of size bytes installing newVersion.
func (r *rig) firmware(size int) []byte {
	r.t.Helper()
	img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: newVersion, Behaviour: boot.Good,
		SecurityCounter: 2, Key: r.net.SigningKey(), Size: size, Seed: 2})
	if err != nil {
		r.t.Fatal(err)
	}
	return img
}

// hear runs the field until the network has heard every device, as the
// runner tests do before a campaign: ChirpStack sends class C downlinks
// only to devices it has heard.
func (r *rig) hear() {
	r.t.Helper()
	r.net.RunFor(r.ctx, 15*time.Second)
	for deadline := r.clk.Now().Add(time.Hour); r.clk.Now().Before(deadline); r.net.RunFor(r.ctx, time.Minute) {
		heard := true
		for _, d := range r.net.Devices() {
			resp, err := r.client.Devices.Get(r.ctx, &api.GetDeviceRequest{DevEui: d.DevEUI().String()})
			if err != nil {
				r.t.Fatal(err)
			}
			heard = heard && resp.LastSeenAt != nil
		}
		if heard {
			return
		}
	}
}

// devices returns requests for the first n devices of the field, with
// nothing but the DevEUI: the rest comes from ChirpStack.
func (r *rig) devices(n int) []server.DeviceRequest {
	var out []server.DeviceRequest
	for _, d := range r.net.Devices()[:n] {
		out = append(out, server.DeviceRequest{DevEUI: d.DevEUI()})
	}
	return out
}

// runUntil runs the field in steps of a minute until done reports true or
// limit passes, and reports whether done did.
func (r *rig) runUntil(limit time.Duration, done func() bool) bool {
	r.t.Helper()
	for start := r.clk.Now(); r.clk.Now().Sub(start) < limit; {
		if done() {
			return true
		}
		r.net.RunFor(r.ctx, time.Minute)
	}
	return done()
}

// finish runs the field until deployment id is done on m, at most limit,
// and returns its status with devices.
func (r *rig) finish(m *server.Manager, id string, limit time.Duration) server.Status {
	r.t.Helper()
	var st server.Status
	done := r.runUntil(limit, func() bool {
		var err error
		if st, err = m.Get(r.ctx, id, true); err != nil {
			r.t.Fatal(err)
		}
		return st.Done
	})
	// The manager retires a done runner on the clock, right after.
	r.net.RunFor(r.ctx, time.Second)
	if !done {
		r.t.Fatalf("deployment %s not done after %s: phase %s, progress %+v, err %q", id, limit, st.Phase, st.Progress, st.Err)
	}
	return st
}

// running returns the firmware version a simulated device runs.
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

// checkUpdated checks that every device of st was updated and runs the new
// firmware.
func (r *rig) checkUpdated(st server.Status) {
	r.t.Helper()
	if len(st.Devices) == 0 {
		r.t.Fatal("no devices in the status")
	}
	for _, d := range st.Devices {
		if d.Outcome != "updated" || d.FirmwareVersion == 0 {
			r.t.Errorf("%s: %+v, want updated with a firmware version", d.DevEUI, d)
		}
		dev, ok := r.net.Device(d.DevEUI)
		if !ok {
			r.t.Fatalf("%s: not in the field", d.DevEUI)
		}
		if got := running(r.t, dev); got != newVersion {
			r.t.Errorf("%s runs %s, want %s", d.DevEUI, got, newVersion)
		}
	}
}

func describe(st server.Status) string {
	return fmt.Sprintf("%s phase %s done %t devices %d outcomes %v err %q", st.ID, st.Phase, st.Done, st.Progress.Devices, st.Progress.Outcomes, st.Err)
}
