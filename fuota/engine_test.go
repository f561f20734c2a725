package fuota

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/region"
)

// The fake network below plays the runner, ChirpStack and the devices: it
// executes the engine's actions, decodes every unicast with the package codecs
// and answers as a conformant device would. It is a test driver: it knows
// only what a device would.

const (
	oldFW = 0x0100
	newFW = 0x0200
)

type fakeDev struct {
	eui   lorawan.EUI64
	ver   PackageVersions // 0: the device does not answer on that port
	keys  DeviceKeys
	mac   MACVersion
	clock time.Duration // device clock offset; 0 after a resync if it can
	// behaviour
	silent       bool
	dropFirst    map[byte]bool // CIDs on port 200 whose first request is lost
	setupRefuse  bool
	revert       bool
	keepClockOff bool
	// state
	mcKey        lorawan.AES128Key
	mcSet        bool
	setups       map[uint8]*fragmentation.FragSessionSetupReq
	lastCnt      map[uint8]uint16
	frags        map[uint8]map[uint16][]byte
	session      *multicast.McClassCSessionReq
	classB       *multicast.McClassBSessionReq
	rebootAt     time.Time
	fw           uint32
	seen         map[byte]int
	sessionTimes []uint32
}

func newFakeDev(i int, ver PackageVersions) *fakeDev {
	d := &fakeDev{eui: lorawan.EUI64{0, 0, 0, 0, 0, 0, 0, byte(i + 1)}, ver: ver, mac: MAC10x, fw: oldFW,
		setups: map[uint8]*fragmentation.FragSessionSetupReq{}, lastCnt: map[uint8]uint16{},
		frags: map[uint8]map[uint16][]byte{}, seen: map[byte]int{}}
	d.keys.GenAppKey = lorawan.AES128Key{3, byte(i), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return d
}

func (d *fakeDev) rootKey() lorawan.AES128Key { return d.keys.GenAppKey }

type uplinkOut struct {
	port uint8
	data []byte
}

func (d *fakeDev) gps(t time.Time) uint64 { return clocksync.GPSSeconds(t.Add(d.clock)) }

// handle answers one downlink.
func (d *fakeDev) handle(t *testing.T, now time.Time, port uint8, data []byte) []uplinkOut {
	t.Helper()
	if d.silent {
		return nil
	}
	var cmds []applayer.Command
	var err error
	v := func(v uint8) uint8 { return max(v, 1) }
	switch port {
	case 200:
		cmds, err = multicast.DecodeFrame(data, applayer.Downlink, v(d.ver.Multicast))
	case 201:
		cmds, err = fragmentation.DecodeFrame(data, applayer.Downlink, v(d.ver.Fragmentation))
	case 202:
		cmds, err = clocksync.DecodeFrame(data, applayer.Downlink, v(d.ver.ClockSync))
	case 203:
		cmds, err = fwmanagement.DecodeFrame(data, applayer.Downlink, 1)
	}
	if err != nil {
		t.Fatalf("device %s: downlink on %d: %v", d.eui, port, err)
	}
	var out []applayer.Command
	for _, c := range cmds {
		if port == 200 && d.dropFirst[c.CID()] && d.seen[c.CID()] == 0 {
			d.seen[c.CID()]++
			continue
		}
		d.seen[c.CID()]++
		if a := d.answer(t, now, port, c); a != nil {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil
	}
	b, err := encode(port, out...)
	if err != nil {
		t.Fatalf("device %s: encoding answer: %v", d.eui, err)
	}
	return []uplinkOut{{port, b}}
}

func (d *fakeDev) answer(t *testing.T, now time.Time, port uint8, c applayer.Command) applayer.Command {
	ids := map[uint8]uint8{200: multicast.PackageID, 201: fragmentation.PackageID, 202: clocksync.PackageID, 203: fwmanagement.PackageID}
	vers := map[uint8]uint8{200: d.ver.Multicast, 201: d.ver.Fragmentation, 202: d.ver.ClockSync, 203: d.ver.FirmwareManagement}
	if vers[port] == 0 {
		return nil
	}
	switch c := c.(type) {
	case *applayer.PackageVersionReq:
		return &applayer.PackageVersionAns{PackageIdentifier: ids[port], PackageVersion: vers[port]}
	case *multicast.McGroupSetupReq:
		d.mcKey = multicast.DecryptMcKey(multicast.McKEKey(multicast.McRootKeyFromGenAppKey(d.rootKey())), c.McKeyEncrypted)
		d.mcSet = true
		return &multicast.McGroupSetupAns{McGroupID: c.McGroupID}
	case *fragmentation.FragSessionSetupReq:
		a := &fragmentation.FragSessionSetupAns{Version: c.Version, FragIndex: c.FragIndex, NotEnoughMemory: d.setupRefuse}
		if c.Version == 2 {
			if c.SessionCnt <= d.lastCnt[c.FragIndex] && d.lastCnt[c.FragIndex] != 0 {
				a.SessionCntReplay = true
				return a
			}
			d.lastCnt[c.FragIndex] = c.SessionCnt
		}
		if !d.setupRefuse {
			d.setups[c.FragIndex] = c
			d.frags[c.FragIndex] = map[uint16][]byte{}
		}
		return a
	case *multicast.McClassCSessionReq:
		d.sessionTimes = append(d.sessionTimes, c.SessionTime)
		a := &multicast.McClassCSessionAns{SessionAns: multicast.SessionAns{Version: d.ver.Multicast, McGroupID: c.McGroupID}}
		now32 := d.gps(now)
		if uint64(c.SessionTime) <= now32 {
			if d.ver.Multicast == 2 {
				a.StartMissed = true
			} else {
				a.McGroupUndefined = true
			}
			return a
		}
		tts := uint32(uint64(c.SessionTime) - now32)
		a.TimeToStart = &tts
		d.session = c
		return a
	case *multicast.McClassBSessionReq:
		a := &multicast.McClassBSessionAns{SessionAns: multicast.SessionAns{Version: d.ver.Multicast, McGroupID: c.McGroupID}}
		now32 := d.gps(now)
		if uint64(c.SessionTime) <= now32 {
			a.StartMissed = true
			return a
		}
		tts := uint32(uint64(c.SessionTime) - now32)
		a.TimeToStart = &tts
		d.classB = c
		d.session = &multicast.McClassCSessionReq{McGroupID: c.McGroupID, SessionTime: c.SessionTime, TimeOut: c.TimeOut + 7} // 128·2^T s
		return a
	case *clocksync.ForceDeviceResync:
		if !d.keepClockOff {
			d.clock = 0
		}
		return nil
	case *fragmentation.FragSessionStatusReq:
		s := d.setups[c.FragIndex]
		if s == nil {
			return &fragmentation.FragSessionStatusAns{Version: d.ver.Fragmentation, FragIndex: c.FragIndex, SessionDoesNotExist: true}
		}
		got := 0
		for n := range d.frags[c.FragIndex] {
			if int(n) <= int(s.NbFrag) {
				got++
			}
		}
		return &fragmentation.FragSessionStatusAns{Version: d.ver.Fragmentation, FragIndex: c.FragIndex,
			NbFragReceived: uint16(len(d.frags[c.FragIndex])), MissingFrag: uint8(min(255, int(s.NbFrag)-got))}
	case *fwmanagement.DevUpgradeImageReq:
		if !d.imageOK() {
			return &fwmanagement.DevUpgradeImageAns{UpImageStatus: fwmanagement.UpImageCorrupt}
		}
		return &fwmanagement.DevUpgradeImageAns{UpImageStatus: fwmanagement.UpImageValid, NextFirmwareVersion: newFW}
	case *fwmanagement.DevRebootCountdownReq:
		if c.IsCancel() {
			d.rebootAt = time.Time{}
			return &fwmanagement.DevRebootCountdownAns{Countdown: fwmanagement.CountdownCancel}
		}
		d.rebootAt = now.Add(time.Duration(c.Countdown) * time.Second)
		return &fwmanagement.DevRebootCountdownAns{Countdown: c.Countdown}
	case *fwmanagement.DevVersionReq:
		if !d.rebootAt.IsZero() && !now.Before(d.rebootAt) && !d.revert && d.imageOK() {
			d.fw = newFW
		}
		return &fwmanagement.DevVersionAns{FWVersion: d.fw, HWVersion: 1}
	case *fragmentation.FragSessionDeleteReq:
		delete(d.setups, c.FragIndex)
		return &fragmentation.FragSessionDeleteAns{FragIndex: c.FragIndex}
	case *multicast.McGroupDeleteReq:
		d.mcSet, d.session = false, nil
		return &multicast.McGroupDeleteAns{McGroupID: c.McGroupID}
	}
	return nil
}

// imageOK rebuilds every block from its uncoded fragments (the test loses
// none) and checks it against the v2 MIC or the image.
var testImage []byte

func (d *fakeDev) imageOK() bool {
	if len(d.setups) == 0 {
		return false
	}
	var img []byte
	for i := range uint8(len(d.setups)) {
		s := d.setups[i]
		if s == nil {
			return false
		}
		var blk []byte
		for n := uint16(1); n <= s.NbFrag; n++ {
			f, ok := d.frags[i][n]
			if !ok {
				return false
			}
			blk = append(blk, f...)
		}
		blk = blk[:s.BlockLen()]
		if s.Version == 2 && s.VerifyMIC(fragmentation.DataBlockIntKey(d.rootKey()), blk) != nil {
			return false
		}
		img = append(img, blk...)
	}
	return bytes.Equal(img, testImage)
}

// receive takes a multicast frame if the device is in its class C session.
func (d *fakeDev) receive(now time.Time, data []byte, mcAddr lorawan.DevAddr, appSKey lorawan.AES128Key) {
	if d.session == nil || !d.mcSet || multicast.McAppSKey(d.mcKey, mcAddr) != appSKey {
		return
	}
	end, _ := multicast.ClassCSessionEnd(uint64(d.session.SessionTime), d.session.TimeOut)
	if g := d.gps(now); g < uint64(d.session.SessionTime) || g >= end {
		return
	}
	var f fragmentation.DataFragment
	if err := f.UnmarshalBinary(data); err != nil {
		return
	}
	if m := d.frags[f.FragIndex]; m != nil {
		m[f.N] = append([]byte(nil), f.Payload...)
	}
}

type queued struct {
	at  time.Time
	seq int
	ev  Event
}

type net struct {
	t         *testing.T
	now       time.Time
	q         []queued
	seq       int
	devs      map[lorawan.EUI64]*fakeDev
	cnt       map[string]uint16
	verdicts  map[lorawan.EUI64]Verdict
	enqueues  []EnqueueMulticast
	enqAt     []time.Time
	deletedAt time.Time
	group     *CreateMulticastGroup
	addrCalls int
	dup       bool // every uplink arrives twice
	actions   []Action
	actionAt  []time.Time // when each action was emitted
	unicastAt []time.Time // when each EnqueueUnicast was emitted
	start     time.Time
	// failAddGateway fails that many AddGateway calls.
	failAddGateway int
	// late delays every timer, as the wall clock does.
	late time.Duration
	// refuse makes the gateway refuse that many unicasts.
	refuse int
}

func newNet(t *testing.T, devs []*fakeDev) *net {
	n := &net{t: t, now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), devs: map[lorawan.EUI64]*fakeDev{},
		cnt: map[string]uint16{}, verdicts: map[lorawan.EUI64]Verdict{}}
	for _, d := range devs {
		n.devs[d.eui] = d
	}
	n.start = n.now
	return n
}

func (n *net) push(at time.Time, ev Event) {
	n.seq++
	q := queued{at, n.seq, ev}
	i, _ := slices.BinarySearchFunc(n.q, q, func(a, b queued) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	n.q = slices.Insert(n.q, i, q)
}

// run steps the deployment until it is done; restart, if set, is called after
// each step and may replace the deployment.
func (n *net) run(d *Deployment, restart func(step int, d *Deployment) *Deployment) *Deployment {
	n.t.Helper()
	n.push(n.now, Start{})
	for step := 0; len(n.q) > 0 && !d.Done(); step++ {
		if step > 100000 {
			n.t.Fatal("deployment does not finish")
		}
		e := n.q[0]
		n.q = n.q[1:]
		n.now = e.at
		acts, err := d.Step(e.at, e.ev)
		if err != nil {
			n.t.Fatalf("Step(%T): %v", e.ev, err)
		}
		n.exec(acts)
		if restart != nil {
			d = restart(step, d)
		}
	}
	if !d.Done() {
		n.t.Fatalf("deployment stalled in phase %s: %+v %+v", d.Phase(), d.Devices(), d.st.Mc)
	}
	return d
}

func (n *net) exec(acts []Action) {
	t := n.t
	for _, a := range acts {
		n.actions = append(n.actions, a)
		n.actionAt = append(n.actionAt, n.now)
		switch a := a.(type) {
		case EnqueueUnicast:
			n.unicastAt = append(n.unicastAt, n.now)
			if n.refuse > 0 {
				// The gateway refuses it; ChirpStack logs DOWNLINK_GATEWAY.
				n.refuse--
				n.push(n.now.Add(time.Second), Refused{DevEUI: a.DevEUI, Status: "DUTY_CYCLE_OVERFLOW", At: n.now.Add(time.Second)})
				continue
			}
			dev := n.devs[a.DevEUI]
			for _, up := range dev.handle(t, n.now, a.FPort, a.Data) {
				at := n.now.Add(2 * time.Second)
				n.push(at, Uplink{DevEUI: a.DevEUI, FPort: up.port, Data: up.data, ReceivedAt: at})
				if n.dup {
					n.push(at.Add(5*time.Second), Uplink{DevEUI: a.DevEUI, FPort: up.port, Data: up.data, ReceivedAt: at.Add(5 * time.Second)})
				}
			}
		case SetTimer:
			if a.At.Before(n.now) {
				t.Fatalf("timer %s set in the past", a.ID)
			}
			n.push(a.At.Add(n.late), Timer{ID: a.ID})
		case GetDeviceKeys:
			n.push(n.now, Result{ActionID: a.ActionID, Keys: n.devs[a.DevEUI].keys})
		case NextSessionCnt:
			k := fmt.Sprint(a.DevEUI, a.FragIndex)
			if n.cnt[k] == 0 {
				n.cnt[k] = 41
			}
			n.cnt[k]++
			n.push(n.now, Result{ActionID: a.ActionID, SessionCnt: n.cnt[k]})
		case AllocateMcAddr:
			n.addrCalls++
			n.push(n.now, Result{ActionID: a.ActionID, McAddr: lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}})
		case CreateMulticastGroup:
			n.group = &a
			n.push(n.now, Result{ActionID: a.ActionID, GroupID: "group-1"})
		case EnqueueMulticast:
			if !n.deletedAt.IsZero() {
				t.Fatal("fragment enqueued on a deleted group")
			}
			n.enqueues = append(n.enqueues, a)
			n.enqAt = append(n.enqAt, n.now)
			for _, dev := range n.devs {
				dev.receive(n.now, a.Data, n.group.McAddr, n.group.McAppSKey)
			}
			// The network server answers every enqueue (with the FCnt).
			n.push(n.now, Result{ActionID: a.ActionID})
		case AddDevice:
			n.push(n.now, Result{ActionID: a.ActionID})
		case AddGateway:
			var err error
			if n.failAddGateway > 0 {
				n.failAddGateway--
				err = errors.New("unavailable")
			}
			n.push(n.now, Result{ActionID: a.ActionID, Err: err})
		case DeleteMulticastGroup:
			n.deletedAt = n.now
		case Verdict:
			if _, dup := n.verdicts[a.DevEUI]; dup {
				t.Fatalf("second verdict for %s", a.DevEUI)
			}
			n.verdicts[a.DevEUI] = a
		}
	}
}

func testPlan(t *testing.T, size int) *Plan {
	t.Helper()
	p, err := NewPlan(PlanRequest{ImageSize: size, Region: region.Name("EU868"), DR: 5, FragmentSize: 50, Redundancy: 4})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testDeployment(t *testing.T, devs []*fakeDev, mod func(*DeploymentConfig)) *Deployment {
	t.Helper()
	testImage = make([]byte, 1030)
	for i := range testImage {
		testImage[i] = byte(i * 7)
	}
	key := lorawan.AES128Key{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1}
	cfg := DeploymentConfig{ID: "dep-1", Plan: testPlan(t, len(testImage)), Image: testImage, McKey: &key,
		McGroupID: 1, Retry: RetryPolicy{Count: 2, Timeout: 20 * time.Second},
		Gateways: []GatewayConfig{{ID: "gw-a"}, {ID: "gw-b", Model: dutycycle.OffTime}}}
	for _, d := range devs {
		dc := DeviceConfig{DevEUI: d.eui, MACVersion: d.mac, Class: ClassC}
		cfg.Devices = append(cfg.Devices, dc)
	}
	if mod != nil {
		mod(&cfg)
	}
	dep, err := NewDeployment(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dep
}

var (
	v1 = PackageVersions{ClockSync: 1, Multicast: 1, Fragmentation: 1, FirmwareManagement: 1}
	v2 = PackageVersions{ClockSync: 2, Multicast: 2, Fragmentation: 2, FirmwareManagement: 1}
)

type want struct {
	outcome Outcome
	step    Step
	reason  string // substring
}

func TestDeploymentScenarios(t *testing.T) {
	tests := []struct {
		name  string
		devs  func() []*fakeDev
		mod   func(*DeploymentConfig)
		dup   bool
		wants []want
	}{
		{"class C v1", func() []*fakeDev { return []*fakeDev{newFakeDev(0, v1), newFakeDev(1, v1)} }, nil, false,
			[]want{{Updated, StepDone, ""}, {Updated, StepDone, ""}}},
		{"class C v2", func() []*fakeDev { return []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2)} }, nil, false,
			[]want{{Updated, StepDone, ""}, {Updated, StepDone, ""}}},
		{"silent device", func() []*fakeDev {
			d := newFakeDev(1, v1)
			d.silent = true
			return []*fakeDev{newFakeDev(0, v1), d}
		}, nil, false, []want{{Updated, StepDone, ""}, {Failed, StepProbe, "no PackageVersion answer after 3 attempts on FPort 200"}}},
		{"TimeToStart mismatch, no TS003", func() []*fakeDev {
			d := newFakeDev(1, PackageVersions{Multicast: 1, Fragmentation: 1, FirmwareManagement: 1})
			d.clock = 30 * time.Second
			return []*fakeDev{newFakeDev(0, v1), d}
		}, nil, false, []want{{Updated, StepDone, ""}, {Failed, StepSession, "device clock out of sync"}}},
		{"TimeToStart mismatch fixed by resync", func() []*fakeDev {
			d := newFakeDev(1, v2)
			d.clock = 30 * time.Second
			return []*fakeDev{newFakeDev(0, v2), d}
		}, nil, false, []want{{Updated, StepDone, ""}, {Updated, StepDone, ""}}},
		{"StartMissed", func() []*fakeDev {
			d := newFakeDev(1, v2)
			d.clock = time.Hour
			d.keepClockOff = true
			return []*fakeDev{newFakeDev(0, v2), d}
		}, nil, false, []want{{Updated, StepDone, ""}, {Failed, StepSession, "StartMissed"}}},
		{"FragSessionSetupAns error", func() []*fakeDev {
			d := newFakeDev(1, v2)
			d.setupRefuse = true
			return []*fakeDev{newFakeDev(0, v2), d}
		}, nil, false, []want{{Updated, StepDone, ""}, {Failed, StepFragSetup, "not enough memory"}}},
		{"reverting device", func() []*fakeDev {
			d := newFakeDev(1, v1)
			d.revert = true
			return []*fakeDev{newFakeDev(0, v1), d}
		}, func(c *DeploymentConfig) { c.FirmwareVersion = newFW }, false,
			[]want{{Updated, StepDone, ""}, {Failed, StepVersion, "reverted"}}},
		{"known versions, allocated McAddr", func() []*fakeDev { return []*fakeDev{newFakeDev(0, v2)} }, func(c *DeploymentConfig) {
			c.Devices[0].Versions = &v2
			c.Gateways = nil
		}, false, []want{{Updated, StepDone, ""}}},
		{"late and duplicate answers", func() []*fakeDev { return []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v1)} }, nil, true,
			[]want{{Updated, StepDone, ""}, {Failed, StepReady, "TS004 v1 parity differs"}}},
		{"retried session keeps SessionTime", func() []*fakeDev {
			d := newFakeDev(1, v1)
			d.dropFirst = map[byte]bool{multicast.CIDMcClassCSession: true}
			return []*fakeDev{newFakeDev(0, v1), d}
		}, nil, false, []want{{Updated, StepDone, ""}, {Updated, StepDone, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			devs := tc.devs()
			dep := testDeployment(t, devs, tc.mod)
			n := newNet(t, devs)
			n.dup = tc.dup
			if tc.mod != nil && dep.st.Lanes[0].McAddr == nil {
				defer func() {
					if n.addrCalls != 1 {
						t.Errorf("AllocateMcAddr called %d times", n.addrCalls)
					}
				}()
			}
			dep = n.run(dep, nil)
			for i, w := range tc.wants {
				v, ok := n.verdicts[devs[i].eui]
				if !ok {
					t.Fatalf("device %d: no verdict", i)
				}
				if v.Outcome != w.outcome || v.Step != w.step || !strings.Contains(v.Reason, w.reason) {
					t.Errorf("device %d: verdict %s at %s (%q), want %s at %s containing %q", i, v.Outcome, v.Step, v.Reason, w.outcome, w.step, w.reason)
				}
				if w.outcome == Updated && (v.FirmwareVersion != newFW || devs[i].fw != newFW) {
					t.Errorf("device %d: updated but runs %#x", i, devs[i].fw)
				}
			}
			checkSessionTimes(t, devs)
			checkPacing(t, n, dep)
		})
	}
}

