package boot_test

import (
	"crypto"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

const testImageSize = 24 * flash.KiB

// device is a booted device running v1 (security counter 1), confirmed.
type device struct {
	t        *testing.T
	b        *boot.Bootloader
	cfg      boot.Config
	key      crypto.Signer
	internal *flash.Flash
	external *flash.Flash
	v1       []byte
}

func testKey(t testing.TB, label uint64) crypto.Signer {
	t.Helper()
	k, err := image.GenerateKey(image.Ed25519, rand.NewChaCha8([32]byte{byte(label), 'k', 'e', 'y'}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newDevice(t *testing.T, layout boot.Layout, part boot.Part, tweak ...func(*boot.Config)) *device {
	t.Helper()
	prof, err := part.Profile(0)
	must(t, err)
	d := &device{t: t, key: testKey(t, 1)}
	d.internal, err = flash.New(prof)
	must(t, err)
	if layout == boot.ExternalSwap {
		d.external, err = flash.New(flash.NORW25Q(flash.MiB))
		must(t, err)
	}
	parts, err := boot.Plan(layout, d.internal, d.external, boot.PlanOptions{MaxImage: testImageSize})
	must(t, err)
	d.cfg = boot.Config{Layout: layout, Partitions: parts, TrustedKeys: []crypto.PublicKey{d.key.Public()}}
	for _, f := range tweak {
		f(&d.cfg)
	}
	d.b, err = boot.New(d.cfg)
	must(t, err)
	d.v1 = d.image(1, 1, boot.Good)
	must(t, d.b.Install(d.v1))
	res := d.boot()
	if res.Version.Major != 1 || res.Test {
		t.Fatalf("first boot: %+v", res)
	}
	return d
}

// image builds a signed simulated firmware of version major.0.0.
func (d *device) image(major uint8, secCnt uint32, b boot.Behaviour, mod ...func(*boot.FirmwareSpec)) []byte {
	d.t.Helper()
	spec := boot.FirmwareSpec{
		Version:         image.Version{Major: major},
		Behaviour:       b,
		SecurityCounter: secCnt,
		Key:             d.key,
		Size:            testImageSize - 1000,
		Seed:            uint64(major),
		VendorID:        d.cfg.VendorID,
		ClassID:         d.cfg.ClassID,
	}
	for _, f := range mod {
		f(&spec)
	}
	img, err := boot.FirmwareImage(spec)
	must(d.t, err)
	return img
}

func (d *device) boot() boot.Result {
	d.t.Helper()
	res, err := d.b.Boot()
	if err != nil {
		d.t.Fatalf("Boot: %v", err)
	}
	return res
}

// update stages img and requests it.
func (d *device) update(img []byte, permanent bool) {
	d.t.Helper()
	must(d.t, d.b.Stage(img))
	must(d.t, d.b.SetPending(permanent))
}

func (d *device) run(a boot.App) boot.AppResult {
	d.t.Helper()
	r, err := d.b.RunApp(a)
	if err != nil {
		d.t.Fatalf("RunApp: %v", err)
	}
	return r
}

func (d *device) want(res boot.Result, major uint8, test bool, swap boot.SwapType) {
	d.t.Helper()
	if res.Version.Major != major || res.Test != test || res.Swap != swap {
		d.t.Fatalf("boot ran v%d test=%v swap=%v (rejected: %v), want v%d test=%v swap=%v",
			res.Version.Major, res.Test, res.Swap, res.Rejected, major, test, swap)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// layouts are the device shapes every behaviour test runs on.
var layouts = []struct {
	layout boot.Layout
	part   boot.Part
}{
	{boot.DualBank, boot.PartSTM32WL},
	{boot.DualBank, boot.PartNRF52840},
	{boot.DualBank, boot.PartNOR},
	{boot.ExternalSwap, boot.PartSTM32WL},
	{boot.ExternalSwap, boot.PartNRF52840},
	{boot.ExternalSwap, boot.PartNOR},
}

func forLayouts(t *testing.T, f func(t *testing.T, layout boot.Layout, part boot.Part)) {
	for _, l := range layouts {
		t.Run(fmt.Sprintf("%v/%s", l.layout, l.part), func(t *testing.T) { f(t, l.layout, l.part) })
	}
}

// TestTestConfirmRevert is MCUboot's test/confirm/revert cycle on each
// layout: a confirmed test image stays, an unconfirmed one is reverted at
// the next reset and stays reverted, and the security counter only rises on
// confirmation.
func TestTestConfirmRevert(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		t.Run("confirmed stays", func(t *testing.T) {
			d := newDevice(t, layout, part)
			d.update(d.image(2, 2, boot.Good), false)
			d.want(d.boot(), 2, true, boot.SwapTest)
			if got := d.b.NVM().SecurityCounter(0); got != 1 {
				t.Fatalf("security counter %d before confirmation, want 1", got)
			}
			if r := d.run(boot.App{}); !r.Confirmed || !r.Joined || r.Uplinks != 1 {
				t.Fatalf("app run %+v", r)
			}
			if got := d.b.NVM().SecurityCounter(0); got != 2 {
				t.Fatalf("security counter %d after confirmation, want 2", got)
			}
			for range 3 {
				d.want(d.boot(), 2, false, boot.SwapNone)
			}
		})
		t.Run("unconfirmed reverts", func(t *testing.T) {
			d := newDevice(t, layout, part)
			d.update(d.image(2, 2, boot.Good), false)
			d.want(d.boot(), 2, true, boot.SwapTest)
			d.run(boot.App{Confirm: boot.ConfirmNever})
			nonce := d.b.NVM().DevNonce()
			d.want(d.boot(), 1, false, boot.SwapRevert)
			for range 3 { // MCUboot basic_revert: boot 2, 3, 4 times
				d.want(d.boot(), 1, false, boot.SwapNone)
			}
			s := d.b.NVM()
			if s.SecurityCounter(0) != 1 || s.DevNonce() != nonce {
				t.Fatalf("after revert: security counter %d, DevNonce %d (want 1, %d)", s.SecurityCounter(0), s.DevNonce(), nonce)
			}
			// The device can update again after a revert.
			d.update(d.image(3, 2, boot.Good), false)
			d.want(d.boot(), 3, true, boot.SwapTest)
			d.run(boot.App{})
			d.want(d.boot(), 3, false, boot.SwapNone)
		})
		t.Run("permanent", func(t *testing.T) {
			d := newDevice(t, layout, part)
			d.update(d.image(2, 2, boot.Good), true)
			d.want(d.boot(), 2, false, boot.SwapPerm)
			if got := d.b.NVM().SecurityCounter(0); got != 2 {
				t.Fatalf("security counter %d, want 2", got)
			}
			d.want(d.boot(), 2, false, boot.SwapNone)
		})
		t.Run("second update", func(t *testing.T) {
			d := newDevice(t, layout, part)
			for v := uint8(2); v <= 4; v++ {
				d.update(d.image(v, uint32(v), boot.Good), false)
				d.want(d.boot(), v, true, boot.SwapTest)
				d.run(boot.App{})
				d.want(d.boot(), v, false, boot.SwapNone)
			}
		})
	})
}

// TestBadBuildsRevert runs builds that hang or cannot join: the watchdog
// reset or the application's own reset reverts them, and the DevNonces they
// burned stay burned.
func TestBadBuildsRevert(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		for _, tc := range []struct {
			b     boot.Behaviour
			reset boot.ResetCause
		}{
			{boot.Hang, boot.WatchdogReset},
			{boot.FailJoin, boot.AppReset},
			{boot.NoConfirm, boot.NoReset},
		} {
			t.Run(tc.b.String(), func(t *testing.T) {
				d := newDevice(t, layout, part)
				before := d.b.NVM().DevNonce()
				d.update(d.image(2, 2, tc.b), false)
				d.want(d.boot(), 2, true, boot.SwapTest)
				r := d.run(boot.App{})
				if r.Reset != tc.reset || r.Confirmed {
					t.Fatalf("app run %+v, want reset %v, unconfirmed", r, tc.reset)
				}
				burned := d.b.NVM().DevNonce()
				d.want(d.boot(), 1, false, boot.SwapRevert)
				if got := d.b.NVM().DevNonce(); got != burned || tc.b == boot.FailJoin && got != before+3 {
					t.Fatalf("DevNonce %d after revert, %d before it, %d before the update", got, burned, before)
				}
				if d.run(boot.App{}).DevNonce != burned+1 {
					t.Fatal("the old build reused a DevNonce")
				}
			})
		}
	})
}

// TestConfirmAtStartKeepsHang shows why confirming early is wrong: a build
// that confirms first and then hangs is kept, and the watchdog resets it for
// ever.
func TestConfirmAtStartKeepsHang(t *testing.T) {
	d := newDevice(t, boot.ExternalSwap, boot.PartNRF52840)
	d.update(d.image(2, 2, boot.Hang), false)
	d.want(d.boot(), 2, true, boot.SwapTest)
	if r := d.run(boot.App{Confirm: boot.ConfirmAtStart}); !r.Confirmed || r.Reset != boot.WatchdogReset {
		t.Fatalf("app run %+v", r)
	}
	d.want(d.boot(), 2, false, boot.SwapNone)
}

func TestConfirmPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy    boot.ConfirmPolicy
		confirmed bool
	}{
		{boot.ConfirmAfterUplink, true},
		{boot.ConfirmAfterJoin, true},
		{boot.ConfirmAtStart, true},
		{boot.ConfirmNever, false},
	} {
		d := newDevice(t, boot.DualBank, boot.PartNRF52840)
		d.update(d.image(2, 2, boot.Good), false)
		d.boot()
		if r := d.run(boot.App{Confirm: tc.policy}); r.Confirmed != tc.confirmed {
			t.Errorf("policy %d: confirmed %v", tc.policy, r.Confirmed)
		}
	}
}

