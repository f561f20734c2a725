package fuota

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/region"
)

// MACVersion is the LoRaWAN version a device implements; it decides which root
// key the multicast and data-block keys derive from.
type MACVersion string

// The MAC versions the engine knows.
const (
	MAC10x MACVersion = "1.0.x"
	MAC11  MACVersion = "1.1"
)

// Class is a device's LoRaWAN class.
type Class string

// Device classes.
const (
	ClassA Class = "A"
	ClassB Class = "B"
	ClassC Class = "C"
)

// PackageVersions are the application-layer package versions a device speaks;
// 0 means the package is absent.
type PackageVersions struct {
	ClockSync          uint8 `json:"clock_sync"`
	Multicast          uint8 `json:"multicast"`
	Fragmentation      uint8 `json:"fragmentation"`
	FirmwareManagement uint8 `json:"firmware_management"`
}

// DeviceConfig is one device of a deployment.
type DeviceConfig struct {
	DevEUI     lorawan.EUI64 `json:"dev_eui"`
	MACVersion MACVersion    `json:"mac_version"`
	Class      Class         `json:"class"`
	// Versions are the device's package versions when known; nil probes them
	// with PackageVersionReq.
	Versions *PackageVersions `json:"versions,omitempty"`
	// UplinkInterval is how often a class A device sends uplinks (and so can
	// receive a downlink); it lengthens the answer timeout. Required for class A.
	UplinkInterval time.Duration `json:"uplink_interval"`
}

// GatewayConfig is a gateway of the multicast group, with the duty-cycle
// enforcement style of its software (0: the plan's model).
type GatewayConfig struct {
	ID    string          `json:"id"`
	Model dutycycle.Model `json:"model"`
}

// RetryPolicy bounds the attempts of every unicast request.
type RetryPolicy struct {
	// Count is the number of retries after the first attempt (default 3).
	Count int `json:"count"`
	// Timeout is how long an answer is awaited from a class C device (default
	// 30 s); a class A device gets two uplink intervals more.
	Timeout time.Duration `json:"timeout"`
}

// DeploymentConfig is what a deployment is built from. Zero optional fields
// take the defaults documented on them.
type DeploymentConfig struct {
	ID    string
	Plan  *Plan
	Image []byte
	// FirmwareVersion is the TS006 version the image installs; 0 takes the
	// NextFirmwareVersion the device reports in DevUpgradeImageAns.
	FirmwareVersion uint32
	Devices         []DeviceConfig
	// McGroupID is the device-side multicast group slot, 0..3, of the first
	// class C session. When the plan has several sessions and the slots
	// above McGroupID can hold them all, each session gets a group of its
	// own (a lane: its slot, address and ChirpStack group), and every
	// session is requested in the setup, so that the sessions follow each
	// other without a gap; otherwise one group serves the sessions in turn.
	McGroupID uint8
	// SingleGroup keeps to one group even when lanes would fit.
	SingleGroup bool
	// SessionClass is the class of the multicast session: ClassC (the
	// default) or ClassB, which the devices follow in their ping slots
	// (TS005 McClassBSessionReq: the start on a beacon boundary, the length
	// in beacon periods, one session whatever the campaign's length).
	SessionClass Class
	// PingSlotPeriodicity is a class B session's ping-slot period, 2^p s
	// (0..7); nil takes the longest period not above the plan's frame
	// spacing, so the slots keep up with the pacer.
	PingSlotPeriodicity *uint8
	// ClassBMargin is the network server's multicast_class_b_margin: an
	// item queued on an empty class B group goes in the first ping slot
	// after now + margin (default 5 s, ChirpStack's).
	ClassBMargin time.Duration
	// McAddr is the group's address; nil asks for one with AllocateMcAddr.
	McAddr *lorawan.DevAddr
	// McKey is the group key; nil reads 16 bytes from Rand.
	McKey *lorawan.AES128Key
	Rand  io.Reader
	// Gateways carry the group; each keeps its own duty-cycle ledger. None
	// means one ledger for the network server's own gateway choice.
	Gateways []GatewayConfig
	Retry    RetryPolicy
	// SetupTimeout bounds the setup phase from Start: devices not ready by then
	// are failed and the session goes ahead without them (0: no deadline; the
	// retry policy still bounds every step).
	SetupTimeout time.Duration
	// StartMargin is the time from choosing SessionTime to the session start; it
	// must cover the McClassCSessionReq exchange with its retries (default:
	// the time the ledgers let every ready device's request through, with
	// the retries the expected loss costs, plus Retry.Count+1 of the slowest
	// device's timeouts and 10 s; see scheduleSession).
	StartMargin time.Duration
	// TimeToStartTolerance is the accepted clock offset in seconds (default 3).
	TimeToStartTolerance uint32
	// BlockAckDelay and Descriptor go into FragSessionSetupReq.
	BlockAckDelay uint8
	Descriptor    applayer.Bytes4
	// StatusDelay is the wait from the last fragment's end to the status
	// requests (default 10 s).
	StatusDelay time.Duration
	// RebootDelay is the DevRebootCountdownReq countdown (default 60 s);
	// RebootGrace the time after the reboot before DevVersionReq (default 60 s).
	RebootDelay time.Duration
	RebootGrace time.Duration
	// ConfirmByReset reboots an updated device once more and checks its
	// version again: an MCUboot test image the application never confirmed
	// still answers with the new version until its next reset, when the
	// bootloader reverts it. It costs each device a second reboot.
	ConfirmByReset bool
	// UnicastSpacing is the least time between two unicast requests to class C
	// devices (default 3 s). Without it every class C device gets its request
	// at once, the network sends them back to back, and the answers collide
	// with the next downlinks at the half-duplex gateway; spacing lets each
	// answer arrive while the gateway listens. Class A devices are paced by
	// their own uplinks.
	UnicastSpacing time.Duration
	// UnicastFrequencyHz and UnicastDR are the channel of class C unicasts,
	// for their airtime: 0 and nil take the region's RX2, where ChirpStack
	// sends them unless its configuration says otherwise.
	UnicastFrequencyHz uint32
	UnicastDR          *int
	// SchedulerLatency is the most the network server may delay a queued
	// item (ChirpStack's scheduler interval; default
	// DefaultSchedulerLatency): frames are counted from that instant.
	SchedulerLatency time.Duration
}

