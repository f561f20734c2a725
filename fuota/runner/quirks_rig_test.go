package runner_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator"
)

// This file is the observation side of quirks_test.go: a rig whose every log
// line (the simulated ChirpStack's, the gateways', the devices' and the
// engine's) is kept for the test to read, and whose runner talks to
// ChirpStack through a recorder that notes what the engine asked for and when,
// and can make ChirpStack calls fail as a flaky network would.

// logLine is one captured log record, at virtual time, with its attributes
// (those added by Logger.With included) as text.
type logLine struct {
	Time  time.Time
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// logBook collects log lines.
type logBook struct {
	mu    sync.Mutex
	lines []logLine
}

// find returns the lines whose message is msg and whose attributes include
// every key and value of kv (pairs).
func (b *logBook) find(msg string, kv ...string) []logLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []logLine
outer:
	for _, l := range b.lines {
		if l.Msg != msg {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if l.Attrs[kv[i]] != kv[i+1] {
				continue outer
			}
		}
		out = append(out, l)
	}
	return out
}

// captureHandler is a slog.Handler that adds to a logBook, and passes the
// record on to next if there is one (the -v output).
type captureHandler struct {
	book   *logBook
	attrs  []slog.Attr
	prefix string
	next   slog.Handler
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	l := logLine{Time: r.Time, Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		l.Attrs[h.prefix+a.Key] = a.Value.String()
		return true
	})
	h.book.mu.Lock()
	h.book.lines = append(h.book.lines, l)
	h.book.mu.Unlock()
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range attrs {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	if h.next != nil {
		c.next = h.next.WithAttrs(attrs)
	}
	return &c
}