// TestMaxTestBoots gives a test image three boots before the revert, the
// boot counter kept in the NVM area.
func TestMaxTestBoots(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		d := newDevice(t, layout, part, func(c *boot.Config) { c.MaxTestBoots = 3 })
		d.update(d.image(2, 2, boot.Hang), false)
		d.want(d.boot(), 2, true, boot.SwapTest)
		d.want(d.boot(), 2, true, boot.SwapNone)
		d.want(d.boot(), 2, true, boot.SwapNone)
		d.want(d.boot(), 1, false, boot.SwapRevert)
		// The same build staged again gets its three boots again.
		d.update(d.image(2, 2, boot.Hang), false)
		d.want(d.boot(), 2, true, boot.SwapTest)
		d.want(d.boot(), 2, true, boot.SwapNone)
		d.want(d.boot(), 2, true, boot.SwapNone)
		d.want(d.boot(), 1, false, boot.SwapRevert)
		// A good build confirms on its second boot and stays.
		d.update(d.image(3, 2, boot.Good), false)
		d.want(d.boot(), 3, true, boot.SwapTest)
		d.want(d.boot(), 3, true, boot.SwapNone)
		d.run(boot.App{})
		d.want(d.boot(), 3, false, boot.SwapNone)
	})
}

// TestRefusedImages stages images the bootloader must not run: the running
// image stays, the request is cancelled, and nothing else changes.
func TestRefusedImages(t *testing.T) {
	vendor := image.NameUUID(image.NamespaceDNS, "lorafuota.example")
	class := image.NameUUID(vendor, "sensor-v1")
	other := image.NameUUID(vendor, "sensor-v2")
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		for _, tc := range []struct {
			name  string
			build func(d *device) []byte
			why   string
		}{
			{"downgrade", func(d *device) []byte { return d.image(3, 1, boot.Good) }, image.CheckSecurityCounter},
			{"no security counter", func(d *device) []byte {
				// Signed without SEC_CNT: MCUboot rejects it with
				// hardware rollback protection.
				p, err := boot.FirmwarePayload(image.Version{Major: 3}, boot.Good, 4000, rand.New(rand.NewPCG(1, 2)))
				must(d.t, err)
				img, err := image.Sign(p, image.SignOptions{Version: image.Version{Major: 3}, Key: d.key, VendorID: &vendor, ClassID: &class})
				must(d.t, err)
				return img
			}, image.CheckSecurityCounter},
			{"unknown key", func(d *device) []byte {
				return d.image(3, 3, boot.Good, func(s *boot.FirmwareSpec) { s.Key = testKey(d.t, 9) })
			}, "unknown key"},
			{"tampered", func(d *device) []byte {
				img := d.image(3, 3, boot.Good)
				img[len(img)/2] ^= 0x40
				return img
			}, image.CheckSHA256},
			{"wrong class", func(d *device) []byte {
				return d.image(3, 3, boot.Good, func(s *boot.FirmwareSpec) { s.ClassID = &other })
			}, image.CheckClass},
			{"not an image", func(d *device) []byte { return []byte(strings.Repeat("firmware", 500)) }, "ih_magic"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := newDevice(t, layout, part, func(c *boot.Config) { c.VendorID, c.ClassID = &vendor, &class })
				d.update(d.image(2, 2, boot.Good), false)
				d.want(d.boot(), 2, true, boot.SwapTest)
				d.run(boot.App{})
				d.want(d.boot(), 2, false, boot.SwapNone)

				d.update(tc.build(d), false)
				res := d.boot()
				d.want(res, 2, false, boot.SwapNone)
				if !errors.Is(res.Rejected, boot.ErrInvalidImage) || !strings.Contains(res.Rejected.Error(), tc.why) {
					t.Fatalf("Rejected = %v, want an invalid image (%s)", res.Rejected, tc.why)
				}
				// The request is cancelled: the next boot does not look
				// at the image again.
				if res := d.boot(); res.Rejected != nil || res.Version.Major != 2 {
					t.Fatalf("second boot: %+v", res)
				}
			})
		}
	})
}

