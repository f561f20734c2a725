package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/region"
)

// Directory is what the Manager reads of ChirpStack's devices: to pick the
// devices of a Selector and to fill in what a DeviceRequest leaves out.
// *integration.Client satisfies it.
type Directory interface {
	ListDevices(ctx context.Context, f integration.DeviceFilter) ([]integration.Device, error)
	GetDevice(ctx context.Context, devEUI lorawan.EUI64) (integration.Device, error)
	GetDeviceProfile(ctx context.Context, id string) (integration.DeviceProfile, error)
}

var _ Directory = (*integration.Client)(nil)

// ManagerConfig is what a Manager is built from.
type ManagerConfig struct {
	// Clock is the only source of time: clock.Wall() under serve.
	Clock    clock.Clock
	Store    *store.Store
	Executor runner.Executor
	// Directory, if not nil, fills in devices (selectors, MAC version,
	// class, uplink interval, application); without it every device must
	// be given in full.
	Directory Directory
	Logger    *slog.Logger
	// Owner names this server in the deployments' leases; it must differ
	// between servers sharing a store.
	Owner string
	// LeaseTTL is how long a lease lasts without renewal (default 30 s);
	// the Manager renews its leases every third of it.
	LeaseTTL time.Duration
	// ApplicationID is the application of deployments that name none.
	ApplicationID string
	// Region is ChirpStack's region of the multicast groups; empty takes
	// the plan's region.
	Region     string
	McAddrPool store.McAddrPool
	// Gateways carry deployments that name none (EUI-64 hex).
	Gateways []string
	Defaults Defaults
	// Rand makes deployment ids and group keys; nil is crypto/rand.
	Rand io.Reader
}

// DefaultLeaseTTL is ManagerConfig.LeaseTTL's default.
const DefaultLeaseTTL = 30 * time.Second

// entryState is where a deployment is, for this server.
type entryState int

const (
	stateDraft    entryState = iota // not started
	stateStarting                   // its devices claimed, being started here
	stateRunning                    // its runner runs here
	stateRemote                     // started, run by another server (or by none yet)
	stateFinished                   // done or cancelled
)

// entry is one deployment the Manager knows.
type entry struct {
	id string

	// mu guards what follows. Lock order: a runner's lock, then mu, then
	// the Manager's mu; the runner's hooks take mu.
	mu      sync.Mutex
	sp      *spec
	version int64 // of the stored spec
	plan    *fuota.Plan
	state   entryState
	phase   fuota.Phase // last known; "" for a draft
	run     *runner.Runner
	stop    context.CancelFunc // ends the runner's timers
	owner   string             // the lease owner when remote
	err     string             // why it cannot run, if it cannot
	// final is the engine's last view of a finished deployment, loaded
	// when first asked for.
	final *engineView
	// image is kept for remote entries, which are read from the store.
	image     []byte
	changed   chan struct{}
	updatedAt time.Time
	verdicts  map[lorawan.EUI64]verdictNote
	// verdictsRead is set once verdicts holds every verdict of the log:
	// for a deployment created here, or once loadVerdicts ran.
	verdictsRead bool
	// counted is what of the deployment's progress the metrics have
	// counted already.
	counted    progressCount
	finalizing bool
}

type progressCount struct{ fragments, enqueueErrors int }

// route is where a device's events go.
type route struct {
	id string
	r  *runner.Runner
}

// notify wakes the watchers of e. e.mu is held.
func (e *entry) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// Manager runs many deployments; it is safe for concurrent use.
type Manager struct {
	cfg  ManagerConfig
	log  *slog.Logger
	clk  clock.Clock
	st   *store.Store
	rand io.Reader

	// ctx ends at Close; the runners' timers run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	entries map[string]*entry
	// claimed maps the devices of every started deployment not finished
	// (here or elsewhere) to its id; routes the devices of those running
	// here to their runner.
	claimed map[lorawan.EUI64]string
	routes  map[lorawan.EUI64]route
	opened  bool
	closed  bool
	timer   clock.Timer

	stats stats
}

// NewManager checks cfg and returns a Manager; Open loads the deployments.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	switch {
	case cfg.Clock == nil:
		return nil, errors.New("server: manager: no Clock")
	case cfg.Store == nil:
		return nil, errors.New("server: manager: no Store")
	case cfg.Executor == nil:
		return nil, errors.New("server: manager: no Executor")
	case cfg.Owner == "":
		return nil, errors.New("server: manager: no Owner")
	case cfg.LeaseTTL < 0:
		return nil, fmt.Errorf("server: manager: lease TTL %v: must not be negative", cfg.LeaseTTL)
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Region != "" {
		if _, err := chirpstackRegion(cfg.Region); err != nil {
			return nil, fmt.Errorf("server: manager: %w", err)
		}
	}
	gws, err := parseGateways("gateways", cfg.Gateways)
	if err != nil {
		return nil, fmt.Errorf("server: manager: %w", err)
	}
	cfg.Gateways = gws
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	m := &Manager{
		cfg: cfg, log: log, clk: cfg.Clock, st: cfg.Store, rand: rnd,
		entries: map[string]*entry{}, claimed: map[lorawan.EUI64]string{}, routes: map[lorawan.EUI64]route{},
	}
	m.stats.verdicts = map[fuota.Outcome]uint64{}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Open loads every deployment from the store and resumes those that are
// not done and not run by another server, then keeps its leases renewed
// until Close.
func (m *Manager) Open(ctx context.Context) error {
	m.mu.Lock()
	if m.opened {
		m.mu.Unlock()
		return errors.New("server: manager: opened twice")
	}
	m.opened = true
	m.mu.Unlock()
	if err := m.sync(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.timer = m.clk.AfterFunc(m.cfg.LeaseTTL/3, m.tick)
	}
	return nil
}

