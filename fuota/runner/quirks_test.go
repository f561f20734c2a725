package runner_test

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/gateway"
)

// quirkCase is one of ChirpStack's silent behaviours (CHIRPSTACK.md §0.4,
// §2.3, §3.4) provoked during a small campaign.
type quirkCase struct {
	name string
	// network sets up the scenario: ChirpStack's settings and quirks, the
	// gateways.
	network func(sc *simulator.Scenario)
	camp    campaignSpec
	// size is the image size (default 4 KiB).
	size int
	// before runs before the campaign starts (faults, hooks); during after
	// it started (a restart, a cancel).
	before func(q *quirkRig)
	during func(q *quirkRig, img []byte)

	// want is the outcome every device must get: Updated, Canceled, or ""
	// when the behaviour makes an update impossible for the engine as it
	// is, and only honest verdicts are required (updated exactly when the
	// device runs the new firmware, a failure with its step and reason).
	want fuota.Outcome
	// drops: ChirpStack is expected to delete fragments silently (a
	// gateway refused them); dupes: devices are expected to discard
	// multicast frames whose FCnt they had seen (a second gateway's copy).
	drops, dupes bool
	// check asserts the property the behaviour threatens.
	check func(c *checker, q *quirkRig, o observed)
	// engineGap, when set, names the engine's shortcoming that makes the
	// ideal assertions (want, every fragment on air in the session, no
	// fragment left queued, …) fail; the case then skips once the honest
	// assertions have passed. Once the ideal holds the case fails until
	// engineGap is removed.
	engineGap string
}

// session is a class C session the engine asked the devices for.
type session struct{ start, end time.Time }

func (s session) String() string {
	return s.start.Format(time.TimeOnly) + "–" + s.end.Format(time.TimeOnly)
}

// observed is what a quirk case's campaign did, read from the recorder, the
// log book and the gateways.
type observed struct {
	// sessions are the class C sessions of the McClassCSessionReqs the
	// engine sent, in order.
	sessions []session
	// rx maps each device to the multicast FCnts it received and when.
	rx map[string]map[uint32]time.Time
	// first and last are the first and last multicast receptions of any
	// device; lastOf the last reception of a fragment of each block.
	first, last time.Time
	lastOf      map[uint8]time.Time
	// Silent drops in the ns log: expired, oversize, tx-ack errors.
	expired, oversize, txAckErrors int
	// micDrops counts the multicast frames devices discarded (an FCnt not
	// above the last one: a duplicate or out of order, chirpstack#361).
	micDrops int
	// rejected counts the gateways' refusals by status, all downlinks;
	// unacked the frames Basic Station dropped without a tx ack.
	rejected map[gw.TxAckStatus]int
	unacked  int
	// unicastRefused counts the engine's unicasts a gateway refused (or,
	// Basic Station, dropped with no tx ack) and ChirpStack kept queued.
	unicastRefused int
	// statusReq is when the engine first asked for the status of each
	// block (FragSessionStatusReq).
	statusReq map[uint8]time.Time
	verdicts  map[lorawan.EUI64]fuota.Verdict
}

// sessionOf returns the session that holds t.
func (o *observed) sessionOf(t time.Time) (session, bool) {
	for _, s := range o.sessions {
		if !t.Before(s.start) && t.Before(s.end) {
			return s, true
		}
	}
	return session{}, false
}

// lastEnd is the end of the last session.
func (o *observed) lastEnd() time.Time {
	var end time.Time
	for _, s := range o.sessions {
		if s.end.After(end) {
			end = s.end
		}
	}
	return end
}

// checker sorts a case's assertions: must ones fail the test, ideal ones are
// what an engine without the case's engineGap would achieve.
type checker struct {
	t    *testing.T
	gaps []string
}

func (c *checker) must(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf(format, args...)
}

func (c *checker) ideal(format string, args ...any) {
	c.gaps = append(c.gaps, fmt.Sprintf(format, args...))
}

// fragIndex is the FragIndex of a DataFragment frame.
func fragIndex(frame []byte) uint8 {
	if len(frame) < 3 || frame[0] != fragmentation.CIDDataFragment {
		return 0xff
	}
	return uint8(binary.LittleEndian.Uint16(frame[1:3]) >> 14)
}