// TestLowerVersionSameCounter: a downgrade of the version alone is allowed
// (DEVICE.md §6.5); only the security counter protects against rollback.
func TestLowerVersionSameCounter(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		d := newDevice(t, layout, part)
		d.update(d.image(5, 1, boot.Good), false)
		d.want(d.boot(), 5, true, boot.SwapTest)
		d.run(boot.App{})
		d.update(d.image(4, 1, boot.Good), false)
		d.want(d.boot(), 4, true, boot.SwapTest)
	})
}

// TestStagingProtectedInTest: while the image is on test the staging slot
// holds the way back and may not be touched.
func TestStagingProtectedInTest(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		d := newDevice(t, layout, part)
		d.update(d.image(2, 2, boot.Good), false)
		d.boot()
		for name, err := range map[string]error{
			"EraseStaging": d.b.EraseStaging(),
			"Stage":        d.b.Stage(d.v1),
			"SetPending":   d.b.SetPending(false),
		} {
			if !errors.Is(err, boot.ErrInTest) {
				t.Errorf("%s: error %v, want ErrInTest", name, err)
			}
		}
		must(t, d.b.Confirm())
		must(t, d.b.Confirm()) // again: nothing to do
		must(t, d.b.EraseStaging())
	})
}

func TestSetPending(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		d := newDevice(t, layout, part)
		must(t, d.b.Stage(d.image(2, 2, boot.Good)))
		must(t, d.b.SetPending(false))
		must(t, d.b.SetPending(false)) // already requested: nothing written
		ops := d.internal.Ops()
		must(t, d.b.SetPending(true)) // nor does a late change of mind
		if d.internal.Ops() != ops {
			t.Error("SetPending on a pending slot wrote")
		}
		d.want(d.boot(), 2, true, boot.SwapTest)

		// A trailer holding garbage where the magic goes is refused.
		d.run(boot.App{})
		must(t, d.b.Stage(d.image(3, 3, boot.Good)))
		st := d.b.Staging()
		slot := d.cfg.Slots[0]
		if slot.Flash() != st.Flash() || slot.Offset() != st.Offset() {
			slot = d.cfg.Slots[1]
		}
		must(t, slot.Write(slot.Size()-16, []byte("not MCUboot magic")[:16]))
		if err := d.b.SetPending(false); !errors.Is(err, boot.ErrBadTrailer) {
			t.Fatalf("SetPending over a bad magic: %v, want ErrBadTrailer", err)
		}
		d.want(d.boot(), 2, false, boot.SwapNone)
	})
}

