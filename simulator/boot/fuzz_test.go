package boot

import (
	"bytes"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/nvm"
)

// FuzzBoot boots a device whose flash holds arbitrary bootloader state: the
// bytes of both image trailers, the bootloader's records in the NVM area
// (swap status, test boot count, security counter) and images picked from a
// catalogue for the slots and the scratch area. Its inputs:
//
//   - cfg: bit 0 the layout (DualBank, ExternalSwap), bits 1–2 the internal
//     part (STM32WL, nRF52840, NOR, STM32WL), bit 3 MaxTestBoots 3 instead
//     of 1, bit 4 program every trailer unit, erased-looking ones too (cells
//     written though they read erased), bits 5–7 a power cut on the last
//     trailer program (0 none, else flash.CutModes()[v-1]), bit 8 with
//     Metastable, bit 9 flash that erases to 0x00, bits 10–15 the seed of
//     the flashes' generators.
//   - imgs: bits 0–2 the image in slot 0 and bits 3–5 in slot 1 (see
//     fuzzKit), bits 6–7 the scratch area (erased, v1, v2, garbage).
//   - secCnt: the stored security counter (0: none stored).
//   - status, boots: the raw values of the swap status and test boot count
//     records (empty: no record).
//   - tr0, tr1: the trailer bytes of slot 0 and slot 1, from the trailer's
//     first byte; missing bytes are erased.
//
// A boot must be deterministic (two boots of copies of the flash decide the
// same and leave the same bytes), fail only with ErrNoBootableImage, run
// only an image that verifies against the trusted key and the stored
// security counter, raise that counter only for a confirmed image and never
// touch the application's counters. It must not brick: when the primary
// slot (either bank for DualBank) holds an image that verifies, the boot
// finds something to run, unless the NVM area records a swap in progress
// that the boot can resume: a resumed swap trusts the scratch area to hold
// what the record says, which arbitrary input does not. The device must
// also survive the next reset: a confirmed image runs again, unchanged; an
// image on test boots again (reverted or kept) and, once confirmed, stays.
func FuzzBoot(f *testing.F) {
	kit, err := getFuzzKit()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cfg uint16, imgs, secCnt uint8, status, boots, tr0, tr1 []byte) {
		in := fuzzBootInput{cfg, imgs, secCnt, status, boots, tr0, tr1}
		b, err := kit.device(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := kit.load(b, in); err != nil {
			t.Fatalf("loading the flash: %v", err)
		}
		checkBoot(t, kit, b)
	})
}