// checkSessionTimes: every device was given the same SessionTime, however
// often it was asked.
func checkSessionTimes(t *testing.T, devs []*fakeDev) {
	t.Helper()
	var st uint32
	for _, d := range devs {
		for _, s := range d.sessionTimes {
			if st == 0 {
				st = s
			}
			if s != st {
				t.Errorf("device %s got SessionTime %d, another %d", d.eui, s, st)
			}
		}
	}
}

// checkPacing replays the fragments into fresh ledgers of every gateway and
// checks their spacing, expiry and the session end.
func checkPacing(t *testing.T, n *net, dep *Deployment) {
	t.Helper()
	if len(n.enqueues) == 0 {
		return
	}
	p := dep.plan
	end := dep.sessionEnd()
	models := []dutycycle.Model{p.Request.DutyCycleModel}
	for _, g := range dep.st.Cfg.Gateways {
		models = append(models, cmp(g.Model, p.Request.DutyCycleModel))
	}
	for _, m := range models {
		l, err := dutycycle.New(m, p.DutyCycle, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, at := range n.enqAt {
			if err := l.Add(at, p.FrameAirtime); err != nil {
				t.Fatalf("fragment %d at %v breaks the %v duty cycle: %v", i, at, m, err)
			}
			if i > 0 && at.Sub(n.enqAt[i-1]) < p.FrameSpacing {
				t.Fatalf("fragments %d and %d %v apart, spacing %v", i-1, i, at.Sub(n.enqAt[i-1]), p.FrameSpacing)
			}
			if !n.enqueues[i].ExpiresAt.Equal(end) || at.Add(p.FrameAirtime).After(end) || at.Before(dep.SessionTime()) {
				t.Fatalf("fragment %d at %v outside the session [%v, %v] or expiry %v", i, at, dep.SessionTime(), end, n.enqueues[i].ExpiresAt)
			}
		}
	}
	if frames := p.Frames; len(n.enqueues) != frames {
		t.Errorf("%d fragments enqueued, plan has %d", len(n.enqueues), frames)
	}
	if n.deletedAt.Before(end) {
		t.Errorf("group deleted at %v, before the session end %v", n.deletedAt, end)
	}
}

func cmp(m, def dutycycle.Model) dutycycle.Model {
	if m == 0 {
		return def
	}
	return m
}

func TestSessionCntFromStore(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2)}
	dep := testDeployment(t, devs, nil)
	n := newNet(t, devs)
	n.run(dep, nil)
	for i, s := range devs[0].setupsSeen() {
		if s != 42 {
			t.Errorf("block %d: SessionCnt %d, want 42 from NextSessionCnt", i, s)
		}
	}
	if len(devs[0].lastCnt) != len(dep.plan.Blocks) {
		t.Errorf("%d blocks set up, plan has %d", len(devs[0].lastCnt), len(dep.plan.Blocks))
	}
}