func TestNotBooted(t *testing.T) {
	d := newDevice(t, boot.DualBank, boot.PartNRF52840)
	b, err := boot.New(d.cfg)
	must(t, err)
	for name, err := range map[string]error{
		"Confirm":    b.Confirm(),
		"SetPending": b.SetPending(false),
		"Stage":      b.Stage(d.v1),
	} {
		if !errors.Is(err, boot.ErrNotBooted) {
			t.Errorf("%s before Boot: %v", name, err)
		}
	}
	if _, err := b.RunApp(boot.App{}); !errors.Is(err, boot.ErrNotBooted) {
		t.Errorf("RunApp before Boot: %v", err)
	}
	if b.Staging() != nil || b.NVM() != nil {
		t.Error("Staging or NVM before Boot")
	}
	if _, ok := b.Running(); ok {
		t.Error("Running before Boot")
	}
}

// TestDualBankFallback: a bank whose request a cut tore still runs when it
// is all there is.
func TestDualBankFallback(t *testing.T) {
	d := newDevice(t, boot.DualBank, boot.PartNRF52840)
	must(t, d.b.Stage(d.image(2, 2, boot.Good)))
	b := d.cfg.Slots[1]
	must(t, b.Write(b.Size()-16, []byte("torn magic......")))
	d.want(d.boot(), 1, false, boot.SwapNone)
	must(t, d.cfg.Slots[0].EraseAll())
	d.want(d.boot(), 2, false, boot.SwapNone)
}