// checkBoot checks the properties FuzzBoot lists on device b, not yet
// booted; b itself is only ever copied.
func checkBoot(t *testing.T, kit *fuzzKit, b *Bootloader) {
	// What is on the flash before the boot, read from a copy.
	pre := clone(t, b)
	st, err := nvm.Open(pre.cfg.NVM)
	if err != nil {
		t.Fatalf("NVM: %v", err)
	}
	before := st.Counters()
	stored := before.SecurityCounter
	bootable := false
	slots := 2
	if pre.cfg.Layout == ExternalSwap {
		slots = 1
		if v, ok := st.Get(keySwapStatus); ok && swapInProgress(pre, v) {
			// A swap in progress moves the secondary and the scratch
			// area into the primary slot: its image says nothing.
			slots = 0
		}
	}
	for i := range slots {
		if _, err := pre.verify(pre.slots[i].area, stored); err == nil {
			bootable = true
		}
	}

	// Two boots of the same bytes decide the same.
	a, a2 := clone(t, b), clone(t, b)
	res, err := a.Boot()
	res2, err2 := a2.Boot()
	if fmt.Sprint(err) != fmt.Sprint(err2) || describe(res) != describe(res2) {
		t.Fatalf("the same flash booted twice: %s (%v), then %s (%v)", describe(res), err, describe(res2), err2)
	}
	if d, d2 := dumpFlash(t, a), dumpFlash(t, a2); !bytes.Equal(d, d2) {
		t.Fatal("the same flash booted twice left different bytes")
	}
	if err != nil {
		if !errors.Is(err, ErrNoBootableImage) {
			t.Fatalf("Boot: %v, want success or ErrNoBootableImage", err)
		}
		if bootable {
			t.Fatalf("Boot: %v, but slot 0 (or a bank) held an image that verifies", err)
		}
		return
	}
	checkRun(t, kit, a, res, before)

	// The next reset.
	next := clone(t, a)
	res2, err = next.Boot()
	if err != nil {
		t.Fatalf("the boot after %s: %v", describe(res), err)
	}
	checkRun(t, kit, next, res2, a.NVM().Counters())
	if !res.Test {
		if res2.Slot != res.Slot || res2.Digest != res.Digest || res2.Test || res2.Swap != SwapNone || res2.Resumed {
			t.Fatalf("a confirmed image did not run again unchanged: %s, then %s", describe(res), describe(res2))
		}
		return
	}
	// An image on test, confirmed, stays. The boot is deterministic, so
	// booting a copy of b again reaches the same state to confirm from.
	c := clone(t, b)
	if _, err := c.Boot(); err != nil {
		t.Fatal(err)
	}
	if err := c.Confirm(); err != nil {
		// image_ok torn, or a unit that reads erased but is written:
		// the image stays on test, which the boot above covers.
		return
	}
	if got := c.NVM().SecurityCounter(0); got < res.SecurityCounter {
		t.Fatalf("security counter %d after confirming an image with %d", got, res.SecurityCounter)
	}
	confirmed := c.NVM().Counters()
	res3, err := c.Boot()
	if err != nil {
		t.Fatalf("the boot after confirming %s: %v", describe(res), err)
	}
	checkRun(t, kit, c, res3, confirmed)
	if res3.Slot != res.Slot || res3.Digest != res.Digest || res3.Test {
		t.Fatalf("a confirmed test image did not stay: %s, confirmed, then %s", describe(res), describe(res3))
	}
}

// checkRun checks what booted b chose to run: an image that verifies, the
// one the result describes, and counters as they should be given those
// before the boot.
func checkRun(t *testing.T, kit *fuzzKit, b *Bootloader, res Result, before nvm.Counters) {
	t.Helper()
	s := b.NVM()
	now := s.Counters()
	if now.DevNonce != before.DevNonce || now.FCntUp != before.FCntUp {
		t.Fatalf("the boot changed the application's counters: %+v, then %+v", before, now)
	}
	switch {
	case now.SecurityCounter < before.SecurityCounter:
		t.Fatalf("security counter went from %d to %d", before.SecurityCounter, now.SecurityCounter)
	case res.Test && now.SecurityCounter != before.SecurityCounter:
		t.Fatalf("security counter raised from %d to %d for an image on test", before.SecurityCounter, now.SecurityCounter)
	case !res.Test && now.SecurityCounter < res.SecurityCounter:
		t.Fatalf("security counter %d below the %d of the confirmed image", now.SecurityCounter, res.SecurityCounter)
	}
	if res.Area != b.slots[res.Slot].area {
		t.Fatalf("result area %s is not slot %d", res.Area.Name(), res.Slot)
	}
	buf := make([]byte, res.Area.Size())
	if err := res.Area.Read(0, buf); err != nil {
		t.Fatal(err)
	}
	floor := now.SecurityCounter
	rep := image.Verify(buf, kit.key.Public(), image.VerifyOptions{MinSecurityCounter: &floor, Slot: true})
	if !rep.OK() {
		t.Fatalf("booted %s, which fails verification: %v", describe(res), rep.Failed())
	}
	img := rep.Image
	n, _, _ := img.SecurityCounter()
	sha, _ := img.Find(image.TLVSHA256, false)
	if img.Version != res.Version || img.Len() != res.Size || n != res.SecurityCounter || !bytes.Equal(sha.Value, res.Digest[:]) {
		t.Fatalf("result %s does not describe the image in slot %d (version %v, %d bytes, counter %d)",
			describe(res), res.Slot, img.Version, img.Len(), n)
	}
}

