package fuota

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/multicast"
)

// device is one device's persisted progress.
type device struct {
	Cfg DeviceConfig    `json:"config"`
	Ver PackageVersions `json:"versions"`
	// Step is where the device is; with an Outcome, where it stopped.
	Step    Step    `json:"step"`
	Outcome Outcome `json:"outcome,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	// Seq grows with every request and phase change; timers and results carry
	// it so that stale ones are recognised.
	Seq     uint64   `json:"seq"`
	Pending *pending `json:"pending,omitempty"`
	Probe   int      `json:"probe"`
	Block   int      `json:"block"`
	// McKeyEnc and IntKey are derived from the root key, which is not kept.
	McKeyEnc     applayer.Bytes16   `json:"mc_key_encrypted"`
	IntKey       *lorawan.AES128Key `json:"int_key,omitempty"`
	SessionCnt   uint16             `json:"session_cnt"`
	FragAttempts int                `json:"frag_attempts"`
	// McSetUp counts the lanes whose group the device has set up; Lane is
	// the lane of the setup or session request under way.
	McSetUp   int `json:"mc_set_up"`
	Lane      int `json:"lane"`
	FragSetUp int `json:"frag_set_up"`
	// Received marks the blocks the device has confirmed.
	Received      []bool   `json:"received"`
	Notes         []string `json:"notes,omitempty"`
	NextVersion   uint32   `json:"next_version"`
	RebootPending bool     `json:"reboot_pending"`
	// Problem is what the device's last session answer got wrong.
	Problem string `json:"problem,omitempty"`
	// Resets counts the checked reboots after the new version first ran
	// (ConfirmByReset).
	Resets  int    `json:"resets,omitempty"`
	Running uint32 `json:"running"`
}

// pending is the one unicast request a device has outstanding.
type pending struct {
	FPort    uint8             `json:"fport"`
	CID      byte              `json:"cid"`
	Index    int               `json:"index"` // FragIndex or McGroupID; -1 when the answer has none
	Name     string            `json:"name"`
	Data     applayer.HexBytes `json:"data"`
	Attempts int               `json:"attempts"`
	// Hold keeps answers from matching until the request is sent again (after
	// a ForceDeviceResync).
	Hold bool `json:"hold,omitempty"`
	// Queued marks a request waiting in the outbox for its airtime; its
	// answer timer starts when it is handed over.
	Queued bool `json:"queued,omitempty"`
}

func (dev *device) terminal() bool { return dev.Outcome != "" }

// probeOrder is the order of PackageVersionReq: the packages the campaign
// cannot do without first.
var probeOrder = []struct {
	fport uint8
	id    uint8
	name  string
}{
	{multicast.DefaultFPort, multicast.PackageID, "TS005"},
	{fragmentation.DefaultFPort, fragmentation.PackageID, "TS004"},
	{clocksync.FPort, clocksync.PackageID, "TS003"},
	{fwmanagement.FPort, fwmanagement.PackageID, "TS006"},
}

func devTimerID(dev *device) string {
	return fmt.Sprintf("%s%s/%d", timerDevicePrefix, dev.Cfg.DevEUI, dev.Seq)
}

func encode(fport uint8, cmds ...applayer.Command) ([]byte, error) {
	switch fport {
	case multicast.DefaultFPort:
		return multicast.EncodeFrame(cmds...)
	case fragmentation.DefaultFPort:
		return fragmentation.EncodeFrame(cmds...)
	case clocksync.FPort:
		return clocksync.EncodeFrame(cmds...)
	case fwmanagement.FPort:
		return fwmanagement.EncodeFrame(cmds...)
	}
	return nil, fmt.Errorf("fport %d: not a FUOTA port", fport)
}

// send makes cmd the device's outstanding request; index is the FragIndex or
// McGroupID its answer must carry (-1: none).
func (s *stepper) send(dev *device, fport uint8, index int, cmd applayer.Command, attempts int) error {
	data, err := encode(fport, cmd)
	if err != nil {
		return fmt.Errorf("device %s: encoding %s: %w", dev.Cfg.DevEUI, cmd.Name(), err)
	}
	dev.Pending = &pending{FPort: fport, CID: cmd.CID(), Index: index, Name: cmd.Name(), Data: data, Attempts: attempts}
	return s.transmit(dev)
}

// transmit sends the outstanding request: at once to a class A device (the
// network server holds it for the device's next uplink), through the
// outbox to a class C device, when its airtime comes (downlink.go).
func (s *stepper) transmit(dev *device) error {
	p := dev.Pending
	p.Hold = false
	dev.Seq++
	if dev.Cfg.Class == ClassC {
		p.Queued = true
		return s.post(outItem{DevEUI: dev.Cfg.DevEUI, Request: true, Seq: dev.Seq, FPort: p.FPort, Data: p.Data})
	}
	s.enqueue(dev)
	return nil
}

// enqueue hands the outstanding request to the network server and starts
// waiting for its answer.
func (s *stepper) enqueue(dev *device) {
	p := dev.Pending
	p.Queued = false
	dev.Seq++
	wait := answerTimeout(s.d.st.Cfg.Retry, dev.Cfg)
	if p.FPort == fragmentation.DefaultFPort && p.CID == fragmentation.CIDFragSessionStatus {
		wait = statusAnswerTimeout(s.d.st.Cfg.Retry, dev.Cfg, s.d.st.Cfg.BlockAckDelay)
	}
	s.emit(EnqueueUnicast{DevEUI: dev.Cfg.DevEUI, FPort: p.FPort, Data: append([]byte(nil), p.Data...)},
		SetTimer{ID: devTimerID(dev), At: s.now.Add(wait)})
}

// settle clears the outstanding request and invalidates its timer.
func (dev *device) settle() {
	dev.Pending = nil
	dev.Seq++
}

// fire sends a command that has no answer.
func (s *stepper) fire(dev *device, fport uint8, cmds ...applayer.Command) {
	data, err := encode(fport, cmds...)
	if err != nil {
		s.log(dev.Cfg.DevEUI, "encoding on FPort %d: %v", fport, err)
		return
	}
	if dev.Cfg.Class == ClassC {
		if err := s.post(outItem{DevEUI: dev.Cfg.DevEUI, FPort: fport, Data: data}); err != nil {
			s.setErr(err)
		}
		return
	}
	s.emit(EnqueueUnicast{DevEUI: dev.Cfg.DevEUI, FPort: fport, Data: data})
}

func (s *stepper) fail(dev *device, step Step, reason string) {
	if dev.terminal() {
		return
	}
	s.conclude(dev, Failed, step, reason)
}

func (s *stepper) conclude(dev *device, o Outcome, step Step, reason string) {
	dev.settle()
	dev.Outcome, dev.Step, dev.Reason = o, step, reason
	s.emit(Verdict{DevEUI: dev.Cfg.DevEUI, Outcome: o, Step: step, Reason: reason, FirmwareVersion: dev.Running})
	s.cleanupDevice(dev)
}

// cleanupDevice deletes what the device holds for the campaign. The answers
// are only logged: the device is done either way.
func (s *stepper) cleanupDevice(dev *device) {
	if dev.FragSetUp > 0 {
		var cmds []applayer.Command
		for b := range dev.FragSetUp {
			cmds = append(cmds, &fragmentation.FragSessionDeleteReq{FragIndex: uint8(b)})
		}
		s.fire(dev, fragmentation.DefaultFPort, cmds...)
		dev.FragSetUp = 0
	}
	if dev.McSetUp > 0 {
		var cmds []applayer.Command
		for _, l := range s.d.st.Lanes[:dev.McSetUp] {
			cmds = append(cmds, &multicast.McGroupDeleteReq{McGroupID: l.McGroupID})
		}
		s.fire(dev, multicast.DefaultFPort, cmds...)
		dev.McSetUp = 0
	}
}

func (s *stepper) beginProbe(dev *device) error {
	if dev.Cfg.Versions != nil {
		return s.beginKeys(dev)
	}
	dev.Step, dev.Probe = StepProbe, 0
	return s.sendProbe(dev, 1)
}

func (s *stepper) sendProbe(dev *device, attempts int) error {
	return s.send(dev, probeOrder[dev.Probe].fport, -1, &applayer.PackageVersionReq{}, attempts)
}

func (s *stepper) probeAns(dev *device, fport uint8, ans *applayer.PackageVersionAns) error {
	p := probeOrder[dev.Probe]
	if ans.PackageIdentifier != p.id {
		s.log(dev.Cfg.DevEUI, "PackageVersionAns on FPort %d names package %d, not %s (%d); ignored", fport, ans.PackageIdentifier, p.name, p.id)
		return nil
	}
	v := ans.PackageVersion
	if v != 1 && !(v == 2 && p.fport != fwmanagement.FPort) {
		s.log(dev.Cfg.DevEUI, "%s version %d is not supported", p.name, v)
		v = 0
	}
	return s.probed(dev, v)
}

func (s *stepper) probed(dev *device, v uint8) error {
	p := probeOrder[dev.Probe]
	switch p.fport {
	case multicast.DefaultFPort:
		dev.Ver.Multicast = v
	case fragmentation.DefaultFPort:
		dev.Ver.Fragmentation = v
	case clocksync.FPort:
		dev.Ver.ClockSync = v
	case fwmanagement.FPort:
		dev.Ver.FirmwareManagement = v
	}
	if v == 0 && (p.fport == multicast.DefaultFPort || p.fport == fragmentation.DefaultFPort) {
		s.fail(dev, StepProbe, fmt.Sprintf("%s: no supported version on FPort %d; the campaign needs it", p.name, p.fport))
		return nil
	}
	dev.settle()
	if dev.Probe++; dev.Probe < len(probeOrder) {
		return s.sendProbe(dev, 1)
	}
	return s.beginBaseline(dev)
}

// beginBaseline asks a TS006 device which version it runs before anything is
// set up, when the deployment names the version it installs: a device that
// already runs it is skipped, and the inventory learns the others' versions.
func (s *stepper) beginBaseline(dev *device) error {
	if s.d.st.Cfg.FirmwareVersion == 0 || dev.Ver.FirmwareManagement == 0 {
		return s.beginKeys(dev)
	}
	dev.Step = StepProbe
	dev.Probe = len(probeOrder)
	return s.send(dev, fwmanagement.FPort, -1, &fwmanagement.DevVersionReq{}, 1)
}

func (s *stepper) beginKeys(dev *device) error {
	dev.settle()
	dev.Step = StepKeys
	s.emit(GetDeviceKeys{ActionID: s.newCall(call{Kind: callKeys, DevEUI: dev.Cfg.DevEUI, Seq: dev.Seq}), DevEUI: dev.Cfg.DevEUI})
	return nil
}

func (s *stepper) keysRead(dev *device, r Result) error {
	if r.Err != nil {
		s.fail(dev, StepKeys, "reading the device keys: "+r.Err.Error())
		return nil
	}
	var root, mcRoot lorawan.AES128Key
	switch dev.Cfg.MACVersion {
	case MAC10x:
		if root = r.Keys.GenAppKey; root == (lorawan.AES128Key{}) {
			s.fail(dev, StepKeys, "no gen_app_key: a LoRaWAN 1.0.x device derives its multicast keys from GenAppKey, not AppKey")
			return nil
		}
		mcRoot = multicast.McRootKeyFromGenAppKey(root)
	default:
		if root = r.Keys.AppKey; root == (lorawan.AES128Key{}) {
			s.fail(dev, StepKeys, "no app_key: a LoRaWAN 1.1 device derives its multicast keys from AppKey")
			return nil
		}
		mcRoot = multicast.McRootKeyFromAppKey(root)
	}
	dev.McKeyEnc = multicast.EncryptMcKey(multicast.McKEKey(mcRoot), s.d.st.McKey)
	if dev.Ver.Fragmentation == 2 {
		k := fragmentation.DataBlockIntKey(root)
		dev.IntKey = &k
	}
	dev.Step = StepMcGroup
	dev.Lane = 0
	return s.sendMcGroupSetup(dev)
}

// sendMcGroupSetup sets up the group of lane dev.Lane; every lane shares the
// campaign's McKey, under an address of its own.
func (s *stepper) sendMcGroupSetup(dev *device) error {
	l := s.d.st.Lanes[dev.Lane]
	return s.send(dev, multicast.DefaultFPort, int(l.McGroupID), &multicast.McGroupSetupReq{
		McGroupID: l.McGroupID, McAddr: *l.McAddr, McKeyEncrypted: dev.McKeyEnc,
		// A new group's frame counter starts at 0 (CHIRPSTACK.md §1.1).
		MinMcFCnt: 0, MaxMcFCnt: math.MaxUint32,
	}, 1)
}

// beginFragSetup sets up block dev.Block; a v2 device first gets a fresh
// SessionCnt, on every attempt, so that a retry is never taken for a replay.
func (s *stepper) beginFragSetup(dev *device, attempts int) error {
	dev.settle()
	dev.Step = StepFragSetup
	dev.FragAttempts = attempts
	if dev.Ver.Fragmentation == 2 {
		s.emit(NextSessionCnt{ActionID: s.newCall(call{Kind: callSessionCnt, DevEUI: dev.Cfg.DevEUI, Seq: dev.Seq}),
			DevEUI: dev.Cfg.DevEUI, FragIndex: uint8(dev.Block)})
		return nil
	}
	return s.sendFragSetup(dev)
}

func (s *stepper) sessionCntRead(dev *device, r Result) error {
	if r.Err != nil {
		s.fail(dev, StepFragSetup, fmt.Sprintf("block %d: no SessionCnt: %v", dev.Block, r.Err))
		return nil
	}
	dev.SessionCnt = r.SessionCnt
	return s.sendFragSetup(dev)
}

func (s *stepper) sendFragSetup(dev *device) error {
	b := s.d.plan.Blocks[dev.Block]
	req := &fragmentation.FragSessionSetupReq{
		Version: dev.Ver.Fragmentation, FragIndex: uint8(dev.Block), McGroupBitMask: s.d.mcGroupMask(),
		NbFrag: uint16(b.NbFrag), FragSize: uint8(s.d.plan.FragmentSize), BlockAckDelay: s.d.st.Cfg.BlockAckDelay,
		Padding: uint8(b.Padding), Descriptor: s.d.st.Cfg.Descriptor,
	}
	if req.Version == 2 {
		req.SessionCnt = dev.SessionCnt
		req.AckReception = true
		if err := req.SetMIC(*dev.IntKey, s.d.image[b.Offset:b.Offset+b.Size]); err != nil {
			return fmt.Errorf("device %s: block %d MIC: %w", dev.Cfg.DevEUI, dev.Block, err)
		}
	}
	return s.send(dev, fragmentation.DefaultFPort, dev.Block, req, dev.FragAttempts+1)
}

func setupReasons(a *fragmentation.FragSessionSetupAns) string {
	var r []string
	if a.FragAlgoUnsupported {
		r = append(r, "fragmentation algorithm not supported")
	}
	if a.NotEnoughMemory {
		r = append(r, "not enough memory for the data block")
	}
	if a.FragIndexUnsupported {
		r = append(r, fmt.Sprintf("FragIndex %d not supported", a.FragIndex))
	}
	if a.WrongDescriptor {
		r = append(r, "descriptor refused")
	}
	if a.SessionCntReplay {
		r = append(r, "SessionCnt replay (not above the last one the device saw)")
	}
	return "FragSessionSetupAns: " + strings.Join(r, "; ")
}

func (s *stepper) fragSetupAns(dev *device, a *fragmentation.FragSessionSetupAns) error {
	if !a.Accepted() {
		s.fail(dev, StepFragSetup, fmt.Sprintf("block %d: %s", a.FragIndex, setupReasons(a)))
		return nil
	}
	dev.FragSetUp = max(dev.FragSetUp, dev.Block+1)
	if dev.Block++; dev.Block < len(s.d.plan.Blocks) {
		return s.beginFragSetup(dev, 0)
	}
	dev.settle()
	dev.Step = StepReady
	return nil
}

// sendSessionReq asks for the class C session of lane dev.Lane (with one
// lane, of the current session).
func (s *stepper) sendSessionReq(dev *device, attempts int) error {
	st := &s.d.st
	dev.Step = StepSession
	l := s.d.lane()
	if s.d.laned() {
		l = &st.Lanes[dev.Lane]
	}
	if st.Cfg.SessionClass == ClassB {
		return s.send(dev, multicast.DefaultFPort, int(l.McGroupID), &multicast.McClassBSessionReq{
			Version: max(dev.Ver.Multicast, 1), McGroupID: l.McGroupID, SessionTime: uint32(l.SessionTime), TimeOut: l.TimeOut,
			Periodicity: st.Cfg.PingSlotPeriodicity, DLFrequency: s.d.plan.FrequencyHz, DR: uint8(s.d.plan.Request.DR),
		}, attempts)
	}
	return s.send(dev, multicast.DefaultFPort, int(l.McGroupID), &multicast.McClassCSessionReq{
		McGroupID: l.McGroupID, SessionTime: uint32(l.SessionTime), TimeOut: l.TimeOut,
		DLFrequency: s.d.plan.FrequencyHz, DR: uint8(s.d.plan.Request.DR),
	}, attempts)
}

// sessionAns takes a McClassCSessionAns or McClassBSessionAns: a its
// fields, problem its Err.
func (s *stepper) sessionAns(dev *device, a *multicast.SessionAns, problem error, rx time.Time) {
	st := &s.d.st
	asked := st.SessionTime
	if s.d.laned() {
		asked = st.Lanes[dev.Lane].SessionTime
	}
	if problem == nil {
		if _, err := multicast.CheckTimeToStart(uint32(asked), clocksync.GPSSeconds(rx), *a.TimeToStart, st.Cfg.TimeToStartTolerance); err != nil {
			problem = fmt.Errorf("TimeToStart %d s: %w", *a.TimeToStart, err)
		}
	}
	if problem == nil {
		dev.settle()
		if s.d.laned() && dev.Lane+1 < len(st.Lanes) {
			dev.Lane++
			if err := s.sendSessionReq(dev, 1); err != nil {
				s.setErr(err)
			}
			return
		}
		dev.Step = StepMulticast
		return
	}
	clock := a.StartMissed || errors.Is(problem, multicast.ErrClockSkew)
	if clock && dev.Ver.ClockSync > 0 && dev.Pending.Attempts <= st.Cfg.Retry.Count && s.now.Before(s.d.SessionTime()) {
		// Let the device correct its clock, then ask again with the same
		// SessionTime when the retry timer fires.
		s.log(dev.Cfg.DevEUI, "%v; forcing a clock resync", problem)
		dev.Problem = problem.Error()
		s.fire(dev, clocksync.FPort, &clocksync.ForceDeviceResync{Version: dev.Ver.ClockSync, NbTransmissions: 3})
		dev.Pending.Hold = true
		return
	}
	s.fail(dev, StepSession, problem.Error())
}

func (s *stepper) nextStatus(dev *device) error {
	for ; dev.Block < len(dev.Received); dev.Block++ {
		if !dev.Received[dev.Block] {
			return s.send(dev, fragmentation.DefaultFPort, dev.Block,
				&fragmentation.FragSessionStatusReq{Participants: true, FragIndex: uint8(dev.Block)}, 1)
		}
	}
	return s.afterStatus(dev)
}

func (s *stepper) statusAns(dev *device, a *fragmentation.FragSessionStatusAns) error {
	b := int(a.FragIndex)
	switch {
	case a.MemoryError || a.NotEnoughMatrixMemory:
		s.fail(dev, StepStatus, fmt.Sprintf("block %d: the device ran out of memory for the decoder", b))
		return nil
	case a.MICError && a.MissingFrag == 0:
		s.fail(dev, StepStatus, fmt.Sprintf("block %d: the reconstructed block fails its MIC", b))
		return nil
	case a.SessionDoesNotExist:
		dev.Notes = append(dev.Notes, fmt.Sprintf("block %d: the device reports no session", b))
	case a.Done():
		dev.Received[b] = true
	default:
		// Not proof of failure: LoRa Basics Modem may stay at 1, LoRaMac-node
		// above 0 (PROTOCOLS.md §5.5); TS006 decides when present.
		dev.Notes = append(dev.Notes, fmt.Sprintf("block %d: the device reports %d fragments missing", b, a.MissingFrag))
	}
	dev.settle()
	dev.Block = b + 1
	return s.nextStatus(dev)
}

func (s *stepper) blockReceived(dev *device, r *fragmentation.FragDataBlockReceivedReq) error {
	b := int(r.FragIndex)
	s.fire(dev, fragmentation.DefaultFPort, &fragmentation.FragDataBlockReceivedAns{FragIndex: r.FragIndex})
	if b >= len(dev.Received) || dev.Step != StepMulticast && dev.Step != StepStatus {
		return nil
	}
	if r.MICError {
		s.fail(dev, StepStatus, fmt.Sprintf("block %d: the reconstructed block fails its MIC", b))
		return nil
	}
	dev.Received[b] = true
	if p := dev.Pending; dev.Step == StepStatus && p != nil && p.CID == fragmentation.CIDFragSessionStatus && p.Index == b {
		dev.settle()
		dev.Block = b + 1
		return s.nextStatus(dev)
	}
	return nil
}

// blockAuth takes LoRaMac-node's legacy 0x05 uplink, the CRC32 of the block it
// rebuilt, as evidence of completion: its StatusAns keeps reporting missing
// fragments after success (PROTOCOLS.md §5.5). The uplink carries no FragIndex,
// so the CRC is compared with every block.
func (s *stepper) blockAuth(dev *device, a *fragmentation.FragDataBlockAuthReq) error {
	if dev.Step != StepMulticast && dev.Step != StepStatus {
		return nil
	}
	for b, bp := range s.d.plan.Blocks {
		if b >= len(dev.Received) || !a.Matches(s.d.image[bp.Offset:bp.Offset+bp.Size]) {
			continue
		}
		dev.Received[b] = true
		s.log(dev.Cfg.DevEUI, "block %d: the device's CRC32 %08x matches", b, a.CRC32)
		if p := dev.Pending; dev.Step == StepStatus && p != nil && p.CID == fragmentation.CIDFragSessionStatus && p.Index == b {
			dev.settle()
			dev.Block = b + 1
			return s.nextStatus(dev)
		}
		return nil
	}
	s.log(dev.Cfg.DevEUI, "CRC32 %08x matches no block", a.CRC32)
	return nil
}

func (s *stepper) afterStatus(dev *device) error {
	dev.settle()
	complete := true
	for _, r := range dev.Received {
		complete = complete && r
	}
	switch {
	case dev.Ver.FirmwareManagement > 0:
		// DevUpgradeImageAns = 3 is the evidence when the status answers are
		// not conclusive.
		dev.Step = StepUpgrade
		return s.send(dev, fwmanagement.FPort, -1, &fwmanagement.DevUpgradeImageReq{}, 1)
	case complete:
		s.conclude(dev, Received, StepDone, "image reconstructed; no TS006 to install and confirm it")
	default:
		s.fail(dev, StepStatus, strings.Join(dev.Notes, "; "))
	}
	return nil
}

func (s *stepper) upgradeAns(dev *device, a *fwmanagement.DevUpgradeImageAns) error {
	want := s.d.st.Cfg.FirmwareVersion
	switch {
	case a.UpImageStatus != fwmanagement.UpImageValid:
		reason := fmt.Sprintf("DevUpgradeImageAns: upgrade image %v", a.UpImageStatus)
		if len(dev.Notes) > 0 {
			reason += " (" + strings.Join(dev.Notes, "; ") + ")"
		}
		s.fail(dev, StepUpgrade, reason)
		return nil
	case want != 0 && a.NextFirmwareVersion != want:
		s.fail(dev, StepUpgrade, fmt.Sprintf("the stored image installs version %#08x, expected %#08x", a.NextFirmwareVersion, want))
		return nil
	}
	for i := range dev.Received {
		dev.Received[i] = true
	}
	dev.NextVersion = a.NextFirmwareVersion
	dev.settle()
	dev.Step = StepReboot
	return s.send(dev, fwmanagement.FPort, -1, &fwmanagement.DevRebootCountdownReq{Countdown: uint32(s.d.st.Cfg.RebootDelay / time.Second)}, 1)
}

func (s *stepper) rebootAns(dev *device, a *fwmanagement.DevRebootCountdownAns, rx time.Time) {
	if a.Failed() {
		s.fail(dev, StepReboot, "DevRebootCountdownAns: the device cannot count down to a reboot")
		return
	}
	if a.CancelAcked() {
		return
	}
	dev.settle()
	dev.RebootPending = true
	s.emit(SetTimer{ID: devTimerID(dev), At: rx.Add(time.Duration(a.Countdown)*time.Second + s.d.st.Cfg.RebootGrace)})
}

func (s *stepper) versionAns(dev *device, a *fwmanagement.DevVersionAns) error {
	if dev.Step == StepProbe {
		dev.Running = a.FWVersion
		if a.FWVersion == s.d.st.Cfg.FirmwareVersion {
			s.conclude(dev, Skipped, StepProbe, fmt.Sprintf("already runs version %#08x", a.FWVersion))
			return nil
		}
		return s.beginKeys(dev)
	}
	want := s.d.st.Cfg.FirmwareVersion
	if want == 0 {
		want = dev.NextVersion
	}
	dev.RebootPending = false
	dev.Running = a.FWVersion
	if a.FWVersion != want {
		reason := fmt.Sprintf("reverted: the device runs version %#08x after the reboot, expected %#08x", a.FWVersion, want)
		if dev.Resets > 0 {
			reason = fmt.Sprintf("reverted at the reset after the update: the device runs version %#08x, so the new image was never confirmed", a.FWVersion)
		}
		s.fail(dev, StepVersion, reason)
		return nil
	}
	if s.d.st.Cfg.ConfirmByReset && dev.Resets == 0 {
		// The new version runs; one more reset shows whether it stays.
		dev.Resets++
		dev.settle()
		dev.Step = StepReboot
		return s.send(dev, fwmanagement.FPort, -1, &fwmanagement.DevRebootCountdownReq{Countdown: uint32(s.d.st.Cfg.RebootDelay / time.Second)}, 1)
	}
	s.conclude(dev, Updated, StepDone, "")
	return nil
}

// deviceTimer handles the device's timer: an answer that did not come, or the
// reboot that should be over.
func (s *stepper) deviceTimer(dev *device) error {
	p := dev.Pending
	if p != nil && p.Queued {
		return nil // waiting in the outbox, which sends it
	}
	if p == nil {
		if dev.Step == StepReboot && dev.RebootPending {
			dev.Step = StepVersion
			return s.send(dev, fwmanagement.FPort, -1, &fwmanagement.DevVersionReq{}, 1)
		}
		return nil
	}
	if p.Attempts <= s.d.st.Cfg.Retry.Count {
		if dev.Step == StepFragSetup && dev.Ver.Fragmentation == 2 {
			return s.beginFragSetup(dev, p.Attempts)
		}
		p.Attempts++
		return s.transmit(dev)
	}
	what := fmt.Sprintf("no %s answer after %d attempts", strings.TrimSuffix(p.Name, "Req"), p.Attempts)
	switch dev.Step {
	case StepProbe:
		if dev.Probe >= len(probeOrder) {
			// The baseline DevVersionReq: its version stays unknown.
			s.log(dev.Cfg.DevEUI, "%s; the running version is unknown", what)
			return s.beginKeys(dev)
		}
		if pr := probeOrder[dev.Probe]; pr.fport == clocksync.FPort || pr.fport == fwmanagement.FPort {
			s.log(dev.Cfg.DevEUI, "%s: %s on FPort %d; taken as absent", pr.name, what, pr.fport)
			return s.probed(dev, 0)
		}
		what = fmt.Sprintf("%s on FPort %d", what, p.FPort)
	case StepStatus:
		dev.Notes = append(dev.Notes, fmt.Sprintf("block %d: %s", dev.Block, what))
		dev.settle()
		dev.Block++
		return s.nextStatus(dev)
	}
	s.fail(dev, dev.Step, what)
	return nil
}

func (s *stepper) uplink(ev Uplink) error {
	dev := s.d.byEUI[ev.DevEUI]
	if dev == nil {
		s.log(ev.DevEUI, "uplink from a device outside the deployment; ignored")
		return nil
	}
	if dev.terminal() {
		// A device keeps resending FragDataBlockReceivedReq until answered
		// (STM32CubeWL every 1.5 s): answer it even after the verdict.
		if ev.FPort == fragmentation.DefaultFPort && len(ev.Data) > 0 && ev.Data[0] == fragmentation.CIDFragDataBlockReceived && dev.Ver.Fragmentation == 2 {
			if cmds, err := fragmentation.DecodeFrame(ev.Data, applayer.Uplink, 2); err == nil {
				for _, c := range cmds {
					if r, ok := c.(*fragmentation.FragDataBlockReceivedReq); ok {
						s.fire(dev, fragmentation.DefaultFPort, &fragmentation.FragDataBlockReceivedAns{FragIndex: r.FragIndex})
					}
				}
			}
		}
		return nil
	}
	var cmds []applayer.Command
	var err error
	v := func(v uint8) uint8 { return max(v, 1) }
	switch ev.FPort {
	case multicast.DefaultFPort:
		cmds, err = multicast.DecodeFrame(ev.Data, applayer.Uplink, v(dev.Ver.Multicast))
	case fragmentation.DefaultFPort:
		cmds, err = s.decodeFrag(dev, ev.Data)
	case clocksync.FPort:
		cmds, err = clocksync.DecodeFrame(ev.Data, applayer.Uplink, v(dev.Ver.ClockSync))
	case fwmanagement.FPort:
		cmds, err = fwmanagement.DecodeFrame(ev.Data, applayer.Uplink, 1)
	default:
		s.log(dev.Cfg.DevEUI, "uplink on FPort %d is not for FUOTA; ignored", ev.FPort)
		return nil
	}
	if err != nil {
		// Use what decoded before the malformed command.
		s.log(dev.Cfg.DevEUI, "uplink on FPort %d: %v", ev.FPort, err)
	}
	for _, c := range cmds {
		if dev.terminal() {
			break
		}
		if err := s.command(dev, ev, c); err != nil {
			return err
		}
	}
	return nil
}

// decodeFrag reads a TS004 uplink; a v2 device's leading FragSessionStatusAns
// is read in whichever byte order it was sent (STM32CubeWL sends v1 order).
func (s *stepper) decodeFrag(dev *device, data []byte) ([]applayer.Command, error) {
	ver := max(dev.Ver.Fragmentation, 1)
	if ver != 2 || len(data) < 2 || data[0] != fragmentation.CIDFragSessionStatus {
		return fragmentation.DecodeFrame(data, applayer.Uplink, ver)
	}
	want := uint8(0)
	if p := dev.Pending; p != nil && p.CID == fragmentation.CIDFragSessionStatus {
		want = uint8(p.Index)
	}
	r, err := fragmentation.DecodeStatusAnsAuto(data[1:], want)
	if err != nil {
		return nil, fmt.Errorf("FragSessionStatusAns: %w", err)
	}
	cmds := []applayer.Command{r.Ans}
	if rest := data[1+r.N:]; len(rest) > 0 {
		more, err := fragmentation.DecodeFrame(rest, applayer.Uplink, ver)
		return append(cmds, more...), err
	}
	return cmds, nil
}

// matches reports whether an answer is the one the device's outstanding
// request waits for; anything else is late, duplicated or unsolicited.
func (dev *device) matches(fport uint8, cid byte, index int) bool {
	p := dev.Pending
	return p != nil && !p.Hold && !p.Queued && p.FPort == fport && p.CID == cid && (p.Index < 0 || p.Index == index)
}

func (s *stepper) command(dev *device, ev Uplink, c applayer.Command) error {
	eui := dev.Cfg.DevEUI
	switch a := c.(type) {
	case *clocksync.AppTimeReq:
		if ans := clocksync.Answer(a, ev.ReceivedAt); ans != nil {
			s.fire(dev, clocksync.FPort, ans)
		}
		return nil
	case *fragmentation.FragDataBlockReceivedReq:
		return s.blockReceived(dev, a)
	case *fragmentation.FragDataBlockAuthReq:
		return s.blockAuth(dev, a)
	case *fragmentation.FragSessionDeleteAns, *multicast.McGroupDeleteAns:
		s.log(eui, "%s received", c.Name())
		return nil
	}
	idx := -1
	switch a := c.(type) {
	case *multicast.McGroupSetupAns:
		idx = int(a.McGroupID)
	case *multicast.McClassCSessionAns:
		idx = int(a.McGroupID)
	case *multicast.McClassBSessionAns:
		idx = int(a.McGroupID)
	case *fragmentation.FragSessionSetupAns:
		idx = int(a.FragIndex)
	case *fragmentation.FragSessionStatusAns:
		idx = int(a.FragIndex)
	}
	if !dev.matches(ev.FPort, c.CID(), idx) {
		s.log(eui, "%s not awaited (late or duplicate); ignored", c.Name())
		return nil
	}
	switch a := c.(type) {
	case *applayer.PackageVersionAns:
		return s.probeAns(dev, ev.FPort, a)
	case *multicast.McGroupSetupAns:
		if err := a.Err(); err != nil {
			s.fail(dev, StepMcGroup, err.Error())
			return nil
		}
		dev.McSetUp = dev.Lane + 1
		dev.settle()
		if dev.Lane++; dev.Lane < len(s.d.st.Lanes) {
			return s.sendMcGroupSetup(dev)
		}
		dev.Block = 0
		return s.beginFragSetup(dev, 0)
	case *fragmentation.FragSessionSetupAns:
		return s.fragSetupAns(dev, a)
	case *multicast.McClassCSessionAns:
		s.sessionAns(dev, &a.SessionAns, a.Err(), ev.ReceivedAt)
	case *multicast.McClassBSessionAns:
		s.sessionAns(dev, &a.SessionAns, a.Err(), ev.ReceivedAt)
	case *fragmentation.FragSessionStatusAns:
		return s.statusAns(dev, a)
	case *fwmanagement.DevUpgradeImageAns:
		return s.upgradeAns(dev, a)
	case *fwmanagement.DevRebootCountdownAns:
		s.rebootAns(dev, a, ev.ReceivedAt)
	case *fwmanagement.DevVersionAns:
		return s.versionAns(dev, a)
	default:
		s.log(eui, "%s not handled; ignored", c.Name())
	}
	return nil
}