func (h *captureHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

// enqueued is one EnqueueMulticast the engine asked for.
type enqueued struct {
	At        time.Time
	GroupID   string
	FCnt      uint32
	ExpiresAt time.Time
	Data      []byte
	Err       error
}

// unicast is one EnqueueUnicast the engine asked for.
type unicast struct {
	At     time.Time
	DevEUI lorawan.EUI64
	FPort  uint8
	Data   []byte
}

// deletedGroup is one DeleteMulticastGroup, with what the group's queue held
// just before it.
type deletedGroup struct {
	At      time.Time
	GroupID string
	Queued  []uint32
	Err     error
}

// recorder is the runner's Executor: ChirpStack's client, with every
// multicast call noted and, on request, some calls failing.
type recorder struct {
	*integration.Client
	clk clock.Clock

	mu       sync.Mutex
	enqueues []enqueued
	unicasts []unicast
	deletes  []deletedGroup
	groups   []string
	// failMembers makes that many AddDevice and AddGateway calls fail, as
	// a ChirpStack briefly unreachable would.
	failMembers int
	failed      int
	// beforeEnqueue, if set, runs before the n-th (from 0) EnqueueMulticast
	// is passed on, on the clock's loop goroutine.
	beforeEnqueue func(n int)
}

var _ runner.Executor = (*recorder)(nil)

func (r *recorder) CreateMulticastGroup(ctx context.Context, g integration.MulticastGroup) (string, error) {
	id, err := r.Client.CreateMulticastGroup(ctx, g)
	if err == nil {
		r.mu.Lock()
		r.groups = append(r.groups, id)
		r.mu.Unlock()
	}
	return id, err
}

// memberFault returns the error of a failed membership call, if this one
// is to fail.
func (r *recorder) memberFault(what string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed >= r.failMembers {
		return nil
	}
	r.failed++
	return fmt.Errorf("chirpstack: %s: rpc error: code = Unavailable desc = connection reset", what)
}

func (r *recorder) AddDevice(ctx context.Context, groupID string, devEUI lorawan.EUI64) error {
	if err := r.memberFault("add device " + devEUI.String()); err != nil {
		return err
	}
	return r.Client.AddDevice(ctx, groupID, devEUI)
}

func (r *recorder) AddGateway(ctx context.Context, groupID string, gatewayID lorawan.EUI64) error {
	if err := r.memberFault("add gateway " + gatewayID.String()); err != nil {
		return err
	}
	return r.Client.AddGateway(ctx, groupID, gatewayID)
}

func (r *recorder) EnqueueMulticast(ctx context.Context, groupID string, fPort uint8, data []byte, expiresAt time.Time) (uint32, error) {
	r.mu.Lock()
	n, hook := len(r.enqueues), r.beforeEnqueue
	r.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	fcnt, err := r.Client.EnqueueMulticast(ctx, groupID, fPort, data, expiresAt)
	r.mu.Lock()
	r.enqueues = append(r.enqueues, enqueued{At: r.clk.Now(), GroupID: groupID, FCnt: fcnt, ExpiresAt: expiresAt, Data: slices.Clone(data), Err: err})
	r.mu.Unlock()
	return fcnt, err
}

func (r *recorder) EnqueueUnicast(ctx context.Context, devEUI lorawan.EUI64, fPort uint8, data []byte, confirmed bool) (string, error) {
	r.mu.Lock()
	r.unicasts = append(r.unicasts, unicast{At: r.clk.Now(), DevEUI: devEUI, FPort: fPort, Data: slices.Clone(data)})
	r.mu.Unlock()
	return r.Client.EnqueueUnicast(ctx, devEUI, fPort, data, confirmed)
}

func (r *recorder) DeleteMulticastGroup(ctx context.Context, groupID string) error {
	queued, qerr := r.Client.MulticastQueue(ctx, groupID)
	err := r.Client.DeleteMulticastGroup(ctx, groupID)
	if err == nil {
		err = qerr
	}
	r.mu.Lock()
	r.deletes = append(r.deletes, deletedGroup{At: r.clk.Now(), GroupID: groupID, Queued: queued, Err: err})
	r.mu.Unlock()
	return err
}

// quirkRig is a rig with its log book and recorder.
type quirkRig struct {
	*rig
	book *logBook
	rec  *recorder
	// canceledAt is when the test cancelled the deployment, if it did.
	canceledAt time.Time
	// plan is the campaign's plan.
	plan *fuota.Plan
}

// newQuirkRig is newRig with every log line kept and the runner's calls
// recorded.
func newQuirkRig(t *testing.T, sc *simulator.Scenario, seed uint64) *quirkRig {
	t.Helper()
	book := &logBook{}
	h := &captureHandler{book: book}
	if testing.Verbose() {
		h.next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	q := &quirkRig{book: book}
	q.rig = buildRig(t, sc, seed, h, func(c *integration.Client, clk *clock.Virtual) runner.Executor {
		q.rec = &recorder{Client: c, clk: clk}
		return q.rec
	})
	q.runner, q.hook = q.newRunner()
	return q
}

// runUntilPhase runs the field until the stored deployment is in phase p,
// for at most limit.
func (q *quirkRig) runUntilPhase(p fuota.Phase, limit time.Duration) {
	q.t.Helper()
	for start := q.clk.Now(); q.phase() != string(p); q.runFor(time.Second) {
		if q.runner.Done() || q.clk.Now().Sub(start) > limit {
			q.t.Fatalf("phase %s never came; in %s", p, q.phase())
		}
	}
}

// campaignSpec is what a quirk case plans its campaign with.
type campaignSpec struct {
	// DR is the multicast data rate.
	DR int
	// Margin is what the plan is told of ChirpStack's class C margin.
	Margin time.Duration
	// Loss is the expected loss the plan sizes the redundancy for.
	Loss float64
	// Model is the gateways' duty-cycle enforcement the plan and the
	// ledgers assume (0: sliding window).
	Model dutycycle.Model
	// Gateways carry the group; nil means the scenario's first gateway,
	// and noGateways none (ChirpStack's own choice).
	Gateways   []fuota.GatewayConfig
	NoGateways bool
}

// deployment plans a campaign of img for every device of the network.
func (q *quirkRig) deployment(img []byte, c campaignSpec) *fuota.Deployment {
	q.t.Helper()
	plan, err := fuota.NewPlan(fuota.PlanRequest{ImageSize: len(img), Region: region.Name(q.region), DR: c.DR,
		ExpectedLoss: c.Loss, Devices: len(q.net.Devices()), DutyCycleModel: c.Model, Margin: c.Margin})
	if err != nil {
		q.t.Fatal(err)
	}
	q.plan = plan
	key := lorawan.AES128Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	cfg := fuota.DeploymentConfig{ID: deploymentID, Plan: plan, Image: img, McKey: &key, Gateways: c.Gateways}
	if c.Gateways == nil && !c.NoGateways {
		cfg.Gateways = []fuota.GatewayConfig{{ID: gatewayID, Model: c.Model}}
	}
	for _, d := range q.net.Devices() {
		cfg.Devices = append(cfg.Devices, fuota.DeviceConfig{DevEUI: d.DevEUI(), MACVersion: fuota.MAC10x, Class: fuota.ClassC})
	}
	d, err := fuota.NewDeployment(cfg)
	if err != nil {
		q.t.Fatal(err)
	}
	q.t.Logf("plan: %d frames of %d bytes, %v on air each, spacing %v, lower bound %v (%s)",
		plan.Frames, plan.FragmentSize, plan.FrameAirtime, plan.FrameSpacing, plan.LowerBound, plan.Binding)
	return d
}

// deviceQueue returns how many unicast items ChirpStack still holds for a
// device.
func (q *quirkRig) deviceQueue(eui lorawan.EUI64) int {
	q.t.Helper()
	resp, err := q.client.Devices.GetQueue(q.ctx, &api.GetDeviceQueueItemsRequest{DevEui: eui.String()})
	if err != nil {
		q.t.Fatal(err)
	}
	return int(resp.TotalCount)
}
