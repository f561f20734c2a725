package boot

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/nvm"
)

// Part is an internal flash part the sweep builds devices on.
type Part string

const (
	PartNOR      Part = "nor"      // W25Q-like SPI NOR (as internal flash: XIP)
	PartSTM32WL  Part = "stm32wl"  // STM32WL: 2 KiB pages, ECC64
	PartNRF52840 Part = "nrf52840" // nRF52840: 4 KiB pages, write limits
)

// Parts lists the parts.
func Parts() []Part { return []Part{PartNOR, PartSTM32WL, PartNRF52840} }

// ParsePart parses a part name.
func ParsePart(s string) (Part, error) {
	for _, p := range Parts() {
		if s == string(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("boot: unknown flash %q (want nor, stm32wl or nrf52840)", s)
}

// Profile returns the part's flash profile, with size bytes instead of the
// part's own size when size is not 0: a larger member of the same family
// (an STM32L4 has the STM32WL's 2 KiB pages and ECC64 words with up to
// 1 MiB), for layouts the real part is too small for.
func (p Part) Profile(size int) (flash.Profile, error) {
	var prof flash.Profile
	switch p {
	case PartNOR:
		return flash.NORW25Q(size), nil
	case PartSTM32WL:
		prof = flash.STM32WL()
	case PartNRF52840:
		prof = flash.NRF52840()
	default:
		return flash.Profile{}, fmt.Errorf("boot: unknown flash %q", string(p))
	}
	if size != 0 {
		sec := prof.SectorSizes[0]
		if size%sec != 0 {
			return flash.Profile{}, fmt.Errorf("boot: %s of %d bytes is not a whole number of %d-byte sectors", prof.Name, size, sec)
		}
		prof.SectorSizes = flash.UniformSectors(size, sec)
		prof.Name = fmt.Sprintf("%s (%s)", prof.Name, sizeName(size))
	}
	return prof, nil
}

func sizeName(n int) string {
	if n%flash.MiB == 0 {
		return fmt.Sprintf("%d MiB", n/flash.MiB)
	}
	return size(n)
}

// SweepConfig says what Sweep runs.
type SweepConfig struct {
	Layout Layout
	Flash  Part
	// ImageSize is the length of the old and the new signed image;
	// 0 means 128 KiB.
	ImageSize int
	// InternalSize replaces the part's size when not 0 (see Part.Profile).
	// 0 is the part's own size, except for NOR, which gets the smallest
	// W25Q from 1 MiB up that holds two images (snapshots of fewer sectors
	// are cheaper); the external NOR of ExternalSwap is sized the same way.
	InternalSize int
	// Modes are the cut modes, each run at every operation; nil means
	// flash.CutModes().
	Modes []flash.CutMode
	// Double also cuts each recovery: at every operation of it in the
	// first cut's mode when DoubleCuts is 0, else at DoubleCuts operations
	// drawn at random, each in a mode drawn from Modes.
	Double     bool
	DoubleCuts int
	// Staging makes the download part of the update: boot, run the old
	// build, erase the staging slot, write the new image, SetPending.
	Staging bool
	// Permanent requests the new image for good rather than on test.
	Permanent bool
	// NewBehaviour is the new build's; a bad one (Hang, FailJoin) must end
	// on the old image in every scenario.
	NewBehaviour Behaviour
	// Seed drives keys, image contents, tears and sampling.
	Seed uint64
	// Workers run scenarios in parallel; 0 means GOMAXPROCS.
	Workers int
}

// SweepResult counts what the devices ran after each scenario. Every
// scenario is counted once in BootedOld, BootedNew, Mixed or Bricked.
type SweepResult struct {
	Layout    string `json:"layout"`
	Flash     string `json:"flash"`
	ImageSize int    `json:"image_size"`
	Modes     string `json:"modes"`
	// Operations are the flash operations of the clean update, on all
	// flashes; InternalOps and ExternalOps split them.
	Operations  int `json:"operations"`
	InternalOps int `json:"internal_ops"`
	ExternalOps int `json:"external_ops"`

	Scenarios       int `json:"scenarios"`
	DoubleScenarios int `json:"double_scenarios"` // of Scenarios, those with a second cut
	BootedOld       int `json:"booted_old"`
	BootedNew       int `json:"booted_new"`
	// Mixed devices run something that is neither image byte for byte.
	Mixed int `json:"mixed"`
	// Bricked devices have nothing that boots, loop without settling, or
	// stop on a flash error that is not a power cut.
	Bricked int `json:"bricked"`
	// CounterRegressions are devices whose persistent counters read lower
	// than the highest values written successfully before or during the
	// update.
	CounterRegressions int `json:"counter_regressions"`
	// Anomalies are other broken invariants of a settled device: a stored
	// security counter that is not its image's, or a request left in the
	// other slot's trailer.
	Anomalies int `json:"anomalies"`
	// Failures describe the first failing scenarios.
	Failures []string `json:"failures,omitempty"`
}

// OK reports whether no device ended mixed, bricked, with a counter that
// went backwards or with another broken invariant.
func (r SweepResult) OK() bool {
	return r.Mixed == 0 && r.Bricked == 0 && r.CounterRegressions == 0 && r.Anomalies == 0
}

const (
	maxFailures = 10
	// maxBoots bounds the boots to completion: a revert takes two, a
	// resumed swap and its test boot two more.
	maxBoots = 8
)

// Sweep runs the power-cut sweep cfg describes; see the package
// documentation. It stops early with ctx's error.
func Sweep(ctx context.Context, cfg SweepConfig) (SweepResult, error) {
	sw, err := newSweeper(cfg)
	if err != nil {
		return SweepResult{}, err
	}
	return sw.run(ctx)
}

// rig is a device's flash: the internal part, the external NOR (nil for
// DualBank) and the bootloader configuration over them.
type rig struct {
	internal, external *flash.Flash
	cfg                Config
	// bufs, if set, are a worker's read buffers, reused by the
	// bootloaders it runs to spare the garbage collector.
	bufs *buffers
}

type buffers struct{ area, image []byte }

// boot returns a bootloader for the rig.
func (r rig) boot() (*Bootloader, error) {
	b, err := New(r.cfg)
	if err != nil {
		return nil, err
	}
	if r.bufs != nil {
		b.buf = r.bufs.area
	}
	return b, nil
}

// done hands the bootloader's buffer back to the worker.
func (r rig) done(b *Bootloader) {
	if r.bufs != nil {
		r.bufs.area = b.buf
	}
}

// branch returns an independent copy of the rig, sharing sectors
// copy-on-write.
func (r rig) branch() rig {
	q := rig{internal: r.internal.Snapshot(), cfg: r.cfg, bufs: r.bufs}
	p, err := r.cfg.Partitions.Rebind(r.internal, q.internal)
	if err != nil {
		panic(err) // same geometry: cannot fail
	}
	if r.external != nil {
		q.external = r.external.Snapshot()
		if p, err = p.Rebind(r.external, q.external); err != nil {
			panic(err)
		}
	}
	q.cfg.Partitions = p
	return q
}

func (r rig) flashes() []*flash.Flash {
	if r.external == nil {
		return []*flash.Flash{r.internal}
	}
	return []*flash.Flash{r.internal, r.external}
}

func (r rig) ops() []int {
	var n []int
	for _, f := range r.flashes() {
		n = append(n, f.Ops())
	}
	return n
}

func (r rig) powerOn() {
	for _, f := range r.flashes() {
		f.PowerOn()
	}
}

func (r rig) seed(s uint64) {
	for i, f := range r.flashes() {
		f.Seed(s*2 + uint64(i))
	}
}

// ledger is the highest value of each counter the device wrote
// successfully: what no later read may fall below.
type ledger struct{ max nvm.Counters }

func (l *ledger) observe(s *nvm.Store) {
	if s != nil {
		l.max = l.max.Max(s.Counters())
	}
}

type sweeper struct {
	cfg      SweepConfig
	modes    []flash.CutMode
	base     rig
	old, new []byte
	before   nvm.Counters
	cps      []checkpoint
}

func newSweeper(cfg SweepConfig) (*sweeper, error) {
	cfg.ImageSize = cmp.Or(cfg.ImageSize, 128*flash.KiB)
	sw := &sweeper{cfg: cfg, modes: cfg.Modes}
	if sw.modes == nil {
		sw.modes = flash.CutModes()
	}
	if len(sw.modes) == 0 {
		return nil, errors.New("boot: sweep: no cut modes")
	}
	// A W25Q80-size NOR (1 MiB) holds the slots of images up to about
	// 450 KiB; larger images get a larger part. Fewer sectors make
	// snapshots cheaper than the default 8 MiB would.
	nor := flash.MiB
	for nor < 2*cfg.ImageSize+64*flash.KiB {
		nor *= 2
	}
	internalSize := cfg.InternalSize
	if internalSize == 0 && cfg.Flash == PartNOR {
		internalSize = nor
	}
	prof, err := cfg.Flash.Profile(internalSize)
	if err != nil {
		return nil, fmt.Errorf("boot: sweep: %w", err)
	}
	r := rig{}
	if r.internal, err = flash.New(prof, flash.WithSeed(cfg.Seed)); err != nil {
		return nil, fmt.Errorf("boot: sweep: %w", err)
	}
	if cfg.Layout == ExternalSwap {
		if r.external, err = flash.New(flash.NORW25Q(nor), flash.WithSeed(cfg.Seed+1)); err != nil {
			return nil, fmt.Errorf("boot: sweep: %w", err)
		}
	}
	parts, err := Plan(cfg.Layout, r.internal, r.external, PlanOptions{MaxImage: cfg.ImageSize})
	if err != nil {
		return nil, err // says what does not fit where
	}
	key, err := image.GenerateKey(image.Ed25519, rand.NewChaCha8(seed32(cfg.Seed)))
	if err != nil {
		return nil, fmt.Errorf("boot: sweep: %w", err)
	}
	r.cfg = Config{Layout: cfg.Layout, Partitions: parts, TrustedKeys: []crypto.PublicKey{key.Public()}}
	spec := FirmwareSpec{Key: key, Size: cfg.ImageSize, Seed: cfg.Seed}
	spec.Version, spec.SecurityCounter, spec.Behaviour = image.Version{Major: 1}, 1, Good
	if sw.old, err = FirmwareImage(spec); err != nil {
		return nil, fmt.Errorf("boot: sweep: old image: %w", err)
	}
	spec.Version, spec.SecurityCounter, spec.Behaviour = image.Version{Major: 2}, 2, cfg.NewBehaviour
	if sw.new, err = FirmwareImage(spec); err != nil {
		return nil, fmt.Errorf("boot: sweep: new image: %w", err)
	}

	// The device in the field: old image installed, booted, confirmed, with
	// some history in its counters; the new image staged and pending.
	b, err := New(r.cfg)
	if err != nil {
		return nil, fmt.Errorf("boot: sweep: %w", err)
	}
	if err := b.Install(sw.old); err != nil {
		return nil, fmt.Errorf("boot: sweep: %w", err)
	}
	if _, err := b.Boot(); err != nil {
		return nil, fmt.Errorf("boot: sweep: first boot: %w", err)
	}
	s := b.NVM()
	for _, set := range []func() error{
		func() error { return s.SetDevNonce(100) },
		func() error { return s.SetFCntUp(5000) },
		func() error { return s.SetNFCntDown(40) },
		func() error { return s.SetAFCntDown(30) },
		func() error { return s.SetSessionCntPrev(0, 3) },
		func() error { return s.SetSessionCntPrev(2, 7) },
		func() error { return s.SetSetting("region", []byte("EU868")) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("boot: sweep: NVM: %w", err)
		}
	}
	if _, err := b.RunApp(App{}); err != nil {
		return nil, fmt.Errorf("boot: sweep: first run: %w", err)
	}
	if !cfg.Staging {
		if err := b.Stage(sw.new); err != nil {
			return nil, fmt.Errorf("boot: sweep: %w", err)
		}
		if err := b.SetPending(cfg.Permanent); err != nil {
			return nil, fmt.Errorf("boot: sweep: %w", err)
		}
	}
	sw.before = s.Counters()
	sw.base = r
	return sw, nil
}

// update is what the sweep cuts: the download with cfg.Staging, then the
// tail.
func (sw *sweeper) update(r rig, led *ledger, onStatus func(*Bootloader)) error {
	if sw.cfg.Staging {
		b, err := r.boot()
		if err != nil {
			return err
		}
		defer r.done(b)
		_, err = b.Boot()
		led.observe(b.NVM())
		if err != nil {
			return err
		}
		_, err = b.RunApp(App{})
		led.observe(b.NVM())
		if err != nil {
			return err
		}
		if err := b.Stage(sw.new); err != nil {
			return err
		}
		if err := b.SetPending(sw.cfg.Permanent); err != nil {
			return err
		}
	}
	return sw.tail(r, led, onStatus)
}

// tail is the reset into the update and the first run of what it boots.
func (sw *sweeper) tail(r rig, led *ledger, onStatus func(*Bootloader)) error {
	b, err := r.boot()
	if err != nil {
		return err
	}
	defer r.done(b)
	b.onStatus = onStatus
	_, err = b.Boot()
	led.observe(b.NVM())
	if err != nil {
		return err
	}
	_, err = b.RunApp(App{})
	led.observe(b.NVM())
	return err
}

// checkpoint is the device in the middle of the clean update, right after
// the bootloader recorded swap progress: a fresh boot from there does what
// the clean run did next, so a cut run can start there.
type checkpoint struct {
	rig rig
	ops []int // operations on each flash since the update began
	led ledger
}

// outcome is where a device settled.
type outcome struct {
	res     Result
	bricked error // why it never settled
}

// settle boots the device until it runs a confirmed image with nothing left
// to do, running the application after each boot.
func (sw *sweeper) settle(r rig, led *ledger) (outcome, error) {
	b, err := r.boot()
	if err != nil {
		return outcome{}, err
	}
	defer r.done(b)
	for range maxBoots {
		res, err := b.Boot()
		led.observe(b.NVM())
		if err != nil {
			if errors.Is(err, flash.ErrPowerCut) {
				return outcome{}, err
			}
			return outcome{bricked: err}, nil
		}
		app, err := b.RunApp(App{})
		led.observe(b.NVM())
		if err != nil {
			if errors.Is(err, flash.ErrPowerCut) {
				return outcome{}, err
			}
			return outcome{bricked: fmt.Errorf("running %v: %w", res.Version, err)}, nil
		}
		if run, _ := b.Running(); app.Reset == NoReset && !run.Test {
			return outcome{res: run}, nil
		}
	}
	return outcome{bricked: fmt.Errorf("no stable boot after %d resets", maxBoots)}, nil
}

// tally is the outcome of one or more scenarios.
type tally struct {
	scenarios, doubles, old, new, mixed, bricked, regressions, anomalies int
	failures                                                             []failure
}

type failure struct {
	idx  int
	desc string
}

func (t *tally) add(u tally) {
	t.scenarios += u.scenarios
	t.doubles += u.doubles
	t.old += u.old
	t.new += u.new
	t.mixed += u.mixed
	t.bricked += u.bricked
	t.regressions += u.regressions
	t.anomalies += u.anomalies
	t.failures = append(t.failures, u.failures...)
}

// classify settles a device after its cuts and counts the outcome.
func (sw *sweeper) classify(t *tally, idx int, name string, r rig, led *ledger) {
	t.scenarios++
	fail := func(format string, args ...any) {
		t.failures = append(t.failures, failure{idx, name + ": " + fmt.Sprintf(format, args...)})
	}
	out, err := sw.settle(r, led)
	switch {
	case err != nil:
		t.bricked++
		fail("power cut with no cut armed: %v", err)
		return
	case out.bricked != nil:
		t.bricked++
		fail("bricked: %v", out.bricked)
		return
	}
	var run []byte
	if r.bufs != nil {
		r.bufs.image = slices.Grow(r.bufs.image[:0], len(sw.new))[:len(sw.new)]
		run = r.bufs.image
	} else {
		run = make([]byte, len(sw.new))
	}
	if err := out.res.Area.Read(0, run); err != nil {
		t.bricked++
		fail("reading the running image: %v", err)
		return
	}
	switch {
	case bytes.Equal(run, sw.new):
		t.new++
	case bytes.Equal(run[:len(sw.old)], sw.old):
		t.old++
	default:
		t.mixed++
		fail("runs %v from slot %d, neither image byte for byte", out.res.Version, out.res.Slot)
	}
	s, err := nvm.Open(r.cfg.NVM)
	if err != nil {
		t.regressions++
		fail("reopening NVM: %v", err)
		return
	}
	c := s.Counters()
	if behind := c.Behind(led.max); len(behind) > 0 {
		t.regressions++
		fail("counters went backwards: %s (%+v, written %+v)", strings.Join(behind, ", "), c, led.max)
	}
	if c.SecurityCounter != out.res.SecurityCounter {
		t.anomalies++
		fail("stored security counter %d, running image's %d", c.SecurityCounter, out.res.SecurityCounter)
	}
	if why := sw.leftover(r, out.res); why != "" {
		t.anomalies++
		fail("%s", why)
	}
}

// leftover checks the other slot's trailer of a settled device, as
// MCUboot's simulator does: no request may be left pending. (A torn
// SetPending leaves a bad magic, which is no request: the application gets
// ErrBadTrailer and stages again.)
func (sw *sweeper) leftover(r rig, run Result) string {
	b, err := New(r.cfg)
	if err != nil {
		return err.Error()
	}
	other := 1
	if r.cfg.Layout == DualBank {
		other = 1 - run.Slot
	}
	tr, err := b.Trailer(other)
	switch {
	case err != nil:
		return err.Error()
	case r.cfg.Layout == ExternalSwap && tr.Magic == Set:
		// Bad is a request a cut tore, which never was one.
		return fmt.Sprintf("secondary trailer left behind: %+v", tr)
	case tr.Magic == Set && tr.CopyDone == Unset:
		return fmt.Sprintf("%s still pending: %+v", b.slots[other].name(), tr)
	}
	return ""
}

// cut is a cut point: the op-th operation on flash fl (0 internal,
// 1 external) in mode.
type cut struct {
	fl, op int
	mode   flash.CutMode
}

func (c cut) String() string {
	where := "internal"
	if c.fl == 1 {
		where = "external"
	}
	return fmt.Sprintf("%v at %s op %d", c.mode, where, c.op)
}

func (r rig) arm(c cut) { r.flashes()[c.fl].ArmCut(c.op, c.mode) }

func (r rig) fired(c cut) bool { return r.flashes()[c.fl].PoweredOff() }

// counts returns the operations run since base on each flash.
func counts(r rig, base []int) []int {
	n := r.ops()
	for i := range n {
		n[i] -= base[i]
	}
	return n
}

func (sw *sweeper) run(ctx context.Context) (SweepResult, error) {
	cfg := sw.cfg
	res := SweepResult{
		Layout:    cfg.Layout.String(),
		Flash:     string(cfg.Flash),
		ImageSize: cfg.ImageSize,
		Modes:     modeNames(sw.modes),
	}
	n, err := sw.cleanRun()
	if err != nil {
		return res, err
	}
	res.InternalOps = n[0]
	if len(n) > 1 {
		res.ExternalOps = n[1]
	}
	res.Operations = res.InternalOps + res.ExternalOps

	var cuts []cut
	for _, m := range sw.modes {
		for fl, nf := range n {
			for op := 1; op <= nf; op++ {
				cuts = append(cuts, cut{fl, op, m})
			}
		}
	}
	workers := cmp.Or(cfg.Workers, runtime.GOMAXPROCS(0))
	var (
		mu    sync.Mutex
		total tally
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			var t tally
			bufs := new(buffers)
			for i := range next {
				if err := sw.scenario(&t, bufs, i, cuts[i]); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
			mu.Lock()
			total.add(t)
			mu.Unlock()
		})
	}
feed:
	for i := range cuts {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	slices.SortFunc(total.failures, func(a, b failure) int { return a.idx - b.idx })
	for _, f := range total.failures[:min(len(total.failures), maxFailures)] {
		res.Failures = append(res.Failures, f.desc)
	}
	res.Scenarios, res.DoubleScenarios = total.scenarios, total.doubles
	res.BootedOld, res.BootedNew = total.old, total.new
	res.Mixed, res.Bricked = total.mixed, total.bricked
	res.CounterRegressions, res.Anomalies = total.regressions, total.anomalies
	if first != nil {
		return res, fmt.Errorf("boot: sweep: %w", first)
	}
	return res, nil
}

// scenario runs the update cut at c, then settles the device; with Double
// it also cuts the recovery.
func (sw *sweeper) scenario(t *tally, bufs *buffers, idx int, c cut) error {
	r, led, err := sw.cutUpdate(c, bufs, sw.cfg.Seed^uint64(idx)*0x9e3779b97f4a7c15)
	if !r.fired(c) || !errors.Is(err, flash.ErrPowerCut) {
		return fmt.Errorf("%v: the cut did not fire as in the clean run (error %v)", c, err)
	}
	r.powerOn()
	if !sw.cfg.Double {
		sw.classify(t, idx, c.String(), r, led)
		return nil
	}

	// Count the recovery's operations on a copy, then cut it.
	probe := r.branch()
	pled := *led
	sw.classify(t, idx, c.String(), probe, &pled)
	m := counts(probe, r.ops())
	var seconds []cut
	for fl, nf := range m {
		for op := 1; op <= nf; op++ {
			seconds = append(seconds, cut{fl, op, c.mode})
		}
	}
	if k := sw.cfg.DoubleCuts; k > 0 {
		rng := rand.New(rand.NewPCG(sw.cfg.Seed, uint64(idx)))
		rng.Shuffle(len(seconds), func(i, j int) { seconds[i], seconds[j] = seconds[j], seconds[i] })
		seconds = seconds[:min(k, len(seconds))]
		for i := range seconds {
			seconds[i].mode = sw.modes[rng.IntN(len(sw.modes))]
		}
	}
	for _, c2 := range seconds {
		q := r.branch() // the same generator state as the probe, so the same operations
		qled := *led
		q.arm(c2)
		_, err := sw.settle(q, &qled)
		if !q.fired(c2) || !errors.Is(err, flash.ErrPowerCut) {
			return fmt.Errorf("%v, then %v in the recovery: the cut did not fire (error %v)", c, c2, err)
		}
		q.powerOn()
		t.doubles++
		sw.classify(t, idx, fmt.Sprintf("%v, then %v in the recovery", c, c2), q, &qled)
	}
	return nil
}

// cleanRun runs the update without a cut: it counts the operations on
// each flash, leaves the checkpoints and checks the device ends as it
// should.
func (sw *sweeper) cleanRun() ([]int, error) {
	clean := sw.base.branch()
	led := &ledger{max: sw.before}
	start := sw.base.ops()
	sw.cps = nil
	err := sw.update(clean, led, func(b *Bootloader) {
		cp := checkpoint{rig: clean.branch(), ops: counts(clean, start), led: *led}
		cp.led.observe(b.NVM())
		sw.cps = append(sw.cps, cp)
	})
	if err != nil {
		return nil, fmt.Errorf("boot: sweep: clean update: %w", err)
	}
	n := counts(clean, start)
	var t tally
	sw.classify(&t, 0, "clean update", clean, led)
	want := t.new
	if sw.cfg.NewBehaviour != Good {
		want = t.old
	}
	if want != 1 || len(t.failures) > 0 {
		return nil, fmt.Errorf("boot: sweep: the clean update ended wrong: %+v", t)
	}
	return n, nil
}

// cutUpdate runs the update cut at c, from the last checkpoint before the
// cut if there is one.
func (sw *sweeper) cutUpdate(c cut, bufs *buffers, seed uint64) (rig, *ledger, error) {
	k, _ := slices.BinarySearchFunc(sw.cps, c.op, func(cp checkpoint, op int) int { return cmp.Compare(cp.ops[c.fl], op) })
	if k == 0 {
		r := sw.base.branch()
		r.bufs = bufs
		r.seed(seed)
		led := &ledger{max: sw.before}
		r.arm(c)
		return r, led, sw.update(r, led, nil)
	}
	cp := sw.cps[k-1]
	r := cp.rig.branch()
	r.bufs = bufs
	r.seed(seed)
	led := cp.led
	r.arm(cut{c.fl, c.op - cp.ops[c.fl], c.mode})
	return r, &led, sw.tail(r, &led, nil)
}

func modeNames(modes []flash.CutMode) string {
	var s []string
	for _, m := range modes {
		s = append(s, m.String())
	}
	return strings.Join(s, ",")
}

// seed32 stretches a seed into a ChaCha8 key.
func seed32(s uint64) [32]byte {
	var k [32]byte
	for i := range 4 {
		v := s + uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			k[i*8+j] = byte(v >> (8 * j))
		}
	}
	return k
}