// swapInProgress reports whether v, the swap status record, is a swap in
// progress a boot can resume: format 1, swapping, a known type, and a unit
// and step within the slots.
func swapInProgress(b *Bootloader, v []byte) bool {
	st, ok := decodeStatus(v)
	return ok && st.Phase == phaseSwap &&
		(st.Type == SwapTest || st.Type == SwapPerm || st.Type == SwapRevert) &&
		st.Units > 0 && int(st.Units)*b.unit <= b.slots[0].area.Size() &&
		st.Unit < st.Units && st.Step <= 2
}

// describe is a result in words, for comparisons and messages.
func describe(r Result) string {
	area := ""
	if r.Area != nil {
		area = r.Area.Name()
	}
	return fmt.Sprintf("{slot %d (%s) v%v %d bytes digest %x counter %d test %v swap %v resumed %v rejected %v firmware %+v}",
		r.Slot, area, r.Version, r.Size, r.Digest[:4], r.SecurityCounter, r.Test, r.Swap, r.Resumed, r.Rejected, r.Firmware)
}

// clone returns a bootloader for a copy of b's flashes, not booted.
func clone(t testing.TB, b *Bootloader) *Bootloader {
	t.Helper()
	c, err := cloneDevice(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cloneDevice(b *Bootloader) (*Bootloader, error) {
	cfg := b.cfg
	p := cfg.Partitions
	for _, f := range flashes(b) {
		var err error
		if p, err = p.Rebind(f, f.Snapshot()); err != nil {
			return nil, err
		}
	}
	cfg.Partitions = p
	return New(cfg)
}

// flashes returns the distinct flashes of b's partitions.
func flashes(b *Bootloader) []*flash.Flash {
	var fs []*flash.Flash
	for _, r := range []*flash.Region{b.cfg.Slots[0], b.cfg.Slots[1], b.cfg.Scratch, b.cfg.NVM} {
		if r != nil && !containsFlash(fs, r.Flash()) {
			fs = append(fs, r.Flash())
		}
	}
	return fs
}

func containsFlash(fs []*flash.Flash, f *flash.Flash) bool {
	for _, g := range fs {
		if g == f {
			return true
		}
	}
	return false
}

// dumpFlash reads every partition of b.
func dumpFlash(t *testing.T, b *Bootloader) []byte {
	t.Helper()
	var out []byte
	for _, r := range []*flash.Region{b.cfg.Slots[0], b.cfg.Slots[1], b.cfg.Scratch, b.cfg.NVM} {
		if r == nil {
			continue
		}
		p := make([]byte, r.Size())
		if err := r.Read(0, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p...)
	}
	for _, f := range flashes(b) {
		out = fmt.Appendf(out, "ops %d", f.Ops())
	}
	return out
}

// Input decoding.

const (
	fuzzExternalSwap = 0x001
	fuzzPartShift    = 1
	fuzzTestBoots    = 0x008
	fuzzProgramAll   = 0x010
	fuzzCutShift     = 5
	fuzzMetastable   = 0x100
	fuzzErasedZero   = 0x200
	fuzzSeedShift    = 10

	fuzzImageSize = 1536
	fuzzFlashSize = 64 * flash.KiB
)

var fuzzParts = [...]Part{PartSTM32WL, PartNRF52840, PartNOR, PartSTM32WL}

type fuzzBootInput struct {
	cfg                     uint16
	imgs, secCnt            uint8
	status, boots, tr0, tr1 []byte
}

// fuzzKit is the signing key and the image catalogue: 0 nothing (erased),
// 1–3 good images v1–v3 with security counters 1–3, 4 a v4 signed with an
// unknown key, 5 v2 with a payload byte flipped, 6 the first half of v2,
// 7 random bytes.
type fuzzKit struct {
	key  crypto.Signer
	imgs [8][]byte
}

var getFuzzKit = sync.OnceValues(func() (*fuzzKit, error) {
	kit := &fuzzKit{}
	var err error
	if kit.key, err = image.GenerateKey(image.Ed25519, rand.NewChaCha8([32]byte{'f', 'u', 'z', 'z'})); err != nil {
		return nil, err
	}
	other, err := image.GenerateKey(image.Ed25519, rand.NewChaCha8([32]byte{'o', 't', 'h', 'e', 'r'}))
	if err != nil {
		return nil, err
	}
	for i, key := range []crypto.Signer{kit.key, kit.key, kit.key, other} {
		v := uint8(i + 1)
		kit.imgs[v], err = FirmwareImage(FirmwareSpec{
			Version: image.Version{Major: v}, SecurityCounter: uint32(v), Key: key, Size: fuzzImageSize, Seed: uint64(v),
		})
		if err != nil {
			return nil, err
		}
	}
	kit.imgs[5] = bytes.Clone(kit.imgs[2])
	kit.imgs[5][fuzzImageSize/2] ^= 0x10
	kit.imgs[6] = kit.imgs[2][:fuzzImageSize/2]
	kit.imgs[7] = make([]byte, fuzzImageSize)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range kit.imgs[7] {
		kit.imgs[7][i] = byte(rng.Uint32())
	}
	return kit, nil
})

// device builds the erased device in.cfg describes.
func (kit *fuzzKit) device(in fuzzBootInput) (*Bootloader, error) {
	layout := DualBank
	if in.cfg&fuzzExternalSwap != 0 {
		layout = ExternalSwap
	}
	prof, err := fuzzParts[in.cfg>>fuzzPartShift&3].Profile(fuzzFlashSize)
	if err != nil {
		return nil, err
	}
	seed := uint64(in.cfg >> fuzzSeedShift)
	opts := []flash.Option{flash.WithSeed(seed)}
	if in.cfg&fuzzErasedZero != 0 {
		opts = append(opts, flash.WithErasedValue(0x00))
	}
	internal, err := flash.New(prof, opts...)
	if err != nil {
		return nil, err
	}
	var external *flash.Flash
	if layout == ExternalSwap {
		opts[0] = flash.WithSeed(seed + 1)
		if external, err = flash.New(flash.NORW25Q(fuzzFlashSize), opts...); err != nil {
			return nil, err
		}
	}
	parts, err := Plan(layout, internal, external, PlanOptions{MaxImage: fuzzImageSize})
	if err != nil {
		return nil, err
	}
	cfg := Config{Layout: layout, Partitions: parts, TrustedKeys: []crypto.PublicKey{kit.key.Public()}}
	if in.cfg&fuzzTestBoots != 0 {
		cfg.MaxTestBoots = 3
	}
	return New(cfg)
}

// load puts in's state on b's erased flash: the NVM records, the images,
// then the trailers, one program per run of units, the last one cut if in
// says so.
func (kit *fuzzKit) load(b *Bootloader, in fuzzBootInput) error {
	s, err := nvm.Open(b.cfg.NVM)
	if err != nil {
		return err
	}
	// Application counters, which no boot may touch.
	if err := s.SetDevNonce(5); err != nil {
		return err
	}
	if err := s.SetFCntUp(10); err != nil {
		return err
	}
	if in.secCnt != 0 {
		if err := s.SetSecurityCounter(0, uint32(in.secCnt)); err != nil {
			return err
		}
	}
	for _, rec := range []struct {
		key nvm.Key
		v   []byte
	}{{keySwapStatus, in.status}, {keyTestBoots, in.boots}} {
		if len(rec.v) > 0 {
			if err := s.Set(rec.key, rec.v[:min(len(rec.v), 16)]); err != nil {
				return err
			}
		}
	}
	for i, sel := range []uint8{in.imgs & 7, in.imgs >> 3 & 7} {
		if img := kit.imgs[sel]; img != nil {
			if err := b.write(b.slots[i].area, 0, img); err != nil {
				return err
			}
		}
	}
	if b.scratch != nil {
		if img := kit.imgs[[4]int{0, 1, 2, 7}[in.imgs>>6]]; img != nil {
			if err := b.write(b.scratch, 0, img); err != nil {
				return err
			}
		}
	}

	type span struct {
		r    *flash.Region
		off  int
		data []byte
	}
	var spans []span
	for i, tr := range [][]byte{in.tr0, in.tr1} {
		sl := b.slots[i]
		g := sl.r.Flash().Geometry()
		content := bytes.Repeat([]byte{g.ErasedValue}, sl.tf.len())
		copy(content, tr)
		var k = -1
		for o := 0; o < len(content); o += g.ProgramUnit {
			u := content[o : o+g.ProgramUnit]
			if in.cfg&fuzzProgramAll == 0 && allEqual(u, g.ErasedValue) {
				k = -1
				continue
			}
			off := sl.toff + o
			page := g.PageSize != 0 && (sl.tsector.Offset()+off)%g.PageSize == 0
			if k >= 0 && !page {
				spans[k].data = append(spans[k].data, u...)
				continue
			}
			spans = append(spans, span{sl.tsector, off, bytes.Clone(u)})
			k = len(spans) - 1
		}
	}
	var cut flash.CutMode
	if m := in.cfg >> fuzzCutShift & 7; m != 0 {
		cut = flash.CutModes()[m-1]
		if in.cfg&fuzzMetastable != 0 {
			cut |= flash.Metastable
		}
	}
	for i, sp := range spans {
		if i == len(spans)-1 && in.cfg>>fuzzCutShift&7 != 0 {
			sp.r.Flash().ArmCut(1, cut)
		}
		if err := sp.r.Program(sp.off, sp.data); err != nil && !errors.Is(err, flash.ErrPowerCut) {
			return err
		}
	}
	for _, f := range flashes(b) {
		f.Disarm()
		f.PowerOn()
	}
	return nil
}

// Seed corpus.

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzBoot from real device states")

// TestFuzzBootSeeds regenerates the seed corpus of FuzzBoot from real
// device states and checks that testdata holds it, so that the seeds follow
// the formats. Run with -update-fuzz-seeds to rewrite the files. Files the
// fuzzer added (crashers kept as regression inputs) are left alone.
func TestFuzzBootSeeds(t *testing.T) {
	seeds := fuzzBootSeeds(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzBoot")
	if *updateSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, sd := range seeds {
		path := filepath.Join(dir, sd.name)
		want := sd.in.corpusFile()
		if *updateSeeds {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale: go test ./simulator/boot -run '^TestFuzzBootSeeds$' -update-fuzz-seeds", path)
		}
	}
}

// corpusFile encodes the input in the `go test fuzz v1` format.
func (in fuzzBootInput) corpusFile() []byte {
	return fmt.Appendf(nil, "go test fuzz v1\nuint16(%d)\nbyte(%q)\nbyte(%q)\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n[]byte(%q)\n",
		in.cfg, in.imgs, in.secCnt, in.status, in.boots, in.tr0, in.tr1)
}

type fuzzBootSeed struct {
	name string
	in   fuzzBootInput
}

// capture reads b's bootloader state back into an input for cfg: the
// trailers, the NVM records, and which catalogue images the slots and the
// scratch area hold.
func (kit *fuzzKit) capture(t testing.TB, b *Bootloader, cfg uint16) fuzzBootInput {
	t.Helper()
	in := fuzzBootInput{cfg: cfg}
	for i, tr := range []*[]byte{&in.tr0, &in.tr1} {
		sl := b.slots[i]
		p := make([]byte, sl.tf.len())
		must(t, sl.tsector.Read(sl.toff, p))
		erased := sl.r.Flash().ErasedValue()
		for len(p) > 0 && p[len(p)-1] == erased {
			p = p[:len(p)-1]
		}
		*tr = p
	}
	which := func(r *flash.Region, cands ...uint8) uint8 {
		p := make([]byte, r.Size())
		must(t, r.Read(0, p))
		for _, k := range cands {
			img := kit.imgs[k]
			if bytes.HasPrefix(p, img) && allEqual(p[len(img):], r.Flash().ErasedValue()) {
				return k
			}
		}
		return 0 // nothing the catalogue has: an invalidated bank, say
	}
	in.imgs = which(b.slots[0].area, 1, 2, 3) | which(b.slots[1].area, 1, 2, 3)<<3
	if b.scratch != nil {
		in.imgs |= which(b.scratch, 1, 2) << 6
	}
	st, err := nvm.Open(clone(t, b).cfg.NVM)
	must(t, err)
	in.secCnt = uint8(min(st.SecurityCounter(0), 255))
	in.status, _ = st.Get(keySwapStatus)
	in.boots, _ = st.Get(keyTestBoots)
	return in
}

// fuzzBootSeeds runs real updates on the fuzz devices of both layouts on
// the three parts and captures their states along the way.
func fuzzBootSeeds(t testing.TB) []fuzzBootSeed {
	kit, err := getFuzzKit()
	must(t, err)
	var seeds []fuzzBootSeed
	for _, layout := range []Layout{DualBank, ExternalSwap} {
		for part := range uint16(3) {
			cfg := part << fuzzPartShift
			if layout == ExternalSwap {
				cfg |= fuzzExternalSwap
			}
			for _, sd := range kit.flowSeeds(t, cfg) {
				sd.name = fmt.Sprintf("%v-%s-%s", layout, fuzzParts[part], sd.name)
				seeds = append(seeds, sd)
			}
		}
	}
	return seeds
}

// flowSeeds captures the states of one device through an update: the
// factory image, a request for good, a request a cut tore, a request on
// test (also loaded with metastable bits), an ExternalSwap swap half done,
// the test boot, its revert and its confirmation, a test boot counted with
// MaxTestBoots 3, and on the first part a request on flash that erases to
// 0x00.
func (kit *fuzzKit) flowSeeds(t testing.TB, cfg uint16) []fuzzBootSeed {
	t.Helper()
	var seeds []fuzzBootSeed
	snap := func(name string, b *Bootloader, cfg uint16) {
		seeds = append(seeds, fuzzBootSeed{name, kit.capture(t, b, cfg)})
	}
	boot := func(b *Bootloader) {
		t.Helper()
		_, err := b.Boot()
		must(t, err)
	}
	b, err := kit.device(fuzzBootInput{cfg: cfg})
	must(t, err)
	must(t, b.Install(kit.imgs[1]))
	boot(b)
	snap("factory", b, cfg)
	must(t, b.Stage(kit.imgs[2]))

	perm := clone(t, b)
	boot(perm)
	must(t, perm.SetPending(true))
	snap("pending-perm", perm, cfg)

	// A request cut at its last program, the magic, all but its last
	// byte written: count the operations of a request, then cut one.
	probe := clone(t, b)
	boot(probe)
	staging := probe.stagingSlot().r.Flash()
	ops := staging.Ops()
	must(t, probe.SetPending(false))
	n := staging.Ops() - ops
	torn := clone(t, b)
	boot(torn)
	staging = torn.stagingSlot().r.Flash()
	staging.ArmCut(n, flash.TornAllButLast)
	if err := torn.SetPending(false); !errors.Is(err, flash.ErrPowerCut) {
		t.Fatalf("torn request: %v, want a power cut", err)
	}
	staging.PowerOn()
	snap("torn-magic", torn, cfg)

	boot(b)
	must(t, b.SetPending(false))
	snap("pending-test", b, cfg)
	// The same request, its last trailer program torn at random with
	// metastable bits by the loader.
	snap("pending-test-metastable", b, cfg|7<<fuzzCutShift|fuzzMetastable)
	pending := clone(t, b)

	if b.cfg.Layout == ExternalSwap {
		// The swap half done: the states its first two records describe.
		half := clone(t, b)
		k := 0
		half.onStatus = func(h *Bootloader) {
			if k++; k <= 2 {
				snap(fmt.Sprintf("mid-swap-%d", k), clone(t, h), cfg)
			}
		}
		boot(half)
	}

	boot(b)
	snap("testing", b, cfg)
	reverted := clone(t, b)
	boot(reverted)
	snap("reverted", reverted, cfg)
	must(t, b.Confirm())
	snap("confirmed", b, cfg)

	// MaxTestBoots 3: the second boot of the test image is counted.
	counted := clone(t, pending)
	counted.cfg.MaxTestBoots = 3
	boot(counted)
	boot(counted)
	snap("test-boots", counted, cfg|fuzzTestBoots)

	if cfg>>fuzzPartShift&3 == 0 {
		z, err := kit.device(fuzzBootInput{cfg: cfg | fuzzErasedZero})
		must(t, err)
		must(t, z.Install(kit.imgs[1]))
		boot(z)
		must(t, z.Stage(kit.imgs[2]))
		must(t, z.SetPending(false))
		snap("erased-zero-pending-test", z, cfg|fuzzErasedZero)
	}
	return seeds
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