func TestNothingBootable(t *testing.T) {
	forLayouts(t, func(t *testing.T, layout boot.Layout, part boot.Part) {
		d := newDevice(t, layout, part)
		must(t, d.cfg.Slots[0].EraseAll())
		if _, err := d.b.Boot(); !errors.Is(err, boot.ErrNoBootableImage) {
			t.Fatalf("Boot with an erased primary: %v", err)
		}
	})
}

// TestExternalSwapSlots checks the slots byte for byte and the trailers
// after a test swap, its confirmation and a revert (MCUboot's asserts).
func TestExternalSwapSlots(t *testing.T) {
	d := newDevice(t, boot.ExternalSwap, boot.PartSTM32WL)
	v2 := d.image(2, 2, boot.Good)
	pri, sec := d.cfg.Slots[0], d.cfg.Slots[1]
	unset := boot.Trailer{}
	d.checkTrailers(unset, unset) // factory image: no trailer
	d.update(v2, false)
	d.checkTrailers(unset, boot.Trailer{Magic: boot.Set, SwapInfo: boot.SwapTest})
	d.boot()
	checkSlot(t, pri, v2)
	checkSlot(t, sec, d.v1)
	d.checkTrailers(boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, SwapInfo: boot.SwapTest}, unset)
	d.boot() // revert
	checkSlot(t, pri, d.v1)
	checkSlot(t, sec, v2)
	d.checkTrailers(boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, ImageOK: boot.Set, SwapInfo: boot.SwapRevert}, unset)

	d.update(v2, false)
	d.boot()
	d.run(boot.App{})
	checkSlot(t, pri, v2)
	checkSlot(t, sec, d.v1)
	d.checkTrailers(boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, ImageOK: boot.Set, SwapInfo: boot.SwapTest}, unset)

	d.update(d.image(3, 3, boot.Good), true)
	d.boot()
	d.checkTrailers(boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, ImageOK: boot.Set, SwapInfo: boot.SwapPerm}, unset)
}

// TestDualBankTrailers follows the banks' trailers through an update, its
// confirmation and a revert.
func TestDualBankTrailers(t *testing.T) {
	d := newDevice(t, boot.DualBank, boot.PartSTM32WL)
	factory := boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, ImageOK: boot.Set, Seq: 1}
	d.checkTrailers(factory, boot.Trailer{})
	d.update(d.image(2, 2, boot.Good), false)
	d.checkTrailers(factory, boot.Trailer{Magic: boot.Set, Seq: 2})
	d.boot()
	d.checkTrailers(factory, boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, Seq: 2})
	d.run(boot.App{})
	d.checkTrailers(factory, boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, ImageOK: boot.Set, Seq: 2})
	// Bank A is staging now, and its next image gets sequence number 3.
	d.update(d.image(3, 3, boot.Hang), false)
	d.checkTrailers(boot.Trailer{Magic: boot.Set, Seq: 3}, boot.Trailer{Magic: boot.Set, CopyDone: boot.Set, ImageOK: boot.Set, Seq: 2})
	d.want(d.boot(), 3, true, boot.SwapTest)
	d.want(d.boot(), 2, false, boot.SwapRevert)
}