// Outcome is a device's verdict.
type Outcome string

// The outcomes of a device.
const (
	// Updated: the device runs the new firmware.
	Updated Outcome = "updated"
	// Received: the image was reconstructed, but the device has no TS006 to
	// install it and confirm.
	Received Outcome = "received"
	Failed   Outcome = "failed"
	Canceled Outcome = "canceled"
	// Skipped: the device already runs the version the image installs.
	Skipped Outcome = "skipped"
)

// Step names the part of the campaign a device was in.
type Step string

// The steps of a device.
const (
	StepProbe     Step = "probe"
	StepKeys      Step = "keys"
	StepMcGroup   Step = "mc_group_setup"
	StepFragSetup Step = "frag_session_setup"
	StepReady     Step = "ready"
	StepSession   Step = "session_setup"
	StepMulticast Step = "multicast"
	StepStatus    Step = "status"
	StepUpgrade   Step = "upgrade_image"
	StepReboot    Step = "reboot"
	StepVersion   Step = "version"
	StepDone      Step = "done"
)

// Phase is the deployment's phase.
type Phase string

// The phases of a deployment.
const (
	PhaseNew       Phase = "new"
	PhaseSetup     Phase = "setup"
	PhaseSession   Phase = "session"
	PhaseMulticast Phase = "multicast"
	PhaseStatus    Phase = "completion"
	PhaseDone      Phase = "done"
	PhaseCanceled  Phase = "canceled"
)

// maxFragIndex bounds the data blocks: FragIndex has 2 bits, and all blocks
// run in the one class C session.
const maxFragIndex = 4

// Deployment is one campaign's state machine. It does no I/O and reads no
// clock: Step is given the time and returns the actions to take.
type Deployment struct {
	st    state
	plan  *Plan
	image []byte
	// Derived, rebuilt on demand, never persisted.
	frags   map[int][][]byte
	ledgers map[string]ledger // by gateway|sub-band
	byEUI   map[lorawan.EUI64]*device
}