// Close stops the runners (their state is in the store), releases their
// leases so that another server can take them over at once, and stops the
// lease timer. Events are not routed after it.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
	clear(m.routes)
	entries := slices.Collect(maps.Values(m.entries))
	m.mu.Unlock()
	m.cancel()
	var errs []error
	for _, e := range entries {
		e.mu.Lock()
		r, stop := e.run, e.stop
		running := e.state == stateRunning
		if running {
			e.state, e.run, e.owner = stateRemote, nil, ""
			e.notify()
		}
		e.mu.Unlock()
		if !running {
			continue
		}
		stop()
		r.Status() // waits for a step in progress
		if err := m.st.ReleaseLease(ctx, e.id, m.cfg.Owner); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) tick() {
	if err := m.sync(m.ctx); err != nil && m.ctx.Err() == nil {
		m.log.Warn("syncing deployments with the store", "err", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.timer = m.clk.AfterFunc(m.cfg.LeaseTTL/3, m.tick)
	}
}

// sync renews this server's leases, finishes done deployments, loads
// deployments other servers made, and takes over those whose owner is
// gone.
func (m *Manager) sync(ctx context.Context) error {
	for _, e := range m.snapshot() {
		e.mu.Lock()
		state, r := e.state, e.run
		e.mu.Unlock()
		if state != stateRunning {
			continue
		}
		if r.Done() {
			m.finalize(e)
			continue
		}
		ok, err := m.st.RenewLease(ctx, e.id, m.cfg.Owner, m.cfg.LeaseTTL)
		if err != nil {
			m.log.Warn("renewing a lease", "deployment", e.id, "err", err)
			continue
		}
		if !ok {
			m.lose(e)
		}
	}
	specs, err := m.st.ListSpecs(ctx)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		seen[s.ID] = true
		if err := m.load(ctx, s); err != nil {
			m.log.Error("loading deployment", "deployment", s.ID, "err", err)
		}
	}
	// Deployments deleted by another server.
	for _, e := range m.snapshot() {
		e.mu.Lock()
		gone := !seen[e.id] && (e.state == stateDraft || e.state == stateFinished || e.state == stateRemote)
		if gone {
			e.notify()
		}
		e.mu.Unlock()
		if gone {
			m.forget(e)
		}
	}
	return nil
}

// snapshot returns the entries.
func (m *Manager) snapshot() []*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.entries))
}

// load brings a stored spec into the Manager: a new draft or deployment,
// a newer version of a draft, or a remote deployment to take over.
func (m *Manager) load(ctx context.Context, s store.Spec) error {
	m.mu.Lock()
	e := m.entries[s.ID]
	m.mu.Unlock()
	if e == nil {
		sp, err := unmarshalSpec(s.Data)
		if err != nil {
			return err
		}
		e = &entry{id: s.ID, sp: sp, version: s.Version, changed: make(chan struct{}), verdicts: map[lorawan.EUI64]verdictNote{}}
		switch {
		case sp.Canceled:
			e.state, e.phase = stateFinished, fuota.PhaseCanceled
		case !sp.CompletedAt.IsZero():
			e.state = stateFinished
			if n := len(sp.Phases); n > 0 {
				e.phase = sp.Phases[n-1].Phase
			}
		case sp.StartedAt.IsZero():
			e.state = stateDraft
		default:
			e.state = stateRemote
		}
		if sp.ImageSize > 0 {
			if e.plan, err = m.cfg.Defaults.Plan(sp.Options, sp.ImageSize, max(len(sp.Devices), 1)); err != nil {
				e.err = "re-planning: " + err.Error()
			}
		}
		m.mu.Lock()
		if m.entries[s.ID] != nil {
			m.mu.Unlock()
			return nil
		}
		m.entries[s.ID] = e
		m.mu.Unlock()
	} else {
		e.mu.Lock()
		if (e.state == stateDraft || e.state == stateRemote) && s.Version > e.version {
			if sp, err := unmarshalSpec(s.Data); err == nil {
				e.sp, e.version = sp, s.Version
				if !sp.StartedAt.IsZero() && e.state == stateDraft {
					e.state = stateRemote
				}
				e.notify()
			}
		}
		e.mu.Unlock()
	}
	return m.adopt(ctx, e)
}

// forget drops e from the Manager.
func (m *Manager) forget(e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[e.id] == e {
		delete(m.entries, e.id)
	}
	m.unclaimLocked(e.id)
}