func (d *device) checkTrailers(want0, want1 boot.Trailer) {
	d.t.Helper()
	for i, want := range []boot.Trailer{want0, want1} {
		got, err := d.b.Trailer(i)
		must(d.t, err)
		if got != want {
			d.t.Fatalf("slot %d trailer %+v, want %+v", i, got, want)
		}
	}
}

func checkSlot(t *testing.T, r *flash.Region, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	must(t, r.Read(0, got))
	if string(got) != string(want) {
		t.Fatalf("slot %s does not hold the expected image", r.Name())
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		layout   boot.Layout
		part     boot.Part
		size     int // internal size, 0 for the part's
		image    int
		errMatch string
	}{
		{boot.DualBank, boot.PartSTM32WL, 0, 128 * flash.KiB, "the largest image that fits is 114 KiB"},
		{boot.DualBank, boot.PartSTM32WL, 0, 114 * flash.KiB, ""},
		{boot.DualBank, boot.PartSTM32WL, 512 * flash.KiB, 128 * flash.KiB, ""},
		{boot.DualBank, boot.PartNRF52840, 0, 480 * flash.KiB, ""},
		{boot.DualBank, boot.PartNRF52840, 0, 500 * flash.KiB, "largest image that fits"},
		{boot.ExternalSwap, boot.PartSTM32WL, 0, 128 * flash.KiB, ""},
		{boot.ExternalSwap, boot.PartSTM32WL, 0, 240 * flash.KiB, "largest image that fits is 228 KiB"},
		{boot.ExternalSwap, boot.PartNOR, 0, 1 * flash.MiB, ""},
	} {
		prof, err := tc.part.Profile(tc.size)
		must(t, err)
		internal, err := flash.New(prof)
		must(t, err)
		external, err := flash.New(flash.NORW25Q(0))
		must(t, err)
		p, err := boot.Plan(tc.layout, internal, external, boot.PlanOptions{MaxImage: tc.image})
		name := fmt.Sprintf("%v on %s, %d-byte image", tc.layout, prof.Name, tc.image)
		if tc.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
				t.Errorf("%s: error %v, want %q", name, err, tc.errMatch)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		cfg := boot.Config{Layout: tc.layout, Partitions: p, TrustedKeys: []crypto.PublicKey{testKey(t, 1).Public()}}
		if _, err := boot.New(cfg); err != nil {
			t.Errorf("%s: New: %v", name, err)
		}
	}
}

func TestFirmwarePayload(t *testing.T) {
	v := image.Version{Major: 1, Minor: 2, Revision: 300, Build: 70000}
	for b := boot.Good; b <= boot.NoConfirm; b++ {
		p, err := boot.FirmwarePayload(v, b, 100, rand.New(rand.NewPCG(1, 1)))
		must(t, err)
		if fw := boot.ParseFirmware(p); !fw.Marked || fw.Behaviour != b || fw.Version != v {
			t.Errorf("ParseFirmware = %+v", fw)
		}
		if got, err := boot.ParseBehaviour(b.String()); err != nil || got != b {
			t.Errorf("ParseBehaviour(%q) = %v, %v", b, got, err)
		}
	}
	if fw := boot.ParseFirmware([]byte("a real firmware binary")); fw.Marked || fw.Behaviour != boot.Good {
		t.Errorf("unmarked payload: %+v", fw)
	}
	if _, err := boot.FirmwarePayload(v, boot.Good, 15, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("15-byte payload accepted")
	}
	for _, alg := range image.Algorithms() {
		key, err := image.GenerateKey(alg, rand.NewChaCha8([32]byte{2}))
		must(t, err)
		for _, size := range []int{1000, 4096, 100_000} {
			img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: v, Key: key, Size: size, SecurityCounter: 7})
			must(t, err)
			if len(img) != size {
				t.Errorf("%s: %d-byte image, want %d", alg, len(img), size)
			}
			if rep := image.Verify(img, key.Public(), image.VerifyOptions{}); !rep.OK() {
				t.Errorf("%s: %v", alg, rep.Failed())
			}
		}
	}
}
