package device_test

import (
	"crypto"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

var (
	epoch     = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	genAppKey = lorawan.AES128Key{0x03, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
	appKey    = lorawan.AES128Key{0x02, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
	mcKey     = lorawan.AES128Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	mcAddr    = lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}
)

const (
	maxImage  = 16 * flash.KiB
	imageSize = 4000
	mcFreq    = 869_525_000
	mcDR      = 5
)

// uplink is one uplink the device sent.
type uplink struct {
	at      time.Time
	fport   uint8
	payload []byte
}

// rigOptions describe the device of a test.
type rigOptions struct {
	layout   boot.Layout
	part     boot.Part // internal flash
	profile  device.Profile
	versions device.Versions
	tweak    func(*device.Config)
	bootCfg  func(*boot.Config)
	// scratch puts the decoder's scratch records in a region of their own
	// on the external flash.
	scratch bool
}

// rig is a device on a virtual clock with its bootloader and flash, running
// version 1.0.0 (security counter 1), and the uplinks it sent.
type rig struct {
	t        *testing.T
	opts     rigOptions
	clk      *clock.Virtual
	key      crypto.Signer
	boot     *boot.Bootloader
	bcfg     boot.Config
	internal *flash.Flash
	external *flash.Flash
	dev      *device.Device
	ups      []uplink
	fcnt     uint32
}

func testKey(t testing.TB, label byte) crypto.Signer {
	t.Helper()
	k, err := image.GenerateKey(image.Ed25519, rand.NewChaCha8([32]byte{label, 'k', 'e', 'y'}))
	must(t, err)
	return k
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	if opts.layout == 0 {
		opts.layout = boot.DualBank
	}
	if opts.part == "" {
		opts.part = boot.PartSTM32WL
	}
	prof, err := opts.part.Profile(0)
	must(t, err)
	r := &rig{t: t, opts: opts, clk: clock.NewVirtual(epoch), key: testKey(t, 1)}
	r.internal, err = flash.New(prof)
	must(t, err)
	if opts.layout == boot.ExternalSwap {
		r.external, err = flash.New(flash.NORW25Q(flash.MiB))
		must(t, err)
	}
	if _, strict := r.internal.Policy(); !strict {
		t.Fatal("flash is not strict")
	}
	parts, err := boot.Plan(opts.layout, r.internal, r.external, boot.PlanOptions{MaxImage: maxImage})
	must(t, err)
	r.bcfg = boot.Config{Layout: opts.layout, Partitions: parts, TrustedKeys: []crypto.PublicKey{r.key.Public()}}
	if opts.bootCfg != nil {
		opts.bootCfg(&r.bcfg)
	}
	r.boot, err = boot.New(r.bcfg)
	must(t, err)
	must(t, r.boot.Install(r.image(1, 1, r.key)))
	cfg := device.Config{
		Clock:     r.clk,
		Boot:      r.boot,
		Uplinker:  device.UplinkFunc(r.record),
		Rand:      rng.New(7),
		Name:      "0102030405060708",
		Profile:   opts.profile,
		Versions:  opts.versions,
		GenAppKey: genAppKey,
		AppKey:    appKey,
		HWVersion: 0x12345678,
	}
	if opts.scratch {
		cfg.Scratch, err = flash.NewRegion(r.external, "frag-scratch", 512*flash.KiB, 64*flash.KiB)
		must(t, err)
	}
	if opts.tweak != nil {
		opts.tweak(&cfg)
	}
	r.dev, err = device.New(cfg)
	must(t, err)
	if v, ok := r.dev.Running(); !ok || v.Major != 1 {
		t.Fatalf("device runs %v (%v), want 1.0.0", v, r.dev.LastBoot().Err)
	}
	r.run(r.dev.LastBoot().Busy) // the first boot's flash work
	return r
}

func (r *rig) record(fport uint8, payload []byte) {
	r.ups = append(r.ups, uplink{at: r.clk.Now(), fport: fport, payload: append([]byte(nil), payload...)})
}

// image signs a simulated firmware of version major.0.0 with key.
func (r *rig) image(major uint8, secCnt uint32, key crypto.Signer) []byte {
	r.t.Helper()
	img, err := boot.FirmwareImage(boot.FirmwareSpec{
		Version:         image.Version{Major: major},
		Behaviour:       boot.Good,
		SecurityCounter: secCnt,
		Key:             key,
		Size:            imageSize,
		Seed:            uint64(major),
		VendorID:        r.bcfg.VendorID,
		ClassID:         r.bcfg.ClassID,
	})
	must(r.t, err)
	return img
}

// down hands the device a unicast frame now.
func (r *rig) down(fport uint8, cmds ...applayer.Command) error {
	r.t.Helper()
	b, err := (&applayer.Package{Name: "test"}).Encode(cmds...)
	must(r.t, err)
	return r.dev.HandleDownlink(fport, b, nil, r.clk.Now())
}

// mcDown hands the device a frame on multicast group addr now.
func (r *rig) mcDown(addr lorawan.DevAddr, fport uint8, cmds ...applayer.Command) error {
	r.t.Helper()
	b, err := (&applayer.Package{Name: "test"}).Encode(cmds...)
	must(r.t, err)
	r.fcnt++
	return r.dev.HandleDownlink(fport, b, &device.McGroupRef{Addr: addr, FCnt: r.fcnt}, r.clk.Now())
}

func (r *rig) run(d time.Duration) { r.clk.RunFor(d) }

// take returns and forgets the uplinks sent on fport so far.
func (r *rig) take(fport uint8) []uplink {
	var out, rest []uplink
	for _, u := range r.ups {
		if u.fport == fport {
			out = append(out, u)
		} else {
			rest = append(rest, u)
		}
	}
	r.ups = rest
	return out
}

// answers runs the clock for d and decodes the uplinks on fport.
func (r *rig) answers(fport uint8, d time.Duration) []applayer.Command {
	r.t.Helper()
	r.run(d)
	var pkg *applayer.Package
	var v uint8
	ver := r.dev.Versions()
	switch fport {
	case clocksync.FPort:
		pkg, v = clocksync.Package(), ver.ClockSync
	case multicast.DefaultFPort:
		pkg, v = multicast.Package(), ver.Multicast
	case fragmentation.DefaultFPort:
		pkg, v = fragmentation.Package(), ver.Fragmentation
	case fwmanagement.FPort:
		pkg, v = fwmanagement.Package(), ver.FirmwareManagement
	}
	var out []applayer.Command
	for _, u := range r.take(fport) {
		cmds, err := pkg.Decode(u.payload, applayer.Uplink, v)
		if err != nil {
			r.t.Fatalf("uplink %x on FPort %d: %v", u.payload, fport, err)
		}
		out = append(out, cmds...)
	}
	return out
}

// one runs the clock for d and returns the single answer of type T on fport.
func one[T applayer.Command](r *rig, fport uint8, d time.Duration) T {
	r.t.Helper()
	cmds := r.answers(fport, d)
	if len(cmds) != 1 {
		r.t.Fatalf("FPort %d: %d answers %s, want one %T", fport, len(cmds), describe(cmds), *new(T))
	}
	a, ok := cmds[0].(T)
	if !ok {
		r.t.Fatalf("FPort %d: got %T, want %T", fport, cmds[0], *new(T))
	}
	return a
}

func describe(cmds []applayer.Command) string {
	s := "["
	for i, c := range cmds {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s%+v", c.Name(), c)
	}
	return s + "]"
}

// gpsNow is the simulation's GPS second now.
func (r *rig) gpsNow() uint64 { return clocksync.GPSSeconds(r.clk.Now()) }

// setupGroup defines multicast group 0 at mcAddr on the device.
func (r *rig) setupGroup(id uint8) {
	r.t.Helper()
	kek := multicast.McKEKey(multicast.McRootKeyFromGenAppKey(genAppKey))
	must(r.t, r.down(multicast.DefaultFPort, &multicast.McGroupSetupReq{
		McGroupID: id, McAddr: mcAddr, McKeyEncrypted: multicast.EncryptMcKey(kek, mcKey),
		MinMcFCnt: 0, MaxMcFCnt: 1<<32 - 1,
	}))
	ans := one[*multicast.McGroupSetupAns](r, multicast.DefaultFPort, time.Second)
	if ans.IDError {
		r.t.Fatalf("McGroupSetupAns: %+v", ans)
	}
}

// startClassC starts a class C session of group id in start seconds and
// runs the clock until it has begun.
func (r *rig) startClassC(id uint8, start uint64) {
	r.t.Helper()
	must(r.t, r.down(multicast.DefaultFPort, &multicast.McClassCSessionReq{
		McGroupID: id, SessionTime: uint32(r.gpsNow() + start), TimeOut: 12, DLFrequency: mcFreq, DR: mcDR,
	}))
	ans := one[*multicast.McClassCSessionAns](r, multicast.DefaultFPort, time.Second)
	if err := ans.Err(); err != nil {
		r.t.Fatal(err)
	}
	r.run(time.Duration(start) * time.Second)
}

// setupReq is a FragSessionSetupReq for data (padded to fragSize) in the
// device's TS004 version, with the v2 MIC.
func (r *rig) setupReq(data []byte, idx uint8, fragSize int, sessionCnt uint16) (*fragmentation.FragSessionSetupReq, []byte) {
	r.t.Helper()
	padded, padding := fragmentation.Pad(data, fragSize)
	req := &fragmentation.FragSessionSetupReq{
		Version: r.dev.Versions().Fragmentation, FragIndex: idx, McGroupBitMask: 1,
		NbFrag: uint16(len(padded) / fragSize), FragSize: uint8(fragSize), Padding: uint8(padding),
		BlockAckDelay: 0, Descriptor: applayer.Bytes4{1, 2, 3, 4},
	}
	if req.Version == 2 {
		req.SessionCnt = sessionCnt
		req.AckReception = true
		must(r.t, req.SetMIC(fragmentation.DataBlockIntKey(genAppKey), data))
	}
	return req, padded
}

// setup sends req and checks it is accepted, then waits out the erase.
func (r *rig) setup(req *fragmentation.FragSessionSetupReq) {
	r.t.Helper()
	must(r.t, r.down(fragmentation.DefaultFPort, req))
	ans := one[*fragmentation.FragSessionSetupAns](r, fragmentation.DefaultFPort, time.Minute)
	if !ans.Accepted() {
		r.t.Fatalf("FragSessionSetupAns %+v: %v", ans, r.dev.LastSetupError())
	}
}

// encode returns the fragments of padded with redundancy parity fragments
// in the matrix of the device's TS004 version.
func (r *rig) encode(padded []byte, fragSize, redundancy int) [][]byte {
	r.t.Helper()
	m := fragmentation.MatrixV1
	if r.dev.Versions().Fragmentation == 2 {
		m = fragmentation.MatrixV2
	}
	frags, err := fragmentation.Encode(padded, fragSize, redundancy, fragmentation.WithMatrix(m))
	must(r.t, err)
	return frags
}

func sessionReqC(id uint8, sessionTime uint32) *multicast.McClassCSessionReq {
	return &multicast.McClassCSessionReq{McGroupID: id, SessionTime: sessionTime, TimeOut: 12, DLFrequency: mcFreq, DR: mcDR}
}

func frag(idx uint8, n int, p []byte) *fragmentation.DataFragment {
	return &fragmentation.DataFragment{FragIndex: idx, N: uint16(n), Payload: p}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
