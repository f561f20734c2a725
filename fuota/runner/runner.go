// Package runner executes a fuota.Deployment: it performs the actions Step
// returns (ChirpStack calls, timers, store allocations), feeds their results
// and the devices' uplinks back as events, and persists the deployment after
// every step (docs/ENGINE.md, "Not yet").
//
// # Concurrency
//
// Every Step runs under one mutex, and the actions it returns are executed
// before the mutex is released; results of synchronous calls are fed back in
// the same critical section, in order. Timers go through the Clock given to
// New, so on a clock.Virtual they fire on the loop goroutine. The Executor's
// calls are synchronous; against the simulator its gRPC handlers only enqueue
// work on the clock and never wait for it, which the clock package's
// concurrency model allows a callback to block on, so a Step running on the
// loop goroutine cannot deadlock.
//
// Uplinks must not be delivered from inside an Executor call (the mutex is
// not reentrant); the simulator publishes them from the loop goroutine only.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/integration"
)

// Executor is what the runner asks of ChirpStack. *integration.Client
// satisfies it.
type Executor interface {
	GetDeviceKeys(ctx context.Context, devEUI lorawan.EUI64) (integration.DeviceKeys, error)
	EnqueueUnicast(ctx context.Context, devEUI lorawan.EUI64, fPort uint8, data []byte, confirmed bool) (string, error)
	CreateMulticastGroup(ctx context.Context, g integration.MulticastGroup) (string, error)
	AddDevice(ctx context.Context, groupID string, devEUI lorawan.EUI64) error
	AddGateway(ctx context.Context, groupID string, gatewayID lorawan.EUI64) error
	EnqueueMulticast(ctx context.Context, groupID string, fPort uint8, data []byte, expiresAt time.Time) (uint32, error)
	DeleteMulticastGroup(ctx context.Context, groupID string) error
	FlushQueue(ctx context.Context, devEUI lorawan.EUI64) error
}

var _ Executor = (*integration.Client)(nil)

// Config is what a Runner is built from.
type Config struct {
	Clock    clock.Clock
	Executor Executor
	Store    *store.Store
	// Logger gets the deployment's Log actions and the runner's failures;
	// nil discards them.
	Logger *slog.Logger
	// ApplicationID and Region go into CreateMulticastGroup.
	ApplicationID string
	Region        string
	// McAddrPool is where AllocateMcAddr picks the group's address.
	McAddrPool store.McAddrPool
	// Hooks are told what the runner does; nil hooks are skipped.
	Hooks Hooks
}

// Hooks are told what a Runner does, after it has done it, in order. They
// run with the runner's lock held, so they must return quickly and must not
// call the Runner's methods.
type Hooks struct {
	// Log gets every Log action, Verdict every verdict.
	Log     func(ctx context.Context, l fuota.Log)
	Verdict func(ctx context.Context, v fuota.Verdict)
	// Step is called after every event has been applied, its actions
	// executed and the deployment persisted, with the phase reached.
	Step func(ctx context.Context, phase fuota.Phase, done bool)
	// Error gets every failure of a step or of persisting; Err keeps the
	// first.
	Error func(ctx context.Context, err error)
}

// Runner drives one deployment.
type Runner struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context // Start's, for the timers
	d        *fuota.Deployment
	version  int64 // of the stored deployment record
	verdicts []fuota.Verdict
	err      error // the first failure of a Step or of persisting
}

var _ integration.Handler = (*Runner)(nil)

// New checks cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.Clock == nil:
		return nil, errors.New("runner: no Clock")
	case cfg.Executor == nil:
		return nil, errors.New("runner: no Executor")
	case cfg.Store == nil:
		return nil, errors.New("runner: no Store")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log}, nil
}

// Start stores d and steps it with fuota.Start. Timers it sets run with ctx;
// once ctx is done they are dropped.
func (r *Runner) Start(ctx context.Context, d *fuota.Deployment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d != nil {
		return fmt.Errorf("runner: deployment %s already started", r.d.ID())
	}
	r.ctx, r.d = ctx, d
	r.step(ctx, fuota.Start{})
	return r.err
}

// Resume takes over a deployment read back from the store after a restart:
// version is the stored record's version (the next write is checked against
// it), and the deployment's own Resume says which timers to arm and which calls
// to issue again.
func (r *Runner) Resume(ctx context.Context, d *fuota.Deployment, version int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d != nil {
		return fmt.Errorf("runner: deployment %s already started", r.d.ID())
	}
	r.ctx, r.d, r.version = ctx, d, version
	acts, err := d.Resume(r.cfg.Clock.Now())
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	var queue []fuota.Event
	for _, a := range acts {
		if res, ok := r.exec(ctx, a); ok {
			queue = append(queue, res)
		}
	}
	for _, ev := range queue {
		r.step(ctx, ev)
	}
	return r.err
}