func (q *quirkRig) observe(verdicts map[lorawan.EUI64]fuota.Verdict) observed {
	q.t.Helper()
	o := observed{rx: map[string]map[uint32]time.Time{}, lastOf: map[uint8]time.Time{},
		rejected: map[gw.TxAckStatus]int{}, statusReq: map[uint8]time.Time{}, verdicts: verdicts}
	for _, u := range q.rec.unicasts {
		switch {
		case u.FPort == multicast.DefaultFPort:
			cmds, _ := multicast.DecodeFrame(u.Data, applayer.Downlink, 2)
			for _, cmd := range cmds {
				req, ok := cmd.(*multicast.McClassCSessionReq)
				if !ok {
					continue
				}
				end, err := multicast.ClassCSessionEnd(uint64(req.SessionTime), req.TimeOut)
				if err != nil {
					q.t.Fatal(err)
				}
				s := session{clocksync.FromGPSSeconds(uint64(req.SessionTime)), clocksync.FromGPSSeconds(end)}
				if !slices.Contains(o.sessions, s) {
					o.sessions = append(o.sessions, s)
				}
			}
		case u.FPort == fragmentation.DefaultFPort && len(u.Data) == 2 && u.Data[0] == fragmentation.CIDFragSessionStatus:
			if b := u.Data[1] >> 1 & 3; o.statusReq[b].IsZero() {
				o.statusReq[b] = u.At
			}
		}
	}
	if len(o.sessions) == 0 {
		q.t.Fatal("no McClassCSessionReq sent")
	}
	block := map[uint32]uint8{}
	for _, e := range q.rec.enqueues {
		block[e.FCnt] = fragIndex(e.Data)
	}
	for _, l := range q.book.find("device multicast downlink") {
		fc, err := strconv.ParseUint(l.Attrs["f_cnt"], 10, 32)
		if err != nil {
			q.t.Fatal(err)
		}
		eui := l.Attrs["dev_eui"]
		if o.rx[eui] == nil {
			o.rx[eui] = map[uint32]time.Time{}
		}
		o.rx[eui][uint32(fc)] = l.Time
		if o.first.IsZero() || l.Time.Before(o.first) {
			o.first = l.Time
		}
		if l.Time.After(o.last) {
			o.last = l.Time
		}
		if b := block[uint32(fc)]; l.Time.After(o.lastOf[b]) {
			o.lastOf[b] = l.Time
		}
	}
	o.expired = len(q.book.find("Discarding multicast-group queue item because it has expired"))
	o.oversize = len(q.book.find("Discarding multicast-group queue item because it exceeds max. payload size"))
	o.txAckErrors = len(q.book.find("Multicast downlink tx ack error, queue item deleted"))
	o.micDrops = len(q.book.find("device dropped a multicast frame: MIC"))
	for _, l := range q.book.find("ns downlink") {
		if l.Attrs["status"] != gw.TxAckStatus_OK.String() {
			o.unicastRefused++
		}
	}
	for _, g := range q.net.Gateways().Gateways() {
		s := g.Stats()
		for st, n := range s.Rejected {
			o.rejected[st] += n
		}
		o.unacked += s.Unacked
	}
	return o
}

// Other traffic at the gateway, which the engine cannot know of.

// fillJIT fills the first gateway's just-in-time queue with 32 frames of
// other traffic on another channel, the first due in d: until it goes on air
// the gateway refuses every downlink with QUEUE_FULL.
func fillJIT(q *quirkRig, d time.Duration) {
	g := q.net.Gateways().Gateways()[0]
	now := q.clk.Now()
	for i := range gateway.DefaultQueueCapacity {
		st := g.Schedule(gateway.TxRequest{ID: uint32(1000 + i), Frequency: 868_100_000, DR: 5, PowerDBm: 14,
			PHYPayload: make([]byte, 20), Timing: gateway.AtTime, At: now.Add(d + time.Duration(i)*100*time.Millisecond)})
		if st != gw.TxAckStatus_OK {
			q.t.Fatalf("other traffic, frame %d: %s", i, st)
		}
	}
}