// state is everything persisted.
type state struct {
	Version   int               `json:"version"`
	ID        string            `json:"id"`
	Request   PlanRequest       `json:"plan_request"`
	ImageHash [32]byte          `json:"image_sha256"`
	Cfg       storedConfig      `json:"config"`
	McKey     lorawan.AES128Key `json:"mc_key"`
	Phase     Phase             `json:"phase"`
	NextID    uint64            `json:"next_id"`
	// Calls maps outstanding action ids to what they are for.
	Calls map[uint64]call `json:"calls"`
	// Lanes are the campaign's multicast groups: one, or one per session.
	Lanes   []lane    `json:"lanes"`
	Devices []*device `json:"devices"`
	// Sessions are the class C sessions, one after the other, each carrying
	// consecutive frames; Session is the current one.
	Sessions []sessionFrames `json:"sessions"`
	Session  int             `json:"session"`
	// SessionTime is the GPS second the current session starts, TimeOut its
	// length (2^TimeOut s); 0 before it is chosen.
	SessionTime uint64   `json:"session_time"`
	TimeOut     uint8    `json:"time_out"`
	Matrix      uint8    `json:"frag_version"`
	Mc          mcState  `json:"multicast"`
	Air         airState `json:"air"`
	// NextUnicast is the earliest time the next class C unicast request may be
	// handed to the network server (UnicastSpacing).
	NextUnicast time.Time `json:"next_unicast"`
	// Timers are the armed timers by id, so that Resume can arm them again.
	Timers map[string]time.Time `json:"timers"`
}

// storedConfig is the part of DeploymentConfig the machine keeps.
type storedConfig struct {
	FirmwareVersion      uint32          `json:"firmware_version"`
	McGroupID            uint8           `json:"mc_group_id"`
	Gateways             []GatewayConfig `json:"gateways"`
	Retry                RetryPolicy     `json:"retry"`
	SetupTimeout         time.Duration   `json:"setup_timeout"`
	StartMargin          time.Duration   `json:"start_margin"`
	TimeToStartTolerance uint32          `json:"time_to_start_tolerance"`
	BlockAckDelay        uint8           `json:"block_ack_delay"`
	Descriptor           applayer.Bytes4 `json:"descriptor"`
	StatusDelay          time.Duration   `json:"status_delay"`
	RebootDelay          time.Duration   `json:"reboot_delay"`
	RebootGrace          time.Duration   `json:"reboot_grace"`
	UnicastSpacing       time.Duration   `json:"unicast_spacing"`
	UnicastFrequencyHz   uint32          `json:"unicast_frequency_hz"`
	UnicastDR            int             `json:"unicast_dr"`
	SchedulerLatency     time.Duration   `json:"scheduler_latency"`
	SessionClass         Class           `json:"session_class"`
	ConfirmByReset       bool            `json:"confirm_by_reset,omitempty"`
	PingSlotPeriodicity  uint8           `json:"ping_slot_periodicity"`
	ClassBMargin         time.Duration   `json:"class_b_margin"`
}

type callKind string

const (
	callKeys       callKind = "keys"
	callSessionCnt callKind = "session_cnt"
	callMcAddr     callKind = "mc_addr"
	callGroup      callKind = "group"
	callAddDevice  callKind = "add_device"
	callAddGateway callKind = "add_gateway"
	callEnqueue    callKind = "enqueue"
)

type call struct {
	Kind   callKind      `json:"kind"`
	DevEUI lorawan.EUI64 `json:"dev_eui"`
	Seq    uint64        `json:"seq"`
	Lane   int           `json:"lane,omitempty"`
	// Attempts counts the tries of an AddDevice or AddGateway.
	Attempts int `json:"attempts,omitempty"`
	// Action is the action as emitted, so that Resume can issue it again.
	Action json.RawMessage `json:"action,omitempty"`
}

const stateVersion = 2

// NewDeployment checks cfg and builds the deployment, or names the field that
// makes it impossible.
func NewDeployment(cfg DeploymentConfig) (*Deployment, error) {
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	st := state{
		Version: stateVersion, ID: cfg.ID, Request: cfg.Plan.Request, ImageHash: sha256.Sum256(cfg.Image),
		Cfg: storedConfig{
			FirmwareVersion: cfg.FirmwareVersion, McGroupID: cfg.McGroupID, Gateways: cfg.Gateways,
			Retry: cfg.Retry, SetupTimeout: cfg.SetupTimeout, StartMargin: cfg.StartMargin,
			TimeToStartTolerance: cfg.TimeToStartTolerance, BlockAckDelay: cfg.BlockAckDelay,
			Descriptor: cfg.Descriptor, StatusDelay: cfg.StatusDelay, RebootDelay: cfg.RebootDelay,
			RebootGrace: cfg.RebootGrace, UnicastSpacing: cfg.UnicastSpacing,
			UnicastFrequencyHz: cfg.UnicastFrequencyHz, UnicastDR: *cfg.UnicastDR, SchedulerLatency: cfg.SchedulerLatency,
			SessionClass: cfg.SessionClass, ConfirmByReset: cfg.ConfirmByReset, PingSlotPeriodicity: *cfg.PingSlotPeriodicity, ClassBMargin: cfg.ClassBMargin,
		},
		Phase: PhaseNew, NextID: 1, Calls: map[uint64]call{}, Timers: map[string]time.Time{},
	}
	if cfg.McKey != nil {
		st.McKey = *cfg.McKey
	} else if _, err := io.ReadFull(cfg.Rand, st.McKey[:]); err != nil {
		return nil, fmt.Errorf("rand: reading the multicast key: %w", err)
	}
	st.Sessions = sessionsOf(cfg.Plan)
	if cfg.SessionClass == ClassB {
		// A class B session lasts up to 2^15 beacon periods (48 days).
		st.Sessions = []sessionFrames{{First: 0, End: cfg.Plan.Frames}}
	}
	st.Lanes = []lane{{McGroupID: cfg.McGroupID, McAddr: cfg.McAddr}}
	if n := len(st.Sessions); n > 1 && !cfg.SingleGroup && int(cfg.McGroupID)+n <= multicast.MaxGroups {
		for k := 1; k < n; k++ {
			st.Lanes = append(st.Lanes, lane{McGroupID: cfg.McGroupID + uint8(k)})
		}
	}
	for _, dc := range cfg.Devices {
		dev := &device{Cfg: dc, Step: StepProbe, Received: make([]bool, len(cfg.Plan.Blocks))}
		if dc.Versions != nil {
			dev.Ver = *dc.Versions
		}
		st.Devices = append(st.Devices, dev)
	}
	d := &Deployment{st: st, plan: cfg.Plan, image: cfg.Image}
	d.index()
	return d, nil
}