// adopt runs a remote deployment here if its lease is free: it resumes the
// stored state, or finds it finished.
func (m *Manager) adopt(ctx context.Context, e *entry) error {
	e.mu.Lock()
	if e.state != stateRemote {
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	if m.isClosed() {
		return nil
	}
	ok, err := m.st.AcquireLease(ctx, e.id, m.cfg.Owner, m.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		owner, _ := m.st.LeaseOwner(ctx, e.id)
		e.mu.Lock()
		e.owner = owner
		e.notify() // watchers of remote deployments read the store
		devs := devicesOf(e.sp)
		e.mu.Unlock()
		m.mu.Lock()
		err := m.claimLocked(e.id, devs)
		m.mu.Unlock()
		if err != nil {
			m.log.Error("two started deployments share a device", "deployment", e.id, "err", err)
		}
		return nil
	}
	release := func() {
		if err := m.st.ReleaseLease(ctx, e.id, m.cfg.Owner); err != nil {
			m.log.Warn("releasing a lease", "deployment", e.id, "err", err)
		}
	}
	s, err := m.st.GetSpec(ctx, e.id)
	if err != nil {
		release()
		return err
	}
	sp, err := unmarshalSpec(s.Data)
	if err != nil {
		release()
		return err
	}
	rec, err := m.st.GetDeployment(ctx, e.id)
	if errors.Is(err, store.ErrNotFound) {
		// Started, but the engine's first write never happened: nothing
		// was sent. Start it again.
		release()
		e.mu.Lock()
		e.sp, e.version, e.state = sp, s.Version, stateStarting
		e.mu.Unlock()
		img, err := m.st.GetImage(ctx, e.id)
		if err == nil {
			err = m.launch(ctx, e, sp, img, s.Version)
		}
		if err != nil {
			m.fail(e, "restarting: "+err.Error())
		}
		return err
	}
	if err != nil {
		release()
		return err
	}
	m.loadVerdicts(ctx, e)
	if rec.State == string(fuota.PhaseDone) {
		m.finished(ctx, e, sp, s.Version, fuota.PhaseDone, nil)
		release()
		return nil
	}
	img, err := m.st.GetImage(ctx, e.id)
	var d *fuota.Deployment
	if err == nil {
		d, err = fuota.UnmarshalDeployment(rec.Data, img)
	}
	if err != nil {
		release()
		m.fail(e, "cannot resume: "+err.Error())
		return err
	}
	if d.Done() {
		m.finished(ctx, e, sp, s.Version, d.Phase(), viewOfDeployment(d))
		release()
		return nil
	}
	rctx, stop := context.WithCancel(m.ctx)
	r, err := m.newRunner(e, sp)
	if err != nil {
		stop()
		release()
		return err
	}
	p := d.Progress()
	e.mu.Lock()
	e.sp, e.version, e.state, e.run, e.stop, e.owner, e.phase = sp, s.Version, stateRunning, r, stop, "", d.Phase()
	e.image, e.err = nil, ""
	e.counted = progressCount{fragments: p.FragmentsSent, enqueueErrors: p.EnqueueErrors}
	e.notify()
	e.mu.Unlock()
	m.mu.Lock()
	m.claimLocked(e.id, devicesOf(sp))
	m.routeLocked(sp, r)
	m.mu.Unlock()
	m.appendLog(ctx, e.id, store.LogEntry{Time: m.clk.Now(), Kind: "event",
		Message: fmt.Sprintf("resumed by %s in phase %s", m.cfg.Owner, d.Phase())})
	m.log.Info("deployment resumed", "deployment", e.id, "phase", d.Phase())
	if err := r.Resume(rctx, d, rec.Version); err != nil {
		return fmt.Errorf("resuming deployment %s: %w", e.id, err)
	}
	return nil
}

// finished records that e, found done in the store, is finished.
func (m *Manager) finished(ctx context.Context, e *entry, sp *spec, version int64, phase fuota.Phase, v *engineView) {
	e.mu.Lock()
	e.sp, e.version, e.state, e.phase, e.final = sp, version, stateFinished, phase, v
	if sp.CompletedAt.IsZero() {
		now := m.clk.Now()
		sp.mark(phase, now)
		sp.CompletedAt, sp.UpdatedAt = now, now
		m.saveSpecLocked(ctx, e)
	}
	e.notify()
	e.mu.Unlock()
	m.mu.Lock()
	m.unclaimLocked(e.id)
	m.mu.Unlock()
}

// fail marks e as one that cannot run here.
func (m *Manager) fail(e *entry, why string) {
	e.mu.Lock()
	e.err = why
	if e.state == stateStarting {
		e.state = stateRemote
	}
	e.notify()
	e.mu.Unlock()
}

// lose stops e's runner after its lease went to another server.
func (m *Manager) lose(e *entry) {
	e.mu.Lock()
	if e.state != stateRunning {
		e.mu.Unlock()
		return
	}
	stop := e.stop
	e.state, e.run = stateRemote, nil
	e.notify()
	e.mu.Unlock()
	stop()
	m.mu.Lock()
	m.unrouteLocked(e.id)
	m.mu.Unlock()
	m.log.Error("lost the lease of a deployment; another server runs it now", "deployment", e.id)
}

// finalize retires the runner of a deployment that is done, keeping its
// last view.
func (m *Manager) finalize(e *entry) {
	e.mu.Lock()
	r := e.run
	if e.state != stateRunning || e.finalizing {
		e.mu.Unlock()
		return
	}
	e.finalizing = true
	e.mu.Unlock()
	st := r.Status()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.finalizing = false
	if !st.Done || e.state != stateRunning || e.run != r {
		return
	}
	now := m.clk.Now()
	m.account(e, st.Progress)
	e.final = viewOfRunner(st)
	e.state, e.run, e.phase = stateFinished, nil, st.Phase
	e.sp.mark(st.Phase, now)
	e.sp.CompletedAt, e.sp.UpdatedAt = now, now
	m.saveSpecLocked(m.ctx, e)
	e.stop()
	e.notify()
	m.mu.Lock()
	m.unrouteLocked(e.id)
	m.unclaimLocked(e.id)
	m.mu.Unlock()
	if err := m.st.ReleaseLease(m.ctx, e.id, m.cfg.Owner); err != nil {
		m.log.Warn("releasing a lease", "deployment", e.id, "err", err)
	}
	m.log.Info("deployment finished", "deployment", e.id, "phase", st.Phase,
		"outcomes", fmt.Sprint(st.Progress.Outcomes))
}

// saveSpecLocked writes e's spec; e.mu is held. A failure is logged: the
// spec holds times and marks, the engine's state is stored apart.
func (m *Manager) saveSpecLocked(ctx context.Context, e *entry) {
	b, err := e.sp.marshal()
	if err == nil {
		var v int64
		if v, err = m.st.PutSpec(ctx, e.id, b, e.version); err == nil {
			e.version = v
			return
		}
	}
	m.stats.add(&m.stats.storeErrors)
	m.log.Warn("saving a deployment's spec", "deployment", e.id, "err", err)
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *Manager) checkOpen() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.opened || m.closed {
		return precondition("the server is not running deployments (opening or shutting down)")
	}
	return nil
}

// claimLocked gives devs to deployment id; m.mu is held. A device another
// deployment holds is an error naming both.
func (m *Manager) claimLocked(id string, devs []lorawan.EUI64) error {
	for _, d := range devs {
		if other, ok := m.claimed[d]; ok && other != id {
			name := ""
			if e := m.entries[other]; e != nil && e.sp != nil {
				name = e.sp.Name
			}
			return precondition("devices: %s is already in running deployment %s (%q); a device is in one running deployment at a time", d, other, name)
		}
	}
	for _, d := range devs {
		m.claimed[d] = id
	}
	return nil
}

func (m *Manager) unclaimLocked(id string) {
	for d, owner := range m.claimed {
		if owner == id {
			delete(m.claimed, d)
		}
	}
	m.unrouteLocked(id)
}

func (m *Manager) routeLocked(sp *spec, r *runner.Runner) {
	if m.closed {
		return
	}
	for _, d := range sp.Devices {
		m.routes[d.DevEUI] = route{id: sp.ID, r: r}
	}
}

func (m *Manager) unrouteLocked(id string) {
	for d, rt := range m.routes {
		if rt.id == id {
			delete(m.routes, d)
		}
	}
}