func (d *fakeDev) setupsSeen() []uint16 {
	var out []uint16
	for i := range uint8(len(d.lastCnt)) {
		out = append(out, d.lastCnt[i])
	}
	return out
}

func TestCancelMidMulticast(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v1), newFakeDev(1, v2)}
	devs[1].ver = v1
	dep := testDeployment(t, devs, nil)
	n := newNet(t, devs)
	canceledAt := -1
	n.run(dep, func(step int, d *Deployment) *Deployment {
		if canceledAt < 0 && len(n.enqueues) == 3 {
			canceledAt = len(n.enqueues)
			n.push(n.now, Cancel{Reason: "operator"})
		}
		return d
	})
	if len(n.enqueues) != canceledAt {
		t.Errorf("%d fragments enqueued after the cancel", len(n.enqueues)-canceledAt)
	}
	for _, d := range devs {
		if v := n.verdicts[d.eui]; v.Outcome != Canceled || v.Step != StepMulticast || v.Reason != "operator" {
			t.Errorf("device %s: %+v", d.eui, v)
		}
		if d.mcSet || len(d.setups) != 0 {
			t.Errorf("device %s keeps its sessions after the cancel", d.eui)
		}
	}
	last := n.enqAt[len(n.enqAt)-1].Add(dep.plan.FrameAirtime)
	if n.deletedAt.IsZero() || n.deletedAt.Before(last) {
		t.Errorf("group deleted at %v, last fragment ends %v", n.deletedAt, last)
	}
}