// blockBand puts a 2.3 s frame of other traffic on the multicast channel
// now: a Basic Station gateway then keeps the sub-band shut for 23 s.
func blockBand(q *quirkRig) {
	g := q.net.Gateways().Gateways()[0]
	if st := g.Schedule(gateway.TxRequest{ID: 999, Frequency: 869_525_000, DR: 0, PowerDBm: 27,
		PHYPayload: make([]byte, 51), Timing: gateway.Immediately}); st != gw.TxAckStatus_OK {
		q.t.Fatalf("other traffic: %s", st)
	}
}

// atFragment runs f before the engine hands fragment n (from 0) to
// ChirpStack.
func atFragment(n int, f func(q *quirkRig)) func(q *quirkRig) {
	return func(q *quirkRig) {
		q.rec.beforeEnqueue = func(i int) {
			if i == n {
				f(q)
			}
		}
	}
}

const secondGateway = "0016c001f0000002"

// maxHeld is the longest a fragment may take from its hand-over to its start
// on air without having waited in ChirpStack's queue: the scheduler interval
// (1 s), a gateway's 80 ms for an "immediately" frame, and slack for a Basic
// Station push-back.
const maxHeld = 1500 * time.Millisecond

// TestQuirks runs small campaigns through the runner against a simulated
// ChirpStack that behaves as ChirpStack does (every ns.Quirks switch at its
// zero value: silent drops, no multicast tx acks, OK answers for nothing
// done), each with one of its silent behaviours provoked, and checks that the
// engine still updates every device, or else gives honest verdicts, and that
// the property the behaviour threatens holds: fragments carry their session's
// end as expires_at and all get on air in it, none waits in ChirpStack's
// queue, the status round starts after the last one, the group is deleted
// only once its queue drained and the session ended (chirpstack#1029), the
// multicast FCnts run 0, 1, 2, … (the minMcFCnt the devices were given), and
// nothing is left in the devices' queues.
func TestQuirks(t *testing.T) {
	base := campaignSpec{DR: 5, Margin: 5 * time.Second}
	with := func(f func(c *campaignSpec)) campaignSpec {
		c := base
		f(&c)
		return c
	}
	basicStation := func(sc *simulator.Scenario) { sc.Gateways[0].Model = "basic-station" }
	for _, tc := range []quirkCase{
		{
			// ChirpStack's defaults: 5 s class C margin, DELAY, one
			// Concentratord gateway. The common assertions are the
			// properties.
			name: "defaults", camp: base, want: fuota.Updated,
		},
		{
			// A margin above the default is kept: frames at least 10 s
			// apart, and none of them held in ChirpStack's queue.
			name: "class C margin 10 s", camp: with(func(c *campaignSpec) { c.Margin = 10 * time.Second }),
			network: func(sc *simulator.Scenario) { sc.Network.ClassCMargin = simulator.Duration(10 * time.Second) },
			want:    fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				for eui, rx := range o.rx {
					if gap := minGap(rx); gap < 10*time.Second-time.Millisecond {
						c.must("%s: two fragments %v apart, less than ChirpStack's 10 s margin", eui, gap)
					}
				}
			},
		},
		{
			// A sub-second margin (chirpstack/chirpstack#135) is used: the
			// multicast is faster than the default 5 s would allow.
			name: "class C margin 500 ms", camp: with(func(c *campaignSpec) { c.Margin = 500 * time.Millisecond }),
			network: func(sc *simulator.Scenario) {
				sc.Network.ClassCMargin = simulator.Duration(500 * time.Millisecond)
			},
			want: fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				n := len(q.rec.enqueues)
				if d := o.last.Sub(o.first); d >= time.Duration(n-1)*5*time.Second/2 {
					c.must("%d fragments took %v: not paced at the 500 ms margin", n, d)
				}
			},
		},
		{
			// The plan is not told of ChirpStack's 5 s margin: should the
			// engine offer a fragment while the previous one is still
			// queued, ChirpStack holds it a margin after that one and
			// tells no one, the queue grows, the session ends first.
			name: "class C margin unknown to the plan", camp: with(func(c *campaignSpec) { c.Margin = 0 }),
			want: fuota.Updated,
		},
		{
			// Concentratord with ENFORCE_DC refuses what the duty cycle
			// does not allow and ChirpStack deletes the fragment. At DR0 an
			// 8 KiB image needs more than the hour's 10 % of the RX2
			// sub-band, which the class C unicasts share: the engine's
			// ledger must keep every downlink within it.
			name: "gateway enforces the duty cycle", size: 8192,
			network: func(sc *simulator.Scenario) { sc.Gateways[0].EnforceDC = true },
			camp:    with(func(c *campaignSpec) { c.DR = 0 }),
			want:    fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				if p := q.plan; p.Binding != "duty cycle" {
					c.must("the plan is bound by %s, not the duty cycle: the case tests nothing", p.Binding)
				}
				if n := o.rejected[gw.TxAckStatus_DUTY_CYCLE_OVERFLOW]; n > 0 {
					c.ideal("the gateway refused %d downlinks for duty cycle", n)
				}
				if o.unicastRefused > 0 {
					c.ideal("the gateway refused %d of the engine's unicasts", o.unicastRefused)
				}
			},
		},
		{
			// Basic Station shuts the sub-band for airtime/10 % after each
			// frame and drops what it cannot send with no tx ack:
			// ChirpStack picks the fragment again after its 2 s lock, out
			// of FCnt order, or never. At DR3 the off-time (6.8 s) is what
			// spaces the fragments.
			name: "Basic Station gateway: fragments", size: 2048, network: basicStation,
			camp: with(func(c *campaignSpec) { c.DR = 3; c.Model = dutycycle.OffTime }),
			want: fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				if p := q.plan; p.Binding != "duty cycle" {
					c.must("the plan is bound by %s, not the duty cycle: the case tests nothing", p.Binding)
				}
			},
		},
		{
			// The same campaign, for the class C unicasts, which share the
			// sub-band: ChirpStack keeps a refused unicast queued and
			// tries again, so a refusal costs time, and it shifts every
			// later frame.
			name: "Basic Station gateway: unicasts", size: 2048, network: basicStation,
			camp: with(func(c *campaignSpec) { c.DR = 3; c.Model = dutycycle.OffTime }),
			want: fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				if o.unicastRefused > 0 {
					c.ideal("Basic Station dropped %d of the engine's unicasts (no tx ack); ChirpStack sent them again later", o.unicastRefused)
				}
			},
			engineGap: "the network server's own RX2 DevStatusReq shuts the sub-band without the engine's ledgers " +
				"knowing, and Basic Station drops the engine's next unicast with no tx ack, so ChirpStack raises no " +
				"DOWNLINK_GATEWAY event for the engine to hold its outbox on (it does for Concentratord); ChirpStack " +
				"sends the item again after its lock, once",
		},
		{
			// DELAY mode sends each fragment through the gateways in turn,
			// one margin apart: with two gateways ChirpStack needs 2 × 5 s
			// per fragment.
			name: "two gateways in DELAY mode",
			network: func(sc *simulator.Scenario) {
				sc.Gateways = append(sc.Gateways, simulator.GatewaySpec{ID: secondGateway, Name: "gw-2"})
			},
			camp:  with(func(c *campaignSpec) { c.Gateways = []fuota.GatewayConfig{{ID: gatewayID}, {ID: secondGateway}} }),
			want:  fuota.Updated,
			dupes: true,
		},
		{
			// No gateway given: ChirpStack picks the gateways from the
			// devices' uplinks, per Enqueue.
			name: "gateways chosen by ChirpStack", camp: with(func(c *campaignSpec) { c.NoGateways = true }),
			want: fuota.Updated,
		},
		{
			// AddDevice and AddGateway fail (ChirpStack briefly
			// unreachable): the group has no gateway and no device heard
			// by one, and ChirpStack answers every Enqueue with OK and an
			// FCnt and queues nothing.
			name: "empty gateway set", camp: base,
			before: func(q *quirkRig) { q.rec.failMembers = 5 },
			want:   fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				if q.rec.failed != 5 {
					c.must("%d membership calls failed, want 5: the case tests nothing", q.rec.failed)
				}
			},
		},
		{
			// The gateway refuses three fragments (its JIT queue is full of
			// other traffic): ChirpStack deletes them and tells no one.
			// With no parity to spare, the devices cannot rebuild the
			// image; the verdicts must say so.
			name: "gateway refusals beyond the redundancy", camp: base,
			before: atFragment(5, func(q *quirkRig) { fillJIT(q, 12*time.Second) }),
			drops:  true,
			check: func(c *checker, q *quirkRig, o observed) {
				if o.txAckErrors == 0 || o.rejected[gw.TxAckStatus_QUEUE_FULL] == 0 {
					c.must("no fragment was refused (tx-ack errors %d, refusals %v): the case tests nothing", o.txAckErrors, o.rejected)
				}
				for eui, v := range o.verdicts {
					if v.Outcome == fuota.Failed && !strings.Contains(v.Reason, "missing") {
						c.must("%s: failed for %q, which does not say fragments are missing", eui, v.Reason)
					}
				}
			},
		},
		{
			// The same refusals, with the parity of a plan for 20 % loss:
			// the devices rebuild the image without the lost fragments.
			name: "gateway refusals within the redundancy", camp: with(func(c *campaignSpec) { c.Loss = 0.2 }),
			before: atFragment(5, func(q *quirkRig) { fillJIT(q, 12*time.Second) }),
			drops:  true, want: fuota.Updated,
			check: func(c *checker, q *quirkRig, o observed) {
				if o.txAckErrors == 0 {
					c.must("no fragment was refused: the case tests nothing")
				}
			},
		},
		{
			// Other traffic shuts a Basic Station gateway's sub-band for
			// 23 s: it drops the fragments with no tx ack, ChirpStack
			// sends them again after its lock, some after later ones
			// (FCnt out of order, chirpstack#361), which devices discard.
			// Nothing tells the engine.
			name: "Basic Station drops fragments without a tx ack", camp: with(func(c *campaignSpec) { c.Model = dutycycle.OffTime }),
			network: basicStation,
			before:  atFragment(5, blockBand),
			drops:   true, dupes: true,
			check: func(c *checker, q *quirkRig, o observed) {
				if o.unacked == 0 || o.micDrops == 0 {
					c.must("no fragment dropped without a tx ack (%d) or discarded by devices (%d): the case tests nothing", o.unacked, o.micDrops)
				}
			},
		},
		{
			// A restart in the multicast: the resumed engine goes on with
			// the group's FCnts in order, none twice, one group.
			name: "restart in the multicast", camp: base, want: fuota.Updated,
			during: func(q *quirkRig, img []byte) {
				q.runUntilPhase(fuota.PhaseMulticast, time.Hour)
				q.runFor(40 * time.Second)
				if q.phase() != string(fuota.PhaseMulticast) {
					q.t.Fatalf("phase %s at the restart", q.phase())
				}
				q.restart(img)
			},
		},
		{
			// A cancel in the multicast: nothing more is enqueued, and the
			// group is deleted once its last fragment has gone
			// (chirpstack#1029), not before.
			name: "cancel in the multicast", camp: base, want: fuota.Canceled,
			during: func(q *quirkRig, _ []byte) {
				q.runUntilPhase(fuota.PhaseMulticast, time.Hour)
				q.runFor(20 * time.Second)
				q.canceledAt = q.clk.Now()
				if err := q.runner.Cancel(q.ctx, "operator"); err != nil {
					q.t.Fatal(err)
				}
			},
			check: func(c *checker, q *quirkRig, o observed) {
				if len(q.rec.enqueues) == 0 {
					c.must("cancelled before the first fragment: the case tests nothing")
				}
				for _, e := range q.rec.enqueues {
					if e.At.After(q.canceledAt) {
						c.must("fragment FCnt %d enqueued at %v, after the cancel at %v", e.FCnt, e.At, q.canceledAt)
					}
				}
				for b, at := range o.statusReq {
					if at.After(q.canceledAt) {
						c.must("FragSessionStatusReq for block %d at %v, after the cancel", b, at)
					}
				}
			},
		},
		{
			// The loud ChirpStack: every quirk switched off. Nothing the
			// engine does depends on ChirpStack's silence: no oversize
			// frame, no enqueue to an empty group, no error.
			name: "every quirk switched off", camp: base, want: fuota.Updated,
			network: func(sc *simulator.Scenario) {
				sc.Network.Quirks = simulator.QuirksSpec{RefuseOversize: true, RefuseNoGateways: true,
					ReportMulticastTxAck: true, ReportMulticastExpiry: true, ProperErrorCodes: true}
			},
		},
		{
			// The gateway refuses every downlink for 40 s of the setup:
			// ChirpStack keeps the unicasts queued (a DOWNLINK_GATEWAY log
			// event) and tries again, so the engine's retries pile up
			// behind them and the devices answer twice; nothing may be
			// left queued at the end.
			name: "unicasts refused in the setup", camp: base, want: fuota.Updated,
			before: func(q *quirkRig) { fillJIT(q, 40*time.Second) },
			check: func(c *checker, q *quirkRig, o observed) {
				if o.unicastRefused == 0 {
					c.must("no unicast refused: the case tests nothing")
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { runQuirkCase(t, tc) })
	}
}