// Verdicts returns the verdicts issued so far, in issue order.
func (r *Runner) Verdicts() []fuota.Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fuota.Verdict(nil), r.verdicts...)
}

// Done reports whether the deployment has finished.
func (r *Runner) Done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d != nil && r.d.Done()
}

// Err returns the first error of a Step or of persisting the deployment.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// HandleUplink implements integration.Handler.
func (r *Runner) HandleUplink(ctx context.Context, u integration.Uplink) {
	r.deliver(ctx, fuota.Uplink{DevEUI: u.DevEUI, FPort: u.FPort, Data: u.Data, ReceivedAt: u.ReceivedAt})
}

// HandleTxAck implements integration.Handler; the engine does not take tx
// acks yet.
func (r *Runner) HandleTxAck(context.Context, integration.TxAck) {}

// HandleAck implements integration.Handler; the engine does not take acks
// yet.
func (r *Runner) HandleAck(context.Context, integration.Ack) {}

// HandleLog implements integration.Handler: a gateway's refusal of a
// unicast (DOWNLINK_GATEWAY) goes to the engine; other log events are not
// the engine's.
func (r *Runner) HandleLog(ctx context.Context, l integration.Log) {
	if l.Code != integration.LogDownlinkGateway {
		return
	}
	r.deliver(ctx, fuota.Refused{DevEUI: l.DevEUI, Status: l.Description, At: l.Time})
}

// deliver steps the deployment with ev, if one is running.
func (r *Runner) deliver(ctx context.Context, ev fuota.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d == nil {
		return
	}
	r.step(ctx, ev)
}

// step applies ev and then every result its actions produce, breadth first,
// persisting after each Step. r.mu is held.
func (r *Runner) step(ctx context.Context, ev fuota.Event) {
	queue := []fuota.Event{ev}
	for len(queue) > 0 {
		ev := queue[0]
		queue = queue[1:]
		acts, err := r.d.Step(r.cfg.Clock.Now(), ev)
		if err != nil {
			r.fail(fmt.Errorf("runner: step %T: %w", ev, err))
		}
		if err := r.persist(ctx); err != nil {
			r.fail(err)
		}
		for _, a := range acts {
			if res, ok := r.exec(ctx, a); ok {
				queue = append(queue, res)
			}
		}
	}
	if h := r.cfg.Hooks.Step; h != nil {
		h(ctx, r.d.Phase(), r.d.Done())
	}
}

func (r *Runner) fail(err error) {
	r.log.Error("runner", "deployment", r.d.ID(), "err", err)
	if r.err == nil {
		r.err = err
	}
	if h := r.cfg.Hooks.Error; h != nil {
		h(r.ctx, err)
	}
}

// persist writes the deployment's state with a compare-and-set on the
// version this runner last wrote.
func (r *Runner) persist(ctx context.Context) error {
	blob, err := r.d.MarshalBinary()
	if err != nil {
		return fmt.Errorf("runner: marshal deployment %s: %w", r.d.ID(), err)
	}
	v, err := r.cfg.Store.PutDeployment(ctx, r.d.ID(), store.Put{State: string(r.d.Phase()), Data: blob, ExpectVersion: r.version})
	if err != nil {
		return fmt.Errorf("runner: persist deployment %s: %w", r.d.ID(), err)
	}
	r.version = v
	return nil
}