func TestCancelPendingReboot(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v1)}
	dep := testDeployment(t, devs, nil)
	n := newNet(t, devs)
	done := false
	n.run(dep, func(step int, d *Deployment) *Deployment {
		if !done && !devs[0].rebootAt.IsZero() {
			done = true
			n.push(n.now, Cancel{})
		}
		return d
	})
	if !devs[0].rebootAt.IsZero() || devs[0].fw != oldFW {
		t.Error("reboot not cancelled")
	}
	if v := n.verdicts[devs[0].eui]; v.Outcome != Canceled || v.Step != StepReboot {
		t.Errorf("verdict %+v", v)
	}
}

func TestResumeAfterRestart(t *testing.T) {
	scenario := func() []*fakeDev {
		d := newFakeDev(2, v2)
		d.revert = true
		return []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2), d}
	}
	devs := scenario()
	n := newNet(t, devs)
	n.run(testDeployment(t, devs, nil), nil)
	want := n.verdicts
	wantFrags := len(n.enqueues)

	// Restarts in setup, in the session wait, mid-multicast and in completion:
	// at the nth step taken in that phase.
	for _, at := range []struct {
		nth   int
		phase Phase
	}{{5, PhaseSetup}, {1, PhaseSession}, {5, PhaseMulticast}, {3, PhaseStatus}} {
		t.Run(fmt.Sprint("restart in ", at.phase), func(t *testing.T) {
			devs := scenario()
			n := newNet(t, devs)
			restarted := false
			seen := 0
			n.run(testDeployment(t, devs, nil), func(step int, d *Deployment) *Deployment {
				if restarted || d.Phase() != at.phase {
					return d
				}
				if seen++; seen < at.nth {
					return d
				}
				restarted = true
				b, err := d.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				r, err := UnmarshalDeployment(b, testImage)
				if err != nil {
					t.Fatal(err)
				}
				b2, _ := r.MarshalBinary()
				if !bytes.Equal(b, b2) {
					t.Fatal("state differs after a round trip")
				}
				// The old runner's timers and the results of its calls die with
				// it; uplinks keep coming from the network. The new runner arms
				// and issues again what Resume returns.
				n.q = slices.DeleteFunc(n.q, func(q queued) bool {
					switch q.ev.(type) {
					case Timer, Result:
						return true
					}
					return false
				})
				acts, err := r.Resume(n.now)
				if err != nil {
					t.Fatal(err)
				}
				n.exec(acts)
				return r
			})
			if !restarted {
				t.Fatal("the deployment finished before the restart")
			}
			if fmt.Sprint(n.verdicts) != fmt.Sprint(want) {
				t.Errorf("verdicts after restart\n%v\nwant\n%v", n.verdicts, want)
			}
			// A fragment whose enqueue result was lost in the restart is sent
			// again (devices discard the duplicate): the distinct fragments
			// must match the uninterrupted run.
			if distinct := distinctFragments(n.enqueues); distinct != wantFrags || len(n.enqueues) > wantFrags+2 {
				t.Errorf("%d fragments (%d distinct), want %d", len(n.enqueues), distinct, wantFrags)
			}
		})
	}
	if _, err := UnmarshalDeployment([]byte(`{"version":1}`), testImage); err == nil {
		t.Error("a blob with another image hash was accepted")
	}
}