func validate(cfg *DeploymentConfig) error {
	switch {
	case cfg.ID == "":
		return errors.New("id: must not be empty")
	case cfg.Plan == nil:
		return errors.New("plan: missing")
	case len(cfg.Image) != cfg.Plan.Request.ImageSize:
		return fmt.Errorf("image: %d bytes, the plan is for %d", len(cfg.Image), cfg.Plan.Request.ImageSize)
	case len(cfg.Plan.Blocks) > maxFragIndex:
		return fmt.Errorf("plan: %d data blocks; one campaign carries at most %d (FragIndex has 2 bits)", len(cfg.Plan.Blocks), maxFragIndex)
	case len(cfg.Devices) == 0:
		return errors.New("devices: none given")
	case cfg.McGroupID >= multicast.MaxGroups:
		return fmt.Errorf("mc_group_id %d: must be 0..%d", cfg.McGroupID, multicast.MaxGroups-1)
	case cfg.McKey == nil && cfg.Rand == nil:
		return errors.New("mc_key: give a key or a random source")
	case cfg.Retry.Count < 0:
		return fmt.Errorf("retry.count %d: must not be negative", cfg.Retry.Count)
	case cfg.Retry.Timeout < 0:
		return fmt.Errorf("retry.timeout %v: must not be negative", cfg.Retry.Timeout)
	case cfg.BlockAckDelay > 7:
		return fmt.Errorf("block_ack_delay %d: must be 0..7", cfg.BlockAckDelay)
	case cfg.SetupTimeout < 0 || cfg.StartMargin < 0 || cfg.StatusDelay < 0 || cfg.RebootDelay < 0 || cfg.RebootGrace < 0 || cfg.UnicastSpacing < 0 || cfg.SchedulerLatency < 0:
		return errors.New("setup_timeout, start_margin, status_delay, reboot_delay, reboot_grace, unicast_spacing, scheduler_latency: must not be negative")
	}
	reg, err := region.Get(cfg.Plan.Request.Region)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if cfg.UnicastFrequencyHz == 0 {
		cfg.UnicastFrequencyHz = reg.RX2().FrequencyHz
	}
	if cfg.UnicastDR == nil {
		dr := reg.RX2().DataRate
		cfg.UnicastDR = &dr
	}
	if _, err := reg.DownlinkToA(*cfg.UnicastDR, macOverhead); err != nil {
		return fmt.Errorf("unicast_dr %d: %w", *cfg.UnicastDR, err)
	}
	if _, _, err := subBandOf(reg, cfg.Plan.Request.DutyCycleModel, cfg.UnicastFrequencyHz); err != nil {
		return fmt.Errorf("unicast_frequency_hz: %w", err)
	}
	if cfg.SchedulerLatency == 0 {
		cfg.SchedulerLatency = DefaultSchedulerLatency
	}
	switch cfg.SessionClass {
	case "":
		cfg.SessionClass = ClassC
	case ClassC, ClassB:
	default:
		return fmt.Errorf("session_class %q: must be %q or %q", cfg.SessionClass, ClassC, ClassB)
	}
	if cfg.ClassBMargin < 0 {
		return fmt.Errorf("class_b_margin %v: must not be negative", cfg.ClassBMargin)
	}
	if cfg.ClassBMargin == 0 {
		cfg.ClassBMargin = 5 * time.Second
	}
	if cfg.PingSlotPeriodicity == nil {
		var p uint8
		for p < multicast.MaxPeriodicity && time.Duration(1<<(p+1))*time.Second <= cfg.Plan.FrameSpacing {
			p++
		}
		cfg.PingSlotPeriodicity = &p
	}
	if *cfg.PingSlotPeriodicity > multicast.MaxPeriodicity {
		return fmt.Errorf("ping_slot_periodicity %d: must be 0..%d", *cfg.PingSlotPeriodicity, multicast.MaxPeriodicity)
	}
	if cfg.UnicastSpacing == 0 {
		cfg.UnicastSpacing = 3 * time.Second
	}
	if cfg.Retry.Count == 0 {
		cfg.Retry.Count = 3
	}
	if cfg.Retry.Timeout == 0 {
		cfg.Retry.Timeout = 30 * time.Second
	}
	if cfg.TimeToStartTolerance == 0 {
		cfg.TimeToStartTolerance = 3
	}
	if cfg.StatusDelay == 0 {
		cfg.StatusDelay = 10 * time.Second
	}
	if cfg.RebootDelay == 0 {
		cfg.RebootDelay = time.Minute
	}
	if cfg.RebootDelay < time.Second {
		// A countdown of 0 means "reboot now, no answer" (TS006).
		return fmt.Errorf("reboot_delay %v: must be at least 1 s", cfg.RebootDelay)
	}
	if cfg.RebootDelay/time.Second > 0xfffffe {
		return fmt.Errorf("reboot_delay %v: the countdown has 24 bits", cfg.RebootDelay)
	}
	if cfg.RebootGrace == 0 {
		cfg.RebootGrace = time.Minute
	}
	seen := map[lorawan.EUI64]bool{}
	for i, dc := range cfg.Devices {
		switch {
		case seen[dc.DevEUI]:
			return fmt.Errorf("devices[%d].dev_eui %s: listed twice", i, dc.DevEUI)
		case dc.MACVersion != MAC10x && dc.MACVersion != MAC11:
			return fmt.Errorf("devices[%d].mac_version %q: must be %q or %q", i, dc.MACVersion, MAC10x, MAC11)
		case dc.Class != ClassA && dc.Class != ClassB && dc.Class != ClassC:
			return fmt.Errorf("devices[%d].class %q: must be %q, %q or %q", i, dc.Class, ClassA, ClassB, ClassC)
		case dc.Class != ClassC && dc.UplinkInterval <= 0:
			return fmt.Errorf("devices[%d].uplink_interval %v: a class %s device takes unicasts after its uplinks and needs its uplink interval", i, dc.UplinkInterval, dc.Class)
		}
		if v := dc.Versions; v != nil {
			switch {
			case v.Multicast != 1 && v.Multicast != 2:
				return fmt.Errorf("devices[%d].versions.multicast %d: must be 1 or 2", i, v.Multicast)
			case v.Fragmentation != 1 && v.Fragmentation != 2:
				return fmt.Errorf("devices[%d].versions.fragmentation %d: must be 1 or 2", i, v.Fragmentation)
			case v.ClockSync > 2:
				return fmt.Errorf("devices[%d].versions.clock_sync %d: must be 0..2", i, v.ClockSync)
			case v.FirmwareManagement > 1:
				return fmt.Errorf("devices[%d].versions.firmware_management %d: must be 0 or 1", i, v.FirmwareManagement)
			}
		}
		seen[dc.DevEUI] = true
	}
	gw := map[string]bool{}
	for i, g := range cfg.Gateways {
		switch {
		case g.ID == "" || gw[g.ID]:
			return fmt.Errorf("gateways[%d].id %q: empty or listed twice", i, g.ID)
		case g.Model != 0 && g.Model != dutycycle.SlidingWindow && g.Model != dutycycle.OffTime:
			return fmt.Errorf("gateways[%d].model %v: unknown", i, g.Model)
		}
		gw[g.ID] = true
	}
	return nil
}

