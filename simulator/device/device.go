package device

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/flash"
	"github.com/lorafuota/lorafuota/simulator/nvm"
	"github.com/lorafuota/lorafuota/simulator/rng"
)

// Errors HandleDownlink wraps to say why (part of) a frame was not acted on.
var (
	// ErrDropped: the frame or command was dropped as a device drops it
	// silently: no matching multicast group or frame counter, a unicast-only
	// command on a multicast address, a package the device does not have,
	// or a device busy erasing or booting.
	ErrDropped = errors.New("device: dropped")
	// ErrBricked: the device has no bootable image and does nothing.
	ErrBricked = errors.New("device: bricked")
)

// Uplinker sends the device's uplinks. The device calls it from callbacks on
// its clock, never from inside HandleDownlink, so an Uplinker may deliver a
// downlink back to the device synchronously.
type Uplinker interface {
	// Uplink sends payload, the decrypted FRMPayload, on fport.
	Uplink(fport uint8, payload []byte)
}

// UplinkFunc adapts a function to Uplinker.
type UplinkFunc func(fport uint8, payload []byte)

// Uplink implements Uplinker.
func (f UplinkFunc) Uplink(fport uint8, payload []byte) { f(fport, payload) }

// McGroupRef names the multicast group a downlink was sent to.
type McGroupRef struct {
	// Addr is the McAddr the frame was addressed to.
	Addr lorawan.DevAddr
	// FCnt is the frame's multicast frame counter. The device drops a frame
	// below the group's MinMcFCnt, above its MaxMcFCnt, or not above the
	// last one it took.
	FCnt uint32
}

// Band is what the device's radio can receive, for the checks of TS005
// session requests (FreqError, DRError).
type Band struct {
	MinFrequency, MaxFrequency uint32 // Hz
	MaxDR                      uint8
}

// EU868 is the default Band.
var EU868 = Band{MinFrequency: 863_000_000, MaxFrequency: 870_000_000, MaxDR: 7}

// Config describes a simulated device.
type Config struct {
	// Clock is the simulation clock; all time and timers come from it.
	Clock clock.Clock
	// Boot is the device's bootloader, with its firmware installed
	// (boot.Install). New powers the device on: it boots and runs the
	// application.
	Boot *boot.Bootloader
	// Uplinker sends the device's uplinks.
	Uplinker Uplinker
	// Rand is the source of the device's random streams; nil means seed 0.
	Rand *rng.Source
	// Name names the device's random streams ("device/<Name>/…"); give each
	// device its own, e.g. its DevEUI in hex.
	Name string

	// Profile is the stack the device reproduces.
	Profile Profile
	// Versions are the package versions; zero fields take the profile's
	// highest.
	Versions Versions

	// LoRaWAN11 selects AppKey as the root of McRootKey and DataBlockIntKey
	// (a LoRaWAN 1.1 device); otherwise GenAppKey is (1.0.x).
	LoRaWAN11 bool
	AppKey    lorawan.AES128Key
	GenAppKey lorawan.AES128Key

	// HWVersion is reported in DevVersionAns.
	HWVersion uint32
	// App is how the firmware runs after a boot (confirm policy).
	App boot.App
	// OnBoot, if not nil, is called with the report of every power-on,
	// the first (in New) included, once the device runs or is bricked.
	OnBoot func(BootReport)

	// FragSessions is how many FragIndex values the device supports, 1..4;
	// 0 means 4.
	FragSessions int
	// RAMBudget is the RAM available to a fragmentation session in bytes:
	// the decoder (fragmentation.Decoder.Memory) and the buffers of program
	// units shared by two rows. 0 means no limit.
	RAMBudget int
	// MaxLost is the device's Lmax, the most uncoded fragments a session
	// can recover; 0 means the most that fit RAMBudget and the scratch
	// area.
	MaxLost int
	// MaxNbFrag, MinFragSize and MaxFragSize bound the sessions the device
	// accepts (FRAG_MAX_NB, FRAG_MIN_SIZE, FRAG_MAX_SIZE); 0 means the
	// protocol's limits.
	MaxNbFrag, MinFragSize, MaxFragSize int
	// Scratch holds the decoder's pivot records; nil means the staging
	// slot after the data block.
	Scratch *flash.Region

	// McGroups is how many multicast groups the device holds, 1..4; 0
	// means 4.
	McGroups int
	// Band bounds the class B/C session frequencies and data rates; the
	// zero value means EU868.
	Band Band

	// ClockOffset is how far the device's clock is ahead of the
	// simulation clock at New, ClockDriftPPM how fast it gains on it.
	ClockOffset   time.Duration
	ClockDriftPPM float64
	// AppTimePeriod is the period of AppTimeReq (TS003) from power-on; 0
	// sends none until DeviceAppTimePeriodicityReq sets a period.
	AppTimePeriod time.Duration

	// UplinkInterval is the period of the application's own uplinks, which
	// open class A receive windows; 0 sends none.
	UplinkInterval time.Duration
	// UplinkFPort is the FPort of those uplinks; 0 means 2.
	UplinkFPort uint8
	// RXWindow, if positive, makes Listening report class A reception for
	// that long after each of the device's uplinks, on any frequency and
	// data rate: an approximation of RX1 and RX2 for use without a MAC
	// layer. 0 leaves the class A windows to the MAC layer.
	RXWindow time.Duration
}