func TestDuplicateResultsAndTimers(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v1)}
	dep := testDeployment(t, devs, nil)
	n := newNet(t, devs)
	var replay []Event
	n.run(dep, func(step int, d *Deployment) *Deployment {
		for _, a := range n.actions {
			if k, ok := a.(GetDeviceKeys); ok {
				replay = append(replay, Result{ActionID: k.ActionID, Err: errors.New("late failure")})
			}
			if s, ok := a.(SetTimer); ok && len(replay) < 50 {
				replay = append(replay, Timer{ID: s.ID})
			}
		}
		n.actions = nil
		return d
	})
	for _, ev := range replay {
		acts, err := dep.Step(n.now, ev)
		if err != nil || len(acts) != 0 {
			t.Fatalf("replayed %#v: %v, %v", ev, acts, err)
		}
	}
	if v := n.verdicts[devs[0].eui]; v.Outcome != Updated {
		t.Errorf("verdict %+v", v)
	}
}

func TestNewDeploymentValidation(t *testing.T) {
	good := func() DeploymentConfig {
		img := make([]byte, 1030)
		return DeploymentConfig{ID: "x", Plan: testPlan(t, len(img)), Image: img, Rand: bytes.NewReader(make([]byte, 16)),
			Devices: []DeviceConfig{{DevEUI: lorawan.EUI64{1}, MACVersion: MAC11, Class: ClassC}}}
	}
	tests := []struct {
		field string
		mod   func(*DeploymentConfig)
	}{
		{"id", func(c *DeploymentConfig) { c.ID = "" }},
		{"image", func(c *DeploymentConfig) { c.Image = c.Image[1:] }},
		{"devices", func(c *DeploymentConfig) { c.Devices = nil }},
		{"mc_group_id", func(c *DeploymentConfig) { c.McGroupID = 4 }},
		{"mc_key", func(c *DeploymentConfig) { c.Rand = nil }},
		{"rand", func(c *DeploymentConfig) { c.Rand = bytes.NewReader(nil) }},
		{"devices[1].dev_eui", func(c *DeploymentConfig) { c.Devices = append(c.Devices, c.Devices[0]) }},
		{"devices[0].mac_version", func(c *DeploymentConfig) { c.Devices[0].MACVersion = "1.2" }},
		{"devices[0].class", func(c *DeploymentConfig) { c.Devices[0].Class = "D" }},
		{"session_class", func(c *DeploymentConfig) { c.SessionClass = "A" }},
		{"ping_slot_periodicity", func(c *DeploymentConfig) { p := uint8(8); c.PingSlotPeriodicity = &p }},
		{"devices[0].uplink_interval", func(c *DeploymentConfig) { c.Devices[0].Class = ClassA }},
		{"devices[0].versions.fragmentation", func(c *DeploymentConfig) {
			c.Devices[0].Versions = &PackageVersions{Multicast: 1, Fragmentation: 3}
		}},
		{"retry.count", func(c *DeploymentConfig) { c.Retry.Count = -1 }},
		{"gateways[1].id", func(c *DeploymentConfig) { c.Gateways = []GatewayConfig{{ID: "a"}, {ID: "a"}} }},
	}
	if _, err := NewDeployment(good()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range tests {
		cfg := good()
		tc.mod(&cfg)
		_, err := NewDeployment(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%s: error %v", tc.field, err)
		}
	}
}

// TestUnicastSpacing checks that requests to class C devices are handed to the
// network server at least UnicastSpacing apart, so that answers do not collide
// with the next downlinks at a half-duplex gateway. (Cleanup commands that
// expect no answer are not paced; the probe phase has none.)
func TestUnicastSpacing(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2), newFakeDev(2, v2)}
	n := newNet(t, devs)
	n.run(testDeployment(t, devs, nil), nil)
	// The first 4·3 unicasts are the probes of three devices on four ports.
	probes := n.unicastAt[:12]
	for i := 1; i < len(probes); i++ {
		if gap := probes[i].Sub(probes[i-1]); gap < 3*time.Second {
			t.Fatalf("unicast %d only %v after the one before", i, gap)
		}
	}
}