// newID returns a random UUID (version 4), the form ChirpStack's ids take.
func (m *Manager) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		return "", fmt.Errorf("making a deployment id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// maxNameLen bounds a deployment's name.
const maxNameLen = 256

// Create checks req and stores a new deployment, started unless
// req.Draft. The Status is the new deployment's.
func (m *Manager) Create(ctx context.Context, req Request) (Status, error) {
	if err := m.checkOpen(); err != nil {
		return Status{}, err
	}
	sp, err := m.newSpec(ctx, req)
	if err != nil {
		return Status{}, err
	}
	e := &entry{id: sp.ID, sp: sp, changed: make(chan struct{}), verdicts: map[lorawan.EUI64]verdictNote{}, verdictsRead: true}
	if req.Draft {
		if len(req.Image) > 0 {
			if e.plan, err = m.cfg.Defaults.Plan(sp.Options, len(req.Image), max(len(sp.Devices), 1)); err != nil {
				return Status{}, err
			}
			if err := m.st.PutImage(ctx, sp.ID, req.Image); err != nil {
				return Status{}, err
			}
		}
		b, err := sp.marshal()
		if err != nil {
			return Status{}, err
		}
		if e.version, err = m.st.PutSpec(ctx, sp.ID, b, 0); err != nil {
			return Status{}, err
		}
		m.mu.Lock()
		m.entries[sp.ID] = e
		m.mu.Unlock()
		m.appendLog(ctx, sp.ID, store.LogEntry{Time: sp.CreatedAt, Kind: "event", Message: "created (draft)"})
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.compose(nil, false), nil
	}
	if len(req.Image) == 0 {
		return Status{}, invalid("image", "empty")
	}
	if len(sp.Devices) == 0 {
		return Status{}, invalid("devices", "none given (name devices or a selector)")
	}
	e.state = stateStarting
	m.mu.Lock()
	m.entries[sp.ID] = e
	m.mu.Unlock()
	if err := m.launch(ctx, e, sp, req.Image, 0); err != nil {
		e.mu.Lock()
		started := e.state == stateRunning
		e.mu.Unlock()
		if !started {
			m.forget(e)
			_ = m.st.DeleteSpec(context.WithoutCancel(ctx), sp.ID)
			return Status{}, err
		}
		return m.Get(ctx, sp.ID, false)
	}
	return m.Get(ctx, sp.ID, false)
}

// newSpec checks req and makes the spec of a new deployment, with the
// selector's devices listed.
func (m *Manager) newSpec(ctx context.Context, req Request) (*spec, error) {
	if len(req.Name) > maxNameLen {
		return nil, invalid("name", "%d bytes: at most %d", len(req.Name), maxNameLen)
	}
	gws, err := parseGateways("options.gateway_ids", req.Options.Gateways)
	if err != nil {
		return nil, err
	}
	id, err := m.newID()
	if err != nil {
		return nil, err
	}
	now := m.clk.Now()
	sp := &spec{
		Format: specFormat, ID: id, Name: req.Name, CreatedAt: now, UpdatedAt: now,
		ApplicationID: req.ApplicationID, DeviceProfileID: req.DeviceProfileID, Selector: req.Selector,
		Options: req.Options, ImageSize: len(req.Image), ChirpStack: req.ChirpStack,
	}
	sp.Options.Gateways = gws
	if err := checkDevices(req.Devices); err != nil {
		return nil, err
	}
	sp.Devices = slices.Clone(req.Devices)
	if sel := req.Selector; sel != nil {
		if sel.ApplicationID == "" {
			return nil, invalid("selector.application_id", "empty: a selector picks the devices of one application")
		}
		if m.cfg.Directory == nil {
			return nil, invalid("selector", "this server has no ChirpStack device directory")
		}
		devs, err := m.cfg.Directory.ListDevices(ctx, integration.DeviceFilter{
			ApplicationID: sel.ApplicationID, DeviceProfileID: sel.DeviceProfileID, Tags: sel.Tags})
		if err != nil {
			return nil, invalidErr("selector", err)
		}
		if len(devs) == 0 {
			return nil, invalid("selector", "matches no device of application %s", sel.ApplicationID)
		}
		have := sp.deviceSet()
		for _, d := range devs {
			if !have[d.DevEUI] {
				sp.Devices = append(sp.Devices, DeviceRequest{DevEUI: d.DevEUI})
				have[d.DevEUI] = true
			}
		}
		if sp.ApplicationID == "" {
			sp.ApplicationID = sel.ApplicationID
		} else if sp.ApplicationID != sel.ApplicationID {
			return nil, invalid("selector.application_id", "%s: the deployment's application is %s", sel.ApplicationID, sp.ApplicationID)
		}
	}
	if sp.ImageSize > 0 {
		if _, err := m.cfg.Defaults.merge(sp.Options, sp.ImageSize, max(len(sp.Devices), 1)); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// checkDevices refuses a device listed twice and a class or MAC version
// the engine does not know.
func checkDevices(devs []DeviceRequest) error {
	seen := map[lorawan.EUI64]bool{}
	for i, d := range devs {
		field := fmt.Sprintf("devices[%d]", i)
		switch {
		case seen[d.DevEUI]:
			return invalid(field+".dev_eui", "%s listed twice", d.DevEUI)
		case d.MACVersion != "" && d.MACVersion != fuota.MAC10x && d.MACVersion != fuota.MAC11:
			return invalid(field+".mac_version", "%q: want %q or %q", d.MACVersion, fuota.MAC10x, fuota.MAC11)
		case d.Class != "" && d.Class != fuota.ClassA && d.Class != fuota.ClassB && d.Class != fuota.ClassC:
			return invalid(field+".class", "%q: want A, B or C", d.Class)
		case d.UplinkInterval < 0:
			return invalid(field+".uplink_interval", "%v: must not be negative", d.UplinkInterval)
		}
		seen[d.DevEUI] = true
	}
	return nil
}

// Start starts a draft.
func (m *Manager) Start(ctx context.Context, id string) (Status, error) {
	if err := m.checkOpen(); err != nil {
		return Status{}, err
	}
	e, err := m.entry(id)
	if err != nil {
		return Status{}, err
	}
	e.mu.Lock()
	switch {
	case e.sp.Canceled:
		e.mu.Unlock()
		return Status{}, precondition("deployment %s was cancelled before its start", id)
	case e.state != stateDraft:
		e.mu.Unlock()
		return Status{}, precondition("deployment %s has already been started", id)
	}
	e.state = stateStarting
	sp := *e.sp
	sp.Devices = slices.Clone(e.sp.Devices)
	version := e.version
	e.mu.Unlock()
	revert := func() {
		e.mu.Lock()
		if e.state == stateStarting {
			e.state = stateDraft
		}
		e.mu.Unlock()
	}
	if len(sp.Devices) == 0 {
		revert()
		return Status{}, invalid("devices", "none: add devices before starting")
	}
	img, err := m.st.GetImage(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(img) == 0 {
		revert()
		return Status{}, invalid("image", "none: give the image (payload) before starting")
	}
	if err != nil {
		revert()
		return Status{}, err
	}
	if err := m.launch(ctx, e, &sp, img, version); err != nil {
		e.mu.Lock()
		started := e.state == stateRunning
		e.mu.Unlock()
		if !started {
			revert()
			return Status{}, err
		}
	}
	return m.Get(ctx, id, false)
}

// launch starts deployment e, whose state is stateStarting: it fills in the
// devices, plans, builds the engine's deployment, claims the devices, takes
// the lease, stores the spec (version is the stored one, 0 for a new
// deployment, whose image it stores too) and starts a runner.
func (m *Manager) launch(ctx context.Context, e *entry, sp *spec, img []byte, version int64) error {
	devs, err := m.resolve(ctx, sp)
	if err != nil {
		return err
	}
	plan, err := m.cfg.Defaults.Plan(sp.Options, len(img), len(devs))
	if err != nil {
		return err
	}
	gws := sp.Options.Gateways
	if len(gws) == 0 {
		gws = m.cfg.Gateways
	}
	dc, err := m.cfg.Defaults.deploymentConfig(sp.ID, sp.Options, plan, img, devs, gws, m.rand)
	if err != nil {
		return err
	}
	d, err := fuota.NewDeployment(dc)
	if err != nil {
		return &kindError{kind: ErrInvalid, msg: err.Error()}
	}
	r, err := m.newRunner(e, sp)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return precondition("the server is shutting down")
	}
	err = m.claimLocked(sp.ID, devicesOf(sp))
	m.mu.Unlock()
	if err != nil {
		return err
	}
	unclaim := func() {
		m.mu.Lock()
		m.unclaimLocked(sp.ID)
		m.mu.Unlock()
	}
	ok, err := m.st.AcquireLease(ctx, sp.ID, m.cfg.Owner, m.cfg.LeaseTTL)
	if err == nil && !ok {
		owner, _ := m.st.LeaseOwner(ctx, sp.ID)
		err = precondition("deployment %s is being started by %s", sp.ID, owner)
	}
	if err != nil {
		unclaim()
		return err
	}
	now := m.clk.Now()
	sp.StartedAt, sp.UpdatedAt, sp.ImageSize = now, now, len(img)
	b, err := sp.marshal()
	if err == nil && version == 0 {
		err = m.st.PutImage(ctx, sp.ID, img)
	}
	if err == nil {
		version, err = m.st.PutSpec(ctx, sp.ID, b, version)
	}
	if err != nil {
		unclaim()
		_ = m.st.ReleaseLease(context.WithoutCancel(ctx), sp.ID, m.cfg.Owner)
		return err
	}
	rctx, stop := context.WithCancel(m.ctx)
	e.mu.Lock()
	e.sp, e.version, e.plan, e.state, e.run, e.stop = sp, version, plan, stateRunning, r, stop
	e.phase, e.err, e.updatedAt = fuota.PhaseNew, "", now
	e.notify()
	e.mu.Unlock()
	m.mu.Lock()
	m.routeLocked(sp, r)
	m.mu.Unlock()
	m.appendLog(ctx, sp.ID, store.LogEntry{Time: now, Kind: "event",
		Message: fmt.Sprintf("started by %s: %d devices, %d fragments planned", m.cfg.Owner, len(devs), plan.Frames)})
	m.log.Info("deployment started", "deployment", sp.ID, "name", sp.Name, "devices", len(devs), "frames", plan.Frames)
	if err := r.Start(rctx, d); err != nil {
		return fmt.Errorf("starting deployment %s: %w", sp.ID, err)
	}
	return nil
}

// resolve fills in what the devices of sp leave out from ChirpStack, and
// the application, and returns the engine's device configurations.
func (m *Manager) resolve(ctx context.Context, sp *spec) ([]fuota.DeviceConfig, error) {
	if err := checkDevices(sp.Devices); err != nil {
		return nil, err
	}
	dir := m.cfg.Directory
	profiles := map[string]integration.DeviceProfile{}
	out := make([]fuota.DeviceConfig, 0, len(sp.Devices))
	for i, d := range sp.Devices {
		field := fmt.Sprintf("devices[%d]", i)
		complete := d.MACVersion != "" && d.Class != "" && (d.Class == fuota.ClassC || d.UplinkInterval > 0)
		if !complete || sp.ApplicationID == "" && m.cfg.ApplicationID == "" || sp.DeviceProfileID != "" {
			if dir == nil {
				if !complete {
					return nil, invalid(field, "%s: give mac_version, class and (class A) uplink_interval: this server has no ChirpStack device directory", d.DevEUI)
				}
			} else {
				dev, err := dir.GetDevice(ctx, d.DevEUI)
				if err != nil {
					return nil, invalidErr(field+".dev_eui "+d.DevEUI.String(), err)
				}
				if sp.ApplicationID == "" && m.cfg.ApplicationID == "" {
					sp.ApplicationID = dev.ApplicationID
				}
				if app := cmp.Or(sp.ApplicationID, m.cfg.ApplicationID); dev.ApplicationID != app {
					return nil, invalid(field+".dev_eui", "%s is in application %s, the deployment's is %s", d.DevEUI, dev.ApplicationID, app)
				}
				if sp.DeviceProfileID != "" && dev.DeviceProfileID != sp.DeviceProfileID {
					return nil, invalid(field+".dev_eui", "%s has device profile %s, the deployment's is %s", d.DevEUI, dev.DeviceProfileID, sp.DeviceProfileID)
				}
				prof, ok := profiles[dev.DeviceProfileID]
				if !ok {
					if prof, err = dir.GetDeviceProfile(ctx, dev.DeviceProfileID); err != nil {
						return nil, invalidErr(field+".dev_eui "+d.DevEUI.String(), err)
					}
					profiles[dev.DeviceProfileID] = prof
				}
				if d, err = fillDevice(field, d, dev, prof, sp.Options.SessionClass); err != nil {
					return nil, err
				}
				sp.Devices[i] = d
			}
		}
		out = append(out, fuota.DeviceConfig{DevEUI: d.DevEUI, MACVersion: d.MACVersion, Class: d.Class, UplinkInterval: d.UplinkInterval})
	}
	if sp.ApplicationID == "" {
		sp.ApplicationID = m.cfg.ApplicationID
	}
	if sp.ApplicationID == "" {
		return nil, invalid("application_id", "unknown: name the application (or configure chirpstack.application_id)")
	}
	return out, nil
}

// fillDevice completes d from ChirpStack's device and profile, for a
// multicast session of class session.
func fillDevice(field string, d DeviceRequest, dev integration.Device, prof integration.DeviceProfile, session fuota.Class) (DeviceRequest, error) {
	if d.MACVersion == "" {
		switch prof.MACVersion {
		case "LORAWAN_1_1_0":
			d.MACVersion = fuota.MAC11
		case "LORAWAN_1_0_0", "LORAWAN_1_0_1", "LORAWAN_1_0_2", "LORAWAN_1_0_3", "LORAWAN_1_0_4":
			d.MACVersion = fuota.MAC10x
		default:
			return d, invalid(field+".mac_version", "%s: profile %s has MAC version %q", d.DevEUI, prof.ID, prof.MACVersion)
		}
	}
	if d.Class == "" {
		switch dev.ClassEnabled {
		case "C":
			d.Class = fuota.ClassC
		case "B":
			d.Class = fuota.ClassB
		default:
			d.Class = fuota.ClassA
		}
	}
	switch {
	case session == fuota.ClassB && !prof.SupportsClassB:
		return d, invalid(field+".class", "%s: profile %s supports no class B for the session", d.DevEUI, prof.ID)
	case session != fuota.ClassB && d.Class != fuota.ClassC && !prof.SupportsClassC:
		return d, invalid(field+".class", "%s: class %s, and profile %s supports no class C for the session", d.DevEUI, d.Class, prof.ID)
	}
	if d.Class != fuota.ClassC && d.UplinkInterval == 0 {
		if prof.UplinkInterval <= 0 {
			return d, invalid(field+".uplink_interval", "%s: class %s, and profile %s has no uplink interval", d.DevEUI, d.Class, prof.ID)
		}
		d.UplinkInterval = prof.UplinkInterval
	}
	return d, nil
}

// newRunner makes the runner of e.
func (m *Manager) newRunner(e *entry, sp *spec) (*runner.Runner, error) {
	reg := m.cfg.Region
	if reg == "" {
		name := m.cfg.Defaults.Region
		if sp.Options.Region != "" {
			var err error
			if name, err = region.ParseName(sp.Options.Region); err != nil {
				return nil, invalidErr("options.region", err)
			}
		}
		var err error
		if reg, err = chirpstackRegion(string(name)); err != nil {
			return nil, invalidErr("options.region", err)
		}
	}
	r, err := runner.New(runner.Config{
		Clock: m.clk, Executor: m.cfg.Executor, Store: m.st, Logger: m.log,
		ApplicationID: sp.ApplicationID, Region: reg, McAddrPool: m.cfg.McAddrPool,
		Hooks: m.hooks(e),
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return r, nil
}

// hooks are e's runner's hooks: they record logs and verdicts, note the
// phases, wake the watchers and have a done deployment finished.
func (m *Manager) hooks(e *entry) runner.Hooks {
	id := e.id
	return runner.Hooks{
		Log: func(ctx context.Context, l fuota.Log) {
			le := store.LogEntry{Time: m.clk.Now(), Kind: "log", Message: l.Msg}
			if l.DevEUI != (lorawan.EUI64{}) {
				le.DevEUI = &l.DevEUI
			}
			m.appendLog(ctx, id, le)
		},
		Verdict: func(ctx context.Context, v fuota.Verdict) {
			now := m.clk.Now()
			fields := map[string]string{"outcome": string(v.Outcome), "step": string(v.Step)}
			if v.Reason != "" {
				fields["reason"] = v.Reason
			}
			if v.FirmwareVersion != 0 {
				fields["firmware_version"] = strconv.FormatUint(uint64(v.FirmwareVersion), 10)
			}
			msg := string(v.Outcome)
			if v.Reason != "" {
				msg += ": " + v.Reason
			}
			m.appendLog(ctx, id, store.LogEntry{Time: now, DevEUI: &v.DevEUI, Kind: "verdict", Message: msg, Fields: fields})
			if v.FirmwareVersion != 0 {
				if _, err := m.st.PutInventory(ctx, v.DevEUI, store.Inventory{
					FirmwareVersion: v.FirmwareVersion, SeenAt: now, Source: "DevVersionAns",
				}); err != nil {
					m.stats.add(&m.stats.storeErrors)
					m.log.Warn("updating the inventory", "deployment", id, "dev_eui", v.DevEUI, "err", err)
				}
			}
			m.stats.verdict(v.Outcome)
			e.mu.Lock()
			e.verdicts[v.DevEUI] = verdictNote{at: now, firmware: v.FirmwareVersion}
			e.mu.Unlock()
		},
		Step: func(ctx context.Context, phase fuota.Phase, done bool) {
			now := m.clk.Now()
			e.mu.Lock()
			e.updatedAt, e.phase = now, phase
			if e.state == stateRunning && e.sp.mark(phase, now) {
				e.sp.UpdatedAt = now
				m.saveSpecLocked(ctx, e)
			}
			e.notify()
			e.mu.Unlock()
			if done {
				m.clk.AfterFunc(0, func() { m.finalize(e) })
			}
		},
		Error: func(ctx context.Context, err error) {
			m.stats.add(&m.stats.runnerErrors)
			m.appendLog(ctx, id, store.LogEntry{Time: m.clk.Now(), Kind: "error", Message: err.Error()})
		},
	}
}

// appendLog adds an entry to a deployment's log; a failure is counted and
// logged, never fatal.
func (m *Manager) appendLog(ctx context.Context, id string, e store.LogEntry) {
	if _, err := m.st.AppendLog(ctx, id, e); err != nil {
		m.stats.add(&m.stats.storeErrors)
		m.log.Warn("appending to a deployment's log", "deployment", id, "err", err)
	}
}

// loadVerdicts rebuilds e's verdict notes from its log, after a restart.
func (m *Manager) loadVerdicts(ctx context.Context, e *entry) {
	const page = 1000
	notes := map[lorawan.EUI64]verdictNote{}
	complete := true
	for after := ""; ; {
		entries, err := m.st.Log(ctx, e.id, after, page)
		if err != nil {
			m.log.Warn("reading a deployment's log", "deployment", e.id, "err", err)
			complete = false
			break
		}
		for _, le := range entries {
			if le.Kind != "verdict" || le.DevEUI == nil {
				continue
			}
			fw, _ := strconv.ParseUint(le.Fields["firmware_version"], 10, 32)
			notes[*le.DevEUI] = verdictNote{at: le.Time, firmware: uint32(fw)}
		}
		if len(entries) < page {
			break
		}
		after = entries[len(entries)-1].ID
	}
	e.mu.Lock()
	for k, v := range notes {
		if _, ok := e.verdicts[k]; !ok {
			e.verdicts[k] = v
		}
	}
	e.verdictsRead = e.verdictsRead || complete
	e.mu.Unlock()
}

func (m *Manager) entry(id string) (*entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil {
		return nil, notFound(id)
	}
	return e, nil
}

// Get returns a deployment's status, with every device's when devices is
// set.
func (m *Manager) Get(ctx context.Context, id string, devices bool) (Status, error) {
	e, err := m.entry(id)
	if err != nil {
		return Status{}, err
	}
	return m.status(ctx, e, devices)
}

func (m *Manager) status(ctx context.Context, e *entry, devices bool) (Status, error) {
	e.mu.Lock()
	state, r, read := e.state, e.run, e.verdictsRead
	e.mu.Unlock()
	if devices && state == stateFinished && !read {
		// Finished before this server started: the devices' firmware
		// versions and completion times are in the log.
		m.loadVerdicts(ctx, e)
	}
	var v *engineView
	switch state {
	case stateRunning:
		v = viewOfRunner(r.Status())
	case stateFinished, stateRemote:
		var err error
		if v, err = m.storedView(ctx, e); err != nil {
			return Status{}, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.compose(v, devices), nil
}

// storedView returns the engine's view of a deployment not running here:
// the kept one of a finished deployment, else read from the store.
func (m *Manager) storedView(ctx context.Context, e *entry) (*engineView, error) {
	e.mu.Lock()
	final, img, state, sp := e.final, e.image, e.state, e.sp
	e.mu.Unlock()
	if final != nil {
		return final, nil
	}
	if sp.Canceled || sp.StartedAt.IsZero() {
		return nil, nil
	}
	rec, err := m.st.GetDeployment(ctx, e.id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // started, the engine's first write not there (yet)
	}
	if err != nil {
		return nil, err
	}
	if img == nil {
		if img, err = m.st.GetImage(ctx, e.id); err != nil {
			return nil, err
		}
	}
	d, err := fuota.UnmarshalDeployment(rec.Data, img)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", e.id, err)
	}
	v := viewOfDeployment(d)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.phase = v.phase
	if state == stateFinished && e.state == stateFinished {
		e.final = v
	} else {
		e.image = img
	}
	return v, nil
}

// List returns every deployment's status, without devices, newest first.
func (m *Manager) List(ctx context.Context) ([]Status, error) {
	var out []Status
	for _, e := range m.snapshot() {
		st, err := m.status(ctx, e, false)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Changed returns a channel closed at the next change of the deployment.
// Take it before reading the status, so that no change is missed.
func (m *Manager) Changed(id string) (<-chan struct{}, error) {
	e, err := m.entry(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed, nil
}

// Cancel stops a deployment running here, or cancels a draft. Cancelling a
// finished deployment changes nothing.
func (m *Manager) Cancel(ctx context.Context, id, reason string) (Status, error) {
	e, err := m.entry(id)
	if err != nil {
		return Status{}, err
	}
	if reason == "" {
		reason = "cancelled through the API"
	}
	e.mu.Lock()
	switch e.state {
	case stateDraft:
		now := m.clk.Now()
		e.sp.Canceled, e.sp.CancelReason, e.sp.CompletedAt, e.sp.UpdatedAt = true, reason, now, now
		e.sp.mark(fuota.PhaseCanceled, now)
		e.state, e.phase = stateFinished, fuota.PhaseCanceled
		m.saveSpecLocked(ctx, e)
		e.notify()
		e.mu.Unlock()
		m.appendLog(ctx, id, store.LogEntry{Time: now, Kind: "event", Message: "cancelled before its start: " + reason})
	case stateRunning:
		r := e.run
		e.mu.Unlock()
		m.appendLog(ctx, id, store.LogEntry{Time: m.clk.Now(), Kind: "event", Message: "cancel requested: " + reason})
		if err := r.Cancel(ctx, reason); err != nil {
			m.log.Warn("cancelling", "deployment", id, "err", err)
		}
	case stateStarting:
		e.mu.Unlock()
		return Status{}, precondition("deployment %s is starting; cancel it once started", id)
	case stateRemote:
		owner := e.owner
		e.mu.Unlock()
		return Status{}, precondition("deployment %s is run by %s; cancel it there", id, cmp.Or(owner, "another server"))
	default:
		e.mu.Unlock()
	}
	return m.Get(ctx, id, false)
}

// Delete removes a draft or a finished deployment, with its log.
func (m *Manager) Delete(ctx context.Context, id string) error {
	e, err := m.entry(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	state := e.state
	e.mu.Unlock()
	if state != stateDraft && state != stateFinished {
		return precondition("deployment %s is running: cancel it first, and delete it once it is done", id)
	}
	if err := m.st.DeleteDeployment(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := m.st.DeleteSpec(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	m.forget(e)
	e.mu.Lock()
	e.notify()
	e.mu.Unlock()
	return nil
}

// Draft is what can change of a deployment before its start.
type Draft struct {
	Name            string
	ApplicationID   string
	DeviceProfileID string
	Devices         []DeviceRequest
	Options         Options
	// Image is nil when unchanged; set it to replace the image.
	Image      []byte
	ChirpStack []byte
}

// UpdateDraft changes a deployment that has not started: edit is given the
// draft as it is and changes it. A started deployment is
// ErrFailedPrecondition.
func (m *Manager) UpdateDraft(ctx context.Context, id string, edit func(*Draft) error) (Status, error) {
	e, err := m.entry(id)
	if err != nil {
		return Status{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateDraft || e.sp.Canceled {
		return Status{}, precondition("deployment %s has started (or was cancelled): it changes only before its start", id)
	}
	sp := e.sp
	d := Draft{
		Name: sp.Name, ApplicationID: sp.ApplicationID, DeviceProfileID: sp.DeviceProfileID,
		Devices: slices.Clone(sp.Devices), Options: sp.Options, ChirpStack: slices.Clone(sp.ChirpStack),
	}
	d.Options.Gateways = slices.Clone(sp.Options.Gateways)
	if err := edit(&d); err != nil {
		return Status{}, err
	}
	if len(d.Name) > maxNameLen {
		return Status{}, invalid("name", "%d bytes: at most %d", len(d.Name), maxNameLen)
	}
	if err := checkDevices(d.Devices); err != nil {
		return Status{}, err
	}
	gws, err := parseGateways("options.gateway_ids", d.Options.Gateways)
	if err != nil {
		return Status{}, err
	}
	d.Options.Gateways = gws
	next := *sp
	next.Name, next.ApplicationID, next.DeviceProfileID = d.Name, d.ApplicationID, d.DeviceProfileID
	next.Devices, next.Options, next.ChirpStack = d.Devices, d.Options, d.ChirpStack
	next.UpdatedAt = m.clk.Now()
	if d.Image != nil {
		next.ImageSize = len(d.Image)
	}
	plan := e.plan
	if next.ImageSize > 0 {
		if plan, err = m.cfg.Defaults.Plan(next.Options, next.ImageSize, max(len(next.Devices), 1)); err != nil {
			return Status{}, err
		}
	}
	if d.Image != nil {
		if err := m.st.PutImage(ctx, id, d.Image); err != nil {
			return Status{}, err
		}
	}
	b, err := next.marshal()
	if err != nil {
		return Status{}, err
	}
	v, err := m.st.PutSpec(ctx, id, b, e.version)
	if errors.Is(err, store.ErrConflict) {
		return Status{}, precondition("deployment %s was changed by another request; read it again", id)
	}
	if err != nil {
		return Status{}, err
	}
	e.sp, e.version, e.plan = &next, v, plan
	e.notify()
	return e.compose(nil, false), nil
}

// Image returns the image of a deployment.
func (m *Manager) Image(ctx context.Context, id string) ([]byte, error) {
	if _, err := m.entry(id); err != nil {
		return nil, err
	}
	img, err := m.st.GetImage(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return img, err
}

// Plan plans a campaign with the Manager's defaults.
func (m *Manager) Plan(o Options, imageSize, devices int) (*fuota.Plan, error) {
	if imageSize <= 0 {
		return nil, invalid("image_size", "%d: must be positive", imageSize)
	}
	return m.cfg.Defaults.Plan(o, imageSize, max(devices, 1))
}

// Logs returns up to limit entries of a deployment's log after the entry
// with id after.
func (m *Manager) Logs(ctx context.Context, id, after string, limit int) ([]store.LogEntry, error) {
	if _, err := m.entry(id); err != nil {
		return nil, err
	}
	return m.st.Log(ctx, id, after, int64(limit))
}

// Inventory returns about limit entries of the fleet inventory from cursor
// and the cursor to go on with (0 at the end).
func (m *Manager) Inventory(ctx context.Context, cursor uint64, limit int) ([]store.InventoryEntry, uint64, error) {
	return m.st.ListInventory(ctx, cursor, int64(limit))
}

// Managed reports whether a device is in a deployment running here: the
// integration Filter's Managed.
func (m *Manager) Managed(devEUI lorawan.EUI64) bool {
	return m.route(devEUI) != nil
}

func (m *Manager) route(devEUI lorawan.EUI64) *runner.Runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.routes[devEUI].r
}

var _ integration.Handler = (*Manager)(nil)

// HandleUplink implements integration.Handler: the uplink goes to the
// runner of the deployment the device is in.
func (m *Manager) HandleUplink(ctx context.Context, u integration.Uplink) {
	if r := m.route(u.DevEUI); r != nil {
		r.HandleUplink(ctx, u)
	}
}

// HandleTxAck implements integration.Handler.
func (m *Manager) HandleTxAck(ctx context.Context, a integration.TxAck) {
	if r := m.route(a.DevEUI); r != nil {
		r.HandleTxAck(ctx, a)
	}
}

// HandleAck implements integration.Handler.
func (m *Manager) HandleAck(ctx context.Context, a integration.Ack) {
	if r := m.route(a.DevEUI); r != nil {
		r.HandleAck(ctx, a)
	}
}

// HandleLog implements integration.Handler.
func (m *Manager) HandleLog(ctx context.Context, l integration.Log) {
	if r := m.route(l.DevEUI); r != nil {
		r.HandleLog(ctx, l)
	}
}

// chirpstackRegion maps a region name (lorafuota's or ChirpStack's) to
// ChirpStack's: AS923-1 is ChirpStack's AS923, AS923-2 its AS923_2.
func chirpstackRegion(name string) (string, error) {
	switch name {
	case "EU868", "US915", "AU915", "IN865", "KR920", "AS923", "AS923_2", "AS923_3", "AS923_4",
		"CN470", "CN779", "EU433", "RU864", "ISM2400":
		return name, nil
	case string(region.AS923_1):
		return "AS923", nil
	case string(region.AS923_2), string(region.AS923_3), string(region.AS923_4):
		return "AS923_" + name[len(name)-1:], nil
	}
	return "", fmt.Errorf("region %q: no ChirpStack region of that name", name)
}