// Class is the LoRaWAN device class the device is in.
type Class uint8

const (
	ClassA Class = iota
	ClassB
	ClassC
)

func (c Class) String() string {
	switch c {
	case ClassA:
		return "A"
	case ClassB:
		return "B"
	case ClassC:
		return "C"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Stats counts what the device did.
type Stats struct {
	Downlinks int // frames handed to HandleDownlink
	// DroppedBusy counts frames lost while the device was erasing the
	// staging slot or booting.
	DroppedBusy int
	// DroppedMulticast counts multicast frames and commands dropped: an
	// unknown McAddr, a frame counter out of range, a command that is
	// unicast only.
	DroppedMulticast int
	// Fragments counts the DataFragments a decoder took; FragmentsDropped
	// those refused (no session, group not allowed, block complete, out of
	// order, program-unit buffer full, wrong size).
	Fragments, FragmentsDropped int
	Uplinks                     int
	// ClockCorrections counts the AppTimeAns applied.
	ClockCorrections int
	// Resets counts boots after the first: reboots and watchdog resets.
	Resets int
}

// Device is a simulated end device's application layer on top of its
// bootloader. It is driven by HandleDownlink and its clock, and is not safe
// for concurrent use: call it from the clock's loop.
type Device struct {
	cfg    Config
	q      quirks
	ver    Versions
	clk    clock.Clock
	dc     devClock
	band   Band
	kek    lorawan.AES128Key
	intKey lorawan.AES128Key

	rngFrag, rngClock, rngUp *rand.Rand

	// gen is the power cycle: a reset moves it on and callbacks scheduled
	// before do nothing.
	gen       uint64
	bricked   error
	busyUntil time.Time
	lastUp    time.Time
	sentUp    bool

	groups [multicast.MaxGroups]*mcGroup
	frag   [nvm.FragSessions]*fragSession

	setupErr    error
	statusTimer [nvm.FragSessions]clock.Timer

	appTimePeriod time.Duration
	appTimeTimer  clock.Timer
	reboot        clock.Timer
	rebootAt      time.Time

	upImage  *Verification // the staged image as TS006 reports it
	lastVer  *Verification
	lastBoot BootReport
	stats    Stats
}

// New builds the device and powers it on: it boots, runs the application,
// and starts its periodic uplinks.
func New(cfg Config) (*Device, error) {
	if cfg.Clock == nil || cfg.Boot == nil || cfg.Uplinker == nil {
		return nil, errors.New("device: Clock, Boot and Uplinker are required")
	}
	ver, err := cfg.Versions.resolve(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if cfg.FragSessions < 0 || cfg.FragSessions > nvm.FragSessions {
		return nil, fmt.Errorf("device: FragSessions %d out of range 1..%d", cfg.FragSessions, nvm.FragSessions)
	}
	if cfg.McGroups < 0 || cfg.McGroups > multicast.MaxGroups {
		return nil, fmt.Errorf("device: McGroups %d out of range 1..%d", cfg.McGroups, multicast.MaxGroups)
	}
	if cfg.RAMBudget < 0 || cfg.MaxLost < 0 || cfg.RXWindow < 0 || cfg.MaxNbFrag < 0 || cfg.MinFragSize < 0 || cfg.MaxFragSize < 0 {
		return nil, errors.New("device: negative resource limit")
	}
	cfg.FragSessions = cmp.Or(cfg.FragSessions, nvm.FragSessions)
	cfg.McGroups = cmp.Or(cfg.McGroups, multicast.MaxGroups)
	cfg.UplinkFPort = cmp.Or(cfg.UplinkFPort, 2)
	cfg.Name = cmp.Or(cfg.Name, "device")
	if cfg.Rand == nil {
		cfg.Rand = rng.New(0)
	}
	d := &Device{
		cfg:  cfg,
		q:    cfg.Profile.quirks(),
		ver:  ver,
		clk:  cfg.Clock,
		band: cmp.Or(cfg.Band, EU868),
		dc: devClock{
			t0:     cfg.Clock.Now(),
			offset: cfg.ClockOffset,
			ppm:    cfg.ClockDriftPPM,
		},
		rngFrag:  cfg.Rand.Stream("device/" + cfg.Name + "/ts004"),
		rngClock: cfg.Rand.Stream("device/" + cfg.Name + "/ts003"),
		rngUp:    cfg.Rand.Stream("device/" + cfg.Name + "/uplink"),
	}
	root := cfg.GenAppKey
	if cfg.LoRaWAN11 {
		d.kek = multicast.McKEKey(multicast.McRootKeyFromAppKey(cfg.AppKey))
		root = cfg.AppKey
	} else {
		d.kek = multicast.McKEKey(multicast.McRootKeyFromGenAppKey(cfg.GenAppKey))
	}
	d.intKey = fragmentation.DataBlockIntKey(root)
	d.powerOn()
	return d, nil
}

// Profile returns the device's profile.
func (d *Device) Profile() Profile { return d.cfg.Profile }

// Versions returns the package versions the device speaks.
func (d *Device) Versions() Versions { return d.ver }

// Stats returns the device's counters.
func (d *Device) Stats() Stats { return d.stats }

// Now returns the device's idea of the current time: the simulation time
// with its offset, drift and TS003 corrections.
func (d *Device) Now() time.Time { return d.dc.now(d.clk.Now()) }

// ClockError returns how far the device's clock is ahead of the simulation
// clock now.
func (d *Device) ClockError() time.Duration {
	now := d.clk.Now()
	return d.dc.now(now).Sub(now)
}

// after runs f after delay on the clock unless the device is reset first.
func (d *Device) after(delay time.Duration, f func()) clock.Timer {
	gen := d.gen
	return d.clk.AfterFunc(max(delay, 0), func() {
		if d.gen == gen {
			f()
		}
	})
}

// delayFrom is the delay from now until at+delay.
func (d *Device) delayFrom(at time.Time, delay time.Duration) time.Duration {
	return at.Add(delay).Sub(d.clk.Now())
}

// sendAfter schedules an uplink on fport whose commands build returns when
// it goes out; build may return none to send nothing.
func (d *Device) sendAfter(delay time.Duration, fport uint8, build func() []applayer.Command) clock.Timer {
	return d.after(delay, func() {
		cmds := build()
		if len(cmds) == 0 {
			return
		}
		d.uplink(fport, cmds...)
	})
}

// uplink sends cmds now.
func (d *Device) uplink(fport uint8, cmds ...applayer.Command) {
	b, err := (&applayer.Package{Name: "device"}).Encode(cmds...)
	if err != nil {
		// Our own answers always encode; a failure is a bug worth seeing.
		panic(fmt.Sprintf("device: encoding an uplink on FPort %d: %v", fport, err))
	}
	d.rawUplink(fport, b)
}

func (d *Device) rawUplink(fport uint8, b []byte) {
	d.stats.Uplinks++
	d.lastUp, d.sentUp = d.clk.Now(), true
	d.cfg.Uplinker.Uplink(fport, b)
}

// HandleDownlink hands the device a received frame: fport and its decrypted
// FRMPayload (decryption with the device's or the group's AppSKey is the MAC
// layer's business; McAppSKey and McNwkSKey are available from McGroup), mc
// the multicast group it was sent to or nil for unicast, at its reception
// time (normally the clock's now). Commands are processed in order; the
// answers of the frame go out in one uplink on the same FPort once the
// device is done with it, after any erase the frame caused, and the answers
// that wait a random BlockAckDelay in their own uplinks.
//
// The error says why (part of) a frame was dropped or did not decode; a
// device would drop it silently, so callers may ignore it.
func (d *Device) HandleDownlink(fport uint8, payload []byte, mc *McGroupRef, at time.Time) error {
	d.stats.Downlinks++
	if d.bricked != nil {
		return fmt.Errorf("%w: %w", ErrBricked, d.bricked)
	}
	if at.Before(d.busyUntil) {
		d.stats.DroppedBusy++
		return fmt.Errorf("%w: busy until %v (erasing or booting)", ErrDropped, d.busyUntil)
	}
	var group *mcGroup
	if mc != nil {
		g, err := d.acceptMulticast(*mc)
		if err != nil {
			d.stats.DroppedMulticast++
			return err
		}
		group = g
	}
	var pkg *applayer.Package
	var version uint8
	switch fport {
	case clocksync.FPort:
		pkg, version = clocksync.Package(), d.ver.ClockSync
	case multicast.DefaultFPort:
		pkg, version = multicast.Package(), d.ver.Multicast
	case fragmentation.DefaultFPort:
		pkg, version = fragmentation.Package(), d.ver.Fragmentation
	case fwmanagement.FPort:
		pkg, version = fwmanagement.Package(), d.ver.FirmwareManagement
	default:
		return fmt.Errorf("%w: FPort %d is not an application-layer package", ErrDropped, fport)
	}
	if version == 0 {
		return fmt.Errorf("%w: profile %v has no package on FPort %d", ErrDropped, d.cfg.Profile, fport)
	}
	if group != nil && fport != fragmentation.DefaultFPort {
		d.stats.DroppedMulticast++
		return fmt.Errorf("%w: %s commands are unicast only", ErrDropped, pkg.Spec)
	}
	cmds, decErr := pkg.Decode(payload, applayer.Downlink, version)
	var answers []applayer.Command
	var busy time.Duration
	var errs []error
	for _, c := range cmds {
		ans, b, err := d.handle(fport, c, group, at)
		busy += b
		if ans != nil {
			answers = append(answers, ans)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if busy > 0 {
		d.busyUntil = at.Add(busy)
	}
	if len(answers) > 0 {
		d.sendAfter(d.delayFrom(at, busy), fport, func() []applayer.Command { return answers })
	}
	if decErr != nil {
		errs = append(errs, fmt.Errorf("device: %w", decErr))
	}
	return errors.Join(errs...)
}

// handle processes one command and returns its immediate answer, if any, and
// how long the device is busy with it.
func (d *Device) handle(fport uint8, c applayer.Command, group *mcGroup, at time.Time) (applayer.Command, time.Duration, error) {
	if _, ok := c.(*applayer.PackageVersionReq); ok {
		return d.packageVersion(fport), 0, nil
	}
	switch fport {
	case clocksync.FPort:
		return d.handleClockSync(c, at), 0, nil
	case multicast.DefaultFPort:
		return d.handleMulticast(c, at), 0, nil
	case fragmentation.DefaultFPort:
		return d.handleFragmentation(c, group, at)
	case fwmanagement.FPort:
		return d.handleFirmware(c, at), 0, nil
	}
	return nil, 0, nil
}

func (d *Device) packageVersion(fport uint8) applayer.Command {
	switch fport {
	case clocksync.FPort:
		return &applayer.PackageVersionAns{PackageIdentifier: clocksync.PackageID, PackageVersion: d.ver.ClockSync}
	case multicast.DefaultFPort:
		return &applayer.PackageVersionAns{PackageIdentifier: multicast.PackageID, PackageVersion: d.ver.Multicast}
	case fragmentation.DefaultFPort:
		return &applayer.PackageVersionAns{PackageIdentifier: fragmentation.PackageID, PackageVersion: d.ver.Fragmentation}
	default:
		return &applayer.PackageVersionAns{PackageIdentifier: fwmanagement.PackageID, PackageVersion: d.ver.FirmwareManagement}
	}
}

// Class returns the class the device is in now.
func (d *Device) Class() Class { return d.ClassAt(d.clk.Now()) }

// ClassAt returns the class the device is in at simulation time at: C while a
// class C multicast session runs by its clock, else B while a class B one
// does, else A.
func (d *Device) ClassAt(at time.Time) Class {
	c := ClassA
	for _, g := range d.groups {
		if g != nil && g.session != nil && g.session.active(d, at) {
			c = max(c, g.session.class)
		}
	}
	return c
}

// Listening reports whether the device's receiver would catch a frame that
// starts at simulation time at on freq (Hz) at data rate dr, beyond the MAC
// layer's own receive windows. A device that is erasing or booting hears
// nothing. With Config.RXWindow it listens for that long after each of its
// uplinks, on any frequency and data rate (RX1 and RX2 approximated, for use
// without a MAC layer). During a class C session of one
// of its groups it listens continuously on the session's frequency and data
// rate. A class B session is approximated the same way (continuous
// reception at the session's frequency and data rate for the whole session,
// any frequency when DLFrequ is 0) rather than with ping slots.
func (d *Device) Listening(freq uint32, dr int, at time.Time) bool {
	if d.bricked != nil || at.Before(d.busyUntil) {
		return false
	}
	if d.cfg.RXWindow > 0 && d.sentUp && !at.Before(d.lastUp) && at.Sub(d.lastUp) < d.cfg.RXWindow {
		return true
	}
	for _, g := range d.groups {
		if g == nil || g.session == nil {
			continue
		}
		s := g.session
		if s.active(d, at) && int(s.dr) == dr && (s.freq == freq || s.freq == 0) {
			return true
		}
	}
	return false
}