// TestStatusWaitCoversBlockAckDelay checks that a FragSessionStatusReq waits the
// devices' whole answer window, 2^(BlockAckDelay+4) s (PROTOCOLS.md §1.7), on
// top of the usual timeout.
func TestStatusWaitCoversBlockAckDelay(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2)}
	n := newNet(t, devs)
	n.run(testDeployment(t, devs, func(c *DeploymentConfig) { c.BlockAckDelay = 3 }), nil)
	found := false
	for i, a := range n.actions {
		u, ok := a.(EnqueueUnicast)
		if !ok || u.FPort != fragmentation.DefaultFPort || len(u.Data) == 0 || u.Data[0] != fragmentation.CIDFragSessionStatus {
			continue
		}
		timer, ok := n.actions[i+1].(SetTimer)
		if !ok {
			t.Fatalf("status request not followed by its timer: %T", n.actions[i+1])
		}
		found = true
		// The timer is set relative to the step's time; compare with the
		// configured 20 s timeout plus the 128 s window.
		if got := timer.At.Sub(n.unicastAt[countUnicasts(n.actions[:i+1])-1]); got < 148*time.Second {
			t.Errorf("status answer awaited %v, want ≥ 148 s (20 s + 2^7 s)", got)
		}
	}
	if !found {
		t.Fatal("no FragSessionStatusReq sent")
	}
}