// answerTimeout is how long an answer is awaited: a class A device can only
// take the downlink on its next uplink and answer on the one after.
func answerTimeout(r RetryPolicy, dc DeviceConfig) time.Duration {
	if dc.Class != ClassC {
		return r.Timeout + 2*dc.UplinkInterval
	}
	return r.Timeout
}

// statusAnswerTimeout is how long a FragSessionStatusAns is awaited: devices
// answer after a random wait of up to 2^(BlockAckDelay+4) s (PROTOCOLS.md
// §1.7), so the server waits that window plus an uplink interval on top of the
// usual timeout.
func statusAnswerTimeout(r RetryPolicy, dc DeviceConfig, blockAckDelay uint8) time.Duration {
	return answerTimeout(r, dc) + time.Duration(1<<(blockAckDelay+4))*time.Second + dc.UplinkInterval
}

func (d *Deployment) index() {
	d.byEUI = make(map[lorawan.EUI64]*device, len(d.st.Devices))
	for _, dev := range d.st.Devices {
		d.byEUI[dev.Cfg.DevEUI] = dev
	}
}

// ID returns the deployment's id.
func (d *Deployment) ID() string { return d.st.ID }

// Phase returns the deployment's phase.
func (d *Deployment) Phase() Phase { return d.st.Phase }