// exec performs one action and returns the event it produced, if any.
func (r *Runner) exec(ctx context.Context, a fuota.Action) (fuota.Event, bool) {
	x := r.cfg.Executor
	switch a := a.(type) {
	case fuota.GetDeviceKeys:
		k, err := x.GetDeviceKeys(ctx, a.DevEUI)
		return fuota.Result{ActionID: a.ActionID, Err: err,
			Keys: fuota.DeviceKeys{AppKey: k.AppKey, NwkKey: k.NwkKey, GenAppKey: k.GenAppKey}}, true
	case fuota.NextSessionCnt:
		n, err := r.cfg.Store.NextSessionCnt(ctx, a.DevEUI, a.FragIndex)
		return fuota.Result{ActionID: a.ActionID, Err: err, SessionCnt: n}, true
	case fuota.AllocateMcAddr:
		addr, err := r.cfg.Store.AllocateMcAddr(ctx, r.cfg.McAddrPool, laneOwner(r.d.ID(), a.Lane))
		return fuota.Result{ActionID: a.ActionID, Err: err, McAddr: addr}, true
	case fuota.CreateMulticastGroup:
		name := "fuota-" + r.d.ID()
		if a.Lane > 0 {
			name = fmt.Sprintf("%s-%d", name, a.Lane)
		}
		id, err := x.CreateMulticastGroup(ctx, integration.MulticastGroup{
			Name: name, ApplicationID: r.cfg.ApplicationID, Region: r.cfg.Region,
			McAddr: a.McAddr, McNwkSKey: a.McNwkSKey, McAppSKey: a.McAppSKey,
			DR: uint8(a.DR), Frequency: a.FrequencyHz,
			ClassB: a.Class == string(fuota.ClassB), PingSlotPeriodicity: a.PingSlotPeriodicity,
		})
		return fuota.Result{ActionID: a.ActionID, Err: err, GroupID: id}, true
	case fuota.EnqueueMulticast:
		_, err := x.EnqueueMulticast(ctx, a.GroupID, a.FPort, a.Data, a.ExpiresAt)
		return fuota.Result{ActionID: a.ActionID, Err: err}, true
	case fuota.EnqueueUnicast:
		// No Result is expected: a lost request is the engine's retry to make.
		if _, err := x.EnqueueUnicast(ctx, a.DevEUI, a.FPort, a.Data, false); err != nil {
			r.log.Warn("enqueue unicast", "deployment", r.d.ID(), "dev_eui", a.DevEUI, "err", err)
		}
	case fuota.AddDevice:
		err := x.AddDevice(ctx, a.GroupID, a.DevEUI)
		if err != nil {
			r.log.Warn("add device to group", "deployment", r.d.ID(), "dev_eui", a.DevEUI, "err", err)
		}
		return fuota.Result{ActionID: a.ActionID, Err: err}, true
	case fuota.AddGateway:
		var gw lorawan.EUI64
		err := gw.UnmarshalText([]byte(a.GatewayID))
		if err == nil {
			err = x.AddGateway(ctx, a.GroupID, gw)
		}
		if err != nil {
			r.log.Warn("add gateway to group", "deployment", r.d.ID(), "gateway", a.GatewayID, "err", err)
		}
		return fuota.Result{ActionID: a.ActionID, Err: err}, true
	case fuota.FlushQueue:
		if err := x.FlushQueue(ctx, a.DevEUI); err != nil {
			r.log.Warn("flush device queue", "deployment", r.d.ID(), "dev_eui", a.DevEUI, "err", err)
		}
	case fuota.ReleaseMcAddr:
		if err := r.cfg.Store.ReleaseMcAddr(ctx, a.McAddr, laneOwner(r.d.ID(), a.Lane)); err != nil {
			r.log.Warn("release multicast address", "deployment", r.d.ID(), "mc_addr", a.McAddr, "err", err)
		}
	case fuota.DeleteMulticastGroup:
		if err := x.DeleteMulticastGroup(ctx, a.GroupID); err != nil {
			r.log.Warn("delete group", "deployment", r.d.ID(), "group", a.GroupID, "err", err)
		}
	case fuota.SetTimer:
		id := a.ID
		r.cfg.Clock.AfterFunc(a.At.Sub(r.cfg.Clock.Now()), func() {
			if r.ctx.Err() != nil {
				return
			}
			r.deliver(r.ctx, fuota.Timer{ID: id})
		})
	case fuota.Log:
		if a.DevEUI == (lorawan.EUI64{}) {
			r.log.Info(a.Msg, "deployment", r.d.ID())
		} else {
			r.log.Info(a.Msg, "deployment", r.d.ID(), "dev_eui", a.DevEUI)
		}
		if h := r.cfg.Hooks.Log; h != nil {
			h(ctx, a)
		}
	case fuota.Verdict:
		r.verdicts = append(r.verdicts, a)
		r.log.Info("verdict", "deployment", r.d.ID(), "dev_eui", a.DevEUI, "outcome", a.Outcome,
			"step", a.Step, "reason", a.Reason, "firmware", a.FirmwareVersion)
		if h := r.cfg.Hooks.Verdict; h != nil {
			h(ctx, a)
		}
	default:
		r.fail(fmt.Errorf("runner: unknown action %T", a))
	}
	return nil, false
}

// laneOwner is who holds a lane's multicast address in the store: each lane
// of a deployment owns an address of its own.
func laneOwner(id string, lane int) string {
	if lane == 0 {
		return id
	}
	return fmt.Sprintf("%s/lane-%d", id, lane)
}