func countUnicasts(acts []Action) int {
	n := 0
	for _, a := range acts {
		if _, ok := a.(EnqueueUnicast); ok {
			n++
		}
	}
	return n
}

func TestRebootDelayFloor(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2)}
	cfg := DeploymentConfig{ID: "dep-1", Plan: testPlan(t, 1030), Image: make([]byte, 1030), McKey: &lorawan.AES128Key{1},
		Devices: []DeviceConfig{{DevEUI: devs[0].eui, MACVersion: MAC11, Class: ClassC}}, RebootDelay: 500 * time.Millisecond}
	if _, err := NewDeployment(cfg); err == nil || !strings.Contains(err.Error(), "reboot_delay") {
		t.Errorf("RebootDelay 0.5 s: %v, want an error naming reboot_delay", err)
	}
}

func distinctFragments(enqueues []EnqueueMulticast) int {
	seen := map[string]bool{}
	for _, e := range enqueues {
		seen[string(e.Data)] = true
	}
	return len(seen)
}

// TestAddGatewayRetried checks that a failed AddGateway is tried again and
// that no fragment goes out before the group has its gateways; a group no
// gateway joins fails its devices instead of multicasting into nothing.
func TestAddGatewayRetried(t *testing.T) {
	tests := []struct {
		name  string
		fails int
		want  Outcome
	}{
		{"two failures", 2, Updated},
		{"never", 100, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs := []*fakeDev{newFakeDev(0, v2)}
			n := newNet(t, devs)
			n.failAddGateway = tt.fails
			d := n.run(testDeployment(t, devs, nil), nil)
			v := n.verdicts[devs[0].eui]
			if v.Outcome != tt.want {
				t.Fatalf("verdict %+v, want %s", v, tt.want)
			}
			if tt.want == Failed && (len(n.enqueues) != 0 || !strings.Contains(v.Reason, "no gateway")) {
				t.Errorf("%d fragments enqueued, reason %q", len(n.enqueues), v.Reason)
			}
			adds := 0
			for _, a := range n.actions {
				if _, ok := a.(AddGateway); ok {
					adds++
				}
			}
			// Two gateways in testDeployment, each tried up to Retry.Count+1 times.
			if most := 2 * (d.st.Cfg.Retry.Count + 1); adds > most || adds < 2+min(tt.fails, most-2) {
				t.Errorf("%d AddGateway calls for %d failures", adds, tt.fails)
			}
		})
	}
}