// Done reports whether the deployment has finished (completed or cancelled)
// and expects no more events.
func (d *Deployment) Done() bool {
	return len(d.st.Air.Outbox) == 0 && (d.st.Phase == PhaseDone || d.st.Phase == PhaseCanceled && d.groupSettled())
}

// SessionTime returns the start of the class C session; zero before it is
// chosen.
func (d *Deployment) SessionTime() time.Time {
	if d.st.SessionTime == 0 {
		return time.Time{}
	}
	return gpsTime(d.st.SessionTime)
}

// DeviceStatus is a device's progress, for reports.
type DeviceStatus struct {
	DevEUI   lorawan.EUI64
	Step     Step
	Outcome  Outcome
	Reason   string
	Versions PackageVersions
}

// Devices returns every device's progress, in configuration order.
func (d *Deployment) Devices() []DeviceStatus {
	out := make([]DeviceStatus, 0, len(d.st.Devices))
	for _, dev := range d.st.Devices {
		out = append(out, DeviceStatus{DevEUI: dev.Cfg.DevEUI, Step: dev.Step, Outcome: dev.Outcome, Reason: dev.Reason, Versions: dev.Ver})
	}
	return out
}

// Step applies one event at time now and returns what must happen next. An
// error means the event could not be applied (the state is then unchanged
// only for the errors documented as such); malformed or unexpected uplinks are
// not errors but Log actions.
func (d *Deployment) Step(now time.Time, ev Event) ([]Action, error) {
	s := &stepper{d: d, now: now}
	var err error
	switch ev := ev.(type) {
	case Start:
		err = s.start()
	case Cancel:
		s.cancel(ev.Reason)
	case Uplink:
		err = s.uplink(ev)
	case Timer:
		delete(d.st.Timers, ev.ID)
		err = s.timer(ev.ID)
	case Result:
		err = s.result(ev)
	case Refused:
		s.refused(ev)
	default:
		return nil, fmt.Errorf("deployment %s: unknown event %T", d.st.ID, ev)
	}
	if err != nil {
		return s.out, fmt.Errorf("deployment %s: %w", d.st.ID, err)
	}
	if err := s.advance(); err != nil {
		return s.out, fmt.Errorf("deployment %s: %w", d.st.ID, err)
	}
	if err := s.drain(); err != nil {
		s.setErr(err)
	}
	if p := d.st.Phase; p == PhaseDone || p == PhaseCanceled {
		s.releaseAddrs()
	}
	if s.err != nil {
		return s.out, fmt.Errorf("deployment %s: %w", d.st.ID, s.err)
	}
	return s.out, nil
}

// stepper collects the actions of one Step.
type stepper struct {
	d   *Deployment
	now time.Time
	out []Action
	// err is the first failure of a helper that has no error result.
	err error
}

func (s *stepper) setErr(err error) {
	if s.err == nil {
		s.err = err
	}
}

// emit adds actions to the step's output and records in the state what a
// restarted runner needs to redo: armed timers and calls awaiting a result.
func (s *stepper) emit(acts ...Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case SetTimer:
			s.d.st.Timers[a.ID] = a.At
		case GetDeviceKeys:
			s.remember(a.ActionID, a)
		case NextSessionCnt:
			s.remember(a.ActionID, a)
		case AllocateMcAddr:
			s.remember(a.ActionID, a)
		case CreateMulticastGroup:
			s.remember(a.ActionID, a)
		case EnqueueMulticast:
			s.remember(a.ActionID, a)
		case AddDevice:
			s.remember(a.ActionID, a)
		case AddGateway:
			s.remember(a.ActionID, a)
		}
	}
	s.out = append(s.out, acts...)
}