func runQuirkCase(t *testing.T, tc quirkCase) {
	sc := simulator.DefaultScenario()
	sc.Devices[0].Count = 4
	sc.Devices[0].Stack = "spec"
	sc.Devices[0].Versions = v2
	if tc.network != nil {
		tc.network(sc)
	}
	q := newQuirkRig(t, sc, 7)
	if tc.before != nil {
		tc.before(q)
	}
	oldVersion := running(t, q.net.Devices()[0])
	newVersion := image.Version{Major: 2}
	size := tc.size
	if size == 0 {
		size = 4096
	}
	img := q.firmware(newVersion, boot.Good, size)
	q.start(q.deployment(img, tc.camp))
	if tc.during != nil {
		tc.during(q, img)
	}
	verdicts := q.finish(6 * time.Hour)
	// Let the last unicasts (cleanup) go out.
	q.net.RunFor(q.ctx, 2*time.Minute)
	o := q.observe(verdicts)
	c := &checker{t: t}

	// Verdicts: honest always, the wanted outcome ideally.
	for _, d := range q.net.Devices() {
		v, runs := verdicts[d.DevEUI()], running(t, d)
		switch {
		case (v.Outcome == fuota.Updated) != (runs == newVersion):
			c.must("%s: verdict %s, runs %s", d.Name(), v.Outcome, runs)
		case v.Outcome != fuota.Updated && runs != oldVersion:
			c.must("%s: runs %s, neither version", d.Name(), runs)
		case v.Outcome == fuota.Failed && (v.Step == "" || v.Reason == ""):
			c.must("%s: failed with no step or reason: %+v", d.Name(), v)
		}
		if tc.want == fuota.Canceled && v.Outcome != fuota.Canceled {
			c.must("%s: verdict %+v, want canceled", d.Name(), v)
		}
		if tc.want == fuota.Updated && v.Outcome != fuota.Updated {
			c.ideal("%s: %s at %s: %s", d.Name(), v.Outcome, v.Step, v.Reason)
		}
		if n := q.deviceQueue(d.DevEUI()); n > 0 {
			c.must("%s: %d unicast items left in ChirpStack's queue", d.Name(), n)
		}
	}

	// The fragments: expires_at is the session end, FCnts in order from
	// the new group's 0 (the minMcFCnt the devices were given), offered
	// within the session.
	rec := q.rec
	if len(rec.enqueues) == 0 {
		c.must("no fragment enqueued")
	}
	for i, e := range rec.enqueues {
		s, inSession := o.sessionOf(e.At)
		switch {
		case e.Err != nil:
			c.must("fragment %d: %v", i, e.Err)
		case !inSession:
			c.must("fragment %d enqueued at %v, outside every session %v", i, e.At, o.sessions)
		case !e.ExpiresAt.Equal(s.end):
			c.must("fragment %d expires at %v, not at its session's end %v", i, e.ExpiresAt, s.end)
		case e.FCnt != uint32(i):
			c.must("fragment %d got FCnt %d: the group's counter did not run 0, 1, 2, …", i, e.FCnt)
		}
	}

	// On air: each device hears every fragment, within the session.
	if o.oversize > 0 {
		c.must("ChirpStack discarded %d fragments as longer than the DR allows", o.oversize)
	}
	if o.expired > 0 {
		c.ideal("ChirpStack discarded %d fragments as expired", o.expired)
	}
	if o.txAckErrors > 0 && !tc.drops {
		c.ideal("ChirpStack deleted %d fragments on gateway tx-ack errors", o.txAckErrors)
	}
	if o.micDrops > 0 && !tc.dupes {
		c.ideal("devices discarded %d multicast frames (FCnt repeated or out of order)", o.micDrops)
	}
	if tc.want != fuota.Canceled && !tc.drops {
		for _, d := range q.net.Devices() {
			rx := o.rx[d.DevEUI().String()]
			var missing []uint32
			for _, e := range rec.enqueues {
				if _, ok := rx[e.FCnt]; !ok {
					missing = append(missing, e.FCnt)
				}
			}
			if len(missing) > 0 {
				c.ideal("%s never heard FCnts %v of %d in the session", d.Name(), missing, len(rec.enqueues))
			}
		}
	}
	// Held: a fragment goes on air at ChirpStack's next scheduler run
	// after the engine hands it over, unless ChirpStack queued it behind
	// another, a margin later.
	if !tc.drops && !tc.dupes {
		for _, e := range rec.enqueues {
			var heard time.Time
			for _, rx := range o.rx {
				if at, ok := rx[e.FCnt]; ok && (heard.IsZero() || at.Before(heard)) {
					heard = at
				}
			}
			if held := heard.Sub(e.At) - q.plan.FrameAirtime; !heard.IsZero() && held > maxHeld {
				c.ideal("FCnt %d on air %v after it was enqueued: ChirpStack held it behind another", e.FCnt, held.Round(time.Millisecond))
			}
		}
	}
	for eui, rx := range o.rx {
		for fc, at := range rx {
			// Heard at the frame's end, which may be the session's.
			if _, ok := o.sessionOf(at.Add(-time.Nanosecond)); !ok {
				c.must("%s heard FCnt %d at %v, outside every session %v", eui, fc, at, o.sessions)
			}
		}
	}
	for b, at := range o.statusReq {
		if last := o.lastOf[b]; at.Before(last) {
			c.ideal("FragSessionStatusReq for block %d at %v, before its last fragment was on air at %v",
				b, at.Format(time.TimeOnly), last.Format(time.TimeOnly))
		}
	}

	// The group: deleted once, after the session end (or on cancel after
	// its last fragment), with its queue drained (chirpstack#1029).
	if len(rec.groups) != 1 {
		c.must("%d groups created, want 1", len(rec.groups))
	}
	if len(rec.deletes) != len(rec.groups) {
		c.must("%d groups deleted of %d created", len(rec.deletes), len(rec.groups))
	}
	for _, del := range rec.deletes {
		switch {
		case del.Err != nil:
			c.must("deleting the group: %v", del.Err)
		case !slices.Contains(rec.groups, del.GroupID):
			c.must("deleted group %s, not the one created", del.GroupID)
		case tc.want != fuota.Canceled && del.At.Before(o.lastEnd()):
			c.must("group deleted at %v, before the session end %v", del.At, o.lastEnd())
		case del.At.Before(o.last):
			c.must("group deleted at %v, before the last fragment heard at %v", del.At, o.last)
		}
		if len(del.Queued) > 0 {
			c.ideal("group deleted at %v with FCnts %v still queued", del.At.Format(time.TimeOnly), del.Queued)
		}
	}

	if tc.check != nil {
		tc.check(c, q, o)
	}
	if tc.want != fuota.Canceled {
		q.checkStored(img)
	}
	t.Logf("sessions %v, %d fragments, heard %s–%s, done at +%s",
		o.sessions, len(rec.enqueues),
		o.first.Format(time.TimeOnly), o.last.Format(time.TimeOnly), q.clk.Now().Sub(epoch))

	switch {
	case len(c.gaps) > 0 && tc.engineGap != "":
		if t.Failed() {
			t.Logf("engine gap %q; observed:\n  %s", tc.engineGap, strings.Join(c.gaps, "\n  "))
			return
		}
		t.Skipf("engine: %s\nobserved:\n  %s", tc.engineGap, strings.Join(c.gaps, "\n  "))
	case len(c.gaps) > 0:
		for _, g := range c.gaps {
			t.Error(g)
		}
	case tc.engineGap != "":
		t.Errorf("the ideal holds: the engine gap %q is gone; remove engineGap", tc.engineGap)
	}
}

// minGap is the least time between two receptions of consecutive FCnts.
func minGap(rx map[uint32]time.Time) time.Duration {
	fcnts := slices.Sorted(maps.Keys(rx))
	gap := time.Duration(1<<63 - 1)
	for i := 1; i < len(fcnts); i++ {
		gap = min(gap, rx[fcnts[i]].Sub(rx[fcnts[i-1]]))
	}
	return gap
}