// TestMcAddrReleased checks that an allocated multicast address is given
// back once, after its group is deleted.
func TestMcAddrReleased(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2)}
	n := newNet(t, devs)
	n.run(testDeployment(t, devs, nil), nil)
	deleted, released := -1, -1
	count := 0
	for i, a := range n.actions {
		switch a.(type) {
		case DeleteMulticastGroup:
			deleted = i
		case ReleaseMcAddr:
			released = i
			count++
		}
	}
	if count != 1 || released < deleted || deleted < 0 {
		t.Errorf("ReleaseMcAddr %d times, at action %d; group deleted at %d", count, released, deleted)
	}
}

// TestClassBSession checks a class B campaign: McClassBSessionReq on a
// beacon boundary with the configured periodicity, a class B group, and
// fragments handed over no faster than the class B margin and a ping period
// allow.
func TestClassBSession(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2), newFakeDev(1, v2)}
	n := newNet(t, devs)
	p := uint8(2)
	d := n.run(testDeployment(t, devs, func(c *DeploymentConfig) {
		c.SessionClass, c.PingSlotPeriodicity = ClassB, &p
	}), nil)
	for _, dev := range devs {
		if v := n.verdicts[dev.eui]; v.Outcome != Updated {
			t.Fatalf("%s: %+v", dev.eui, v)
		}
		if dev.classB == nil || dev.classB.SessionTime%multicast.BeaconPeriod != 0 || dev.classB.Periodicity != p {
			t.Errorf("%s: class B request %+v", dev.eui, dev.classB)
		}
	}
	if n.group == nil || n.group.Class != string(ClassB) || n.group.PingSlotPeriodicity != p {
		t.Errorf("group %+v, want class B, periodicity %d", n.group, p)
	}
	least := d.st.Cfg.ClassBMargin + 4*time.Second
	for i := 1; i < len(n.enqAt); i++ {
		if gap := n.enqAt[i].Sub(n.enqAt[i-1]); gap < least {
			t.Fatalf("fragment %d handed over %v after the one before, want ≥ %v", i, gap, least)
		}
	}
}

// TestRefusedUnicastTakenBack checks that a unicast a gateway refused is
// flushed from the network server's queue and sent again once the outbox's
// hold has passed, doubling the hold while refusals keep coming.
func TestRefusedUnicastTakenBack(t *testing.T) {
	devs := []*fakeDev{newFakeDev(0, v2)}
	n := newNet(t, devs)
	n.refuse = 2
	d := n.run(testDeployment(t, devs, nil), nil)
	if v := n.verdicts[devs[0].eui]; v.Outcome != Updated {
		t.Fatalf("verdict %+v", v)
	}
	flushes := 0
	for _, a := range n.actions {
		if _, ok := a.(FlushQueue); ok {
			flushes++
		}
	}
	if flushes != 2 || d.st.Air.Refusals != 2 {
		t.Errorf("%d flushes, %d refusals counted; want 2 and 2", flushes, d.st.Air.Refusals)
	}
	// The first request, refused twice, went out three times; the hold
	// after the second refusal is twice the first.
	if len(n.unicastAt) < 3 {
		t.Fatalf("%d unicasts", len(n.unicastAt))
	}
	first, second := n.unicastAt[1].Sub(n.unicastAt[0]), n.unicastAt[2].Sub(n.unicastAt[1])
	if first < 10*time.Second || second < 2*first-2*time.Second {
		t.Errorf("retried after %v, then after %v; want a hold of a frame's off-time, then twice that", first, second)
	}
}

// TestBaselineVersion checks that, when the deployment names the version it
// installs, a device already running it is skipped after one DevVersionReq,
// and the others go on to be updated.
func TestBaselineVersion(t *testing.T) {
	done := newFakeDev(0, v2)
	done.fw = newFW
	devs := []*fakeDev{done, newFakeDev(1, v2)}
	n := newNet(t, devs)
	n.run(testDeployment(t, devs, func(c *DeploymentConfig) { c.FirmwareVersion = newFW }), nil)
	if v := n.verdicts[done.eui]; v.Outcome != Skipped || v.Step != StepProbe || v.FirmwareVersion != newFW {
		t.Errorf("device already on the version: %+v, want skipped at probe", v)
	}
	if done.mcSet || len(done.setups) != 0 {
		t.Error("the skipped device was set up anyway")
	}
	if v := n.verdicts[devs[1].eui]; v.Outcome != Updated {
		t.Errorf("other device: %+v", v)
	}
}