func (s *stepper) remember(id uint64, a Action) {
	c, ok := s.d.st.Calls[id]
	if !ok {
		return
	}
	b, err := json.Marshal(a)
	if err != nil {
		// The action types hold plain data; this cannot fail.
		panic(fmt.Sprintf("fuota: marshalling %T: %v", a, err))
	}
	c.Action = b
	s.d.st.Calls[id] = c
}

// Resume returns what a runner restarted with a deployment read back from
// storage must do before feeding it new events: arm again every timer the
// deployment had armed (at its time, or now if that has passed), and issue
// again every call whose result it never received. Issuing a call twice is
// safe for keys, SessionCnt (a fresh, higher value) and McAddr (the store
// returns an owner's address again); a repeated EnqueueMulticast sends one
// fragment twice, which devices discard; a repeated CreateMulticastGroup may
// leave an unused group in the network server, which the log says.
func (d *Deployment) Resume(now time.Time) ([]Action, error) {
	var out []Action
	for _, id := range slices.Sorted(maps.Keys(d.st.Timers)) {
		at := d.st.Timers[id]
		if at.Before(now) {
			at = now
		}
		out = append(out, SetTimer{ID: id, At: at})
	}
	for _, id := range slices.Sorted(maps.Keys(d.st.Calls)) {
		c := d.st.Calls[id]
		var a Action
		var err error
		switch c.Kind {
		case callKeys:
			a, err = unmarshalAction[GetDeviceKeys](c.Action)
		case callSessionCnt:
			a, err = unmarshalAction[NextSessionCnt](c.Action)
		case callMcAddr:
			a, err = unmarshalAction[AllocateMcAddr](c.Action)
		case callGroup:
			a, err = unmarshalAction[CreateMulticastGroup](c.Action)
			out = append(out, Log{Msg: "resuming: creating the multicast group again; an earlier attempt may have left an unused group"})
		case callEnqueue:
			a, err = unmarshalAction[EnqueueMulticast](c.Action)
		case callAddDevice:
			a, err = unmarshalAction[AddDevice](c.Action)
		case callAddGateway:
			a, err = unmarshalAction[AddGateway](c.Action)
		default:
			err = fmt.Errorf("unknown call kind %q", c.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("deployment %s: resuming call %d: %w", d.st.ID, id, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func unmarshalAction[T Action](b []byte) (T, error) {
	var a T
	if len(b) == 0 {
		return a, errors.New("no recorded action")
	}
	err := json.Unmarshal(b, &a)
	return a, err
}

func (s *stepper) log(eui lorawan.EUI64, format string, args ...any) {
	s.emit(Log{DevEUI: eui, Msg: fmt.Sprintf(format, args...)})
}

func (s *stepper) newCall(c call) uint64 {
	id := s.d.st.NextID
	s.d.st.NextID++
	s.d.st.Calls[id] = c
	return id
}

func (s *stepper) start() error {
	st := &s.d.st
	if st.Phase != PhaseNew {
		return nil // a repeated Start changes nothing
	}
	st.Phase = PhaseSetup
	if st.Cfg.SetupTimeout > 0 {
		s.emit(SetTimer{ID: timerSetupDeadline, At: s.now.Add(st.Cfg.SetupTimeout)})
	}
	if !s.d.addressed() {
		for k, l := range st.Lanes {
			if l.McAddr == nil {
				s.emit(AllocateMcAddr{ActionID: s.newCall(call{Kind: callMcAddr, Lane: k}), Lane: k})
			}
		}
		return nil
	}
	return s.startDevices()
}

func (s *stepper) startDevices() error {
	for _, dev := range s.d.st.Devices {
		if dev.terminal() {
			continue // failed by the setup deadline while the address was pending
		}
		if err := s.beginProbe(dev); err != nil {
			return err
		}
	}
	return nil
}

const (
	timerSetupDeadline = "setup-deadline"
	timerSessionStart  = "session-start/"
	timerSessionEnd    = "session-end/"
	timerStatus        = "status"
	timerGroupDelete   = "group-delete"
	timerPacePrefix    = "pace/"
	timerDevicePrefix  = "dev/"
)

func (s *stepper) timer(id string) error {
	st := &s.d.st
	switch {
	case id == timerSetupDeadline:
		if st.Phase == PhaseSetup {
			for _, dev := range st.Devices {
				if !dev.terminal() && dev.Step != StepReady {
					s.fail(dev, dev.Step, "setup deadline passed before the device was ready")
				}
			}
		}
	case strings.HasPrefix(id, timerSessionStart):
		if id == sessionTimerID(timerSessionStart, st.Session) {
			return s.sessionStart()
		}
	case strings.HasPrefix(id, timerSessionEnd):
		if k, err := strconv.Atoi(strings.TrimPrefix(id, timerSessionEnd)); err == nil {
			return s.sessionEnd(k)
		}
	case id == timerStatus:
		s.beginStatus()
	case id == timerGroupDelete:
		s.deleteGroup()
	case strings.HasPrefix(id, timerUnicastPrefix):
		return s.unicastTimer(id)
	case len(id) > len(timerPacePrefix) && id[:len(timerPacePrefix)] == timerPacePrefix:
		if id == s.paceTimerID() {
			return s.pace()
		}
	case len(id) > len(timerDevicePrefix) && id[:len(timerDevicePrefix)] == timerDevicePrefix:
		eui, seq, err := parseDevTimer(id)
		if err != nil {
			s.log(lorawan.EUI64{}, "ignoring timer %q: %v", id, err)
			return nil
		}
		if dev := s.d.byEUI[eui]; dev != nil && dev.Seq == seq && !dev.terminal() {
			return s.deviceTimer(dev)
		}
	}
	return nil
}

func parseDevTimer(id string) (lorawan.EUI64, uint64, error) {
	var eui lorawan.EUI64
	hex, seqText, ok := strings.Cut(strings.TrimPrefix(id, timerDevicePrefix), "/")
	if !ok {
		return eui, 0, errors.New("no sequence number")
	}
	if err := eui.UnmarshalText([]byte(hex)); err != nil {
		return eui, 0, err
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	return eui, seq, err
}

func (s *stepper) result(r Result) error {
	st := &s.d.st
	c, ok := st.Calls[r.ActionID]
	if !ok {
		return nil // unknown or already consumed: a duplicate
	}
	delete(st.Calls, r.ActionID)
	switch c.Kind {
	case callMcAddr:
		if st.Phase != PhaseSetup {
			return nil
		}
		if r.Err != nil {
			for _, dev := range st.Devices {
				s.fail(dev, StepMcGroup, "no multicast address: "+r.Err.Error())
			}
			return nil
		}
		a := r.McAddr
		st.Lanes[c.Lane].McAddr = &a
		st.Lanes[c.Lane].Allocated = true
		if !s.d.addressed() {
			return nil
		}
		return s.startDevices()
	case callGroup:
		return s.groupCreated(c, r)
	case callAddDevice, callAddGateway:
		return s.memberAdded(c, r)
	case callEnqueue:
		if r.Err != nil {
			// The frame is lost like a radio loss; parity covers it, and the
			// status round tells who is short.
			st.Mc.EnqueueErrors++
			s.log(lorawan.EUI64{}, "enqueueing fragment failed: %v", r.Err)
		}
		return nil
	}
	dev := s.d.byEUI[c.DevEUI]
	if dev == nil || dev.terminal() || dev.Seq != c.Seq {
		return nil // the device moved on; the result is stale
	}
	switch c.Kind {
	case callKeys:
		return s.keysRead(dev, r)
	case callSessionCnt:
		return s.sessionCntRead(dev, r)
	}
	return nil
}

// MarshalBinary returns the deployment's state as a versioned JSON blob. The
// image is not part of it; UnmarshalDeployment is given it again and checks
// its hash.
func (d *Deployment) MarshalBinary() ([]byte, error) {
	d.saveLedgers()
	b, err := json.Marshal(&d.st)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: marshal: %w", d.st.ID, err)
	}
	return b, nil
}

// UnmarshalDeployment rebuilds a deployment from MarshalBinary's blob and the
// image it was created with.
func UnmarshalDeployment(data, image []byte) (*Deployment, error) {
	var st state
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("unmarshal deployment: %w", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("unmarshal deployment %s: state version %d, want %d", st.ID, st.Version, stateVersion)
	}
	if sha256.Sum256(image) != st.ImageHash {
		return nil, fmt.Errorf("unmarshal deployment %s: image does not match the deployment's (SHA-256 differs)", st.ID)
	}
	plan, err := NewPlan(st.Request)
	if err != nil {
		return nil, fmt.Errorf("unmarshal deployment %s: re-planning: %w", st.ID, err)
	}
	if st.Calls == nil {
		st.Calls = map[uint64]call{}
	}
	if st.Timers == nil {
		st.Timers = map[string]time.Time{}
	}
	d := &Deployment{st: st, plan: plan, image: image}
	d.index()
	return d, nil
}
