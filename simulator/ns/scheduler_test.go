package ns_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/grpc/codes"

	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/ns"
)

// gpsOf is t as time since the GPS epoch, computed independently of the
// package: Unix time − 315964800 + 18 leap seconds (true since 2017).
func gpsOf(t time.Time) time.Duration {
	return time.Duration(t.Unix()-315964800+18)*time.Second + time.Duration(t.Nanosecond())
}

type wantFrame struct {
	at   time.Duration // when transmitted, from t0
	gw   lorawan.EUI64
	fCnt uint32
	emit time.Duration // GPS emit time, from t0; 0 for "immediately"
}

func TestClassCScheduling(t *testing.T) {
	gw1, gw2, gw3 := eui(0xa1), eui(0xa2), eui(0xa3)
	s := time.Second
	tests := []struct {
		name     string
		margin   time.Duration
		sched    api.MulticastGroupSchedulingType
		gateways []lorawan.EUI64
		want     []wantFrame
	}{
		{
			// Frames one margin apart; the first is due at once and goes
			// with the first tick.
			name: "DELAY, 1 gateway", sched: api.MulticastGroupSchedulingType_DELAY,
			gateways: []lorawan.EUI64{gw1},
			want:     []wantFrame{{1 * s, gw1, 0, 0}, {5 * s, gw1, 1, 0}, {10 * s, gw1, 2, 0}},
		},
		{
			// Each gateway adds a margin: frames 3 × margin apart.
			name: "DELAY, 3 gateways", sched: api.MulticastGroupSchedulingType_DELAY,
			gateways: []lorawan.EUI64{gw1, gw2, gw3},
			want: []wantFrame{
				{1 * s, gw1, 0, 0}, {5 * s, gw2, 0, 0}, {10 * s, gw3, 0, 0},
				{15 * s, gw1, 1, 0}, {20 * s, gw2, 1, 0}, {25 * s, gw3, 1, 0},
				{30 * s, gw1, 2, 0}, {35 * s, gw2, 2, 0}, {40 * s, gw3, 2, 0},
			},
		},
		{
			// A sub-second margin (chirpstack#135) on two gateways.
			name: "DELAY, 2 gateways, 1.5 s margin", margin: 1500 * time.Millisecond,
			sched:    api.MulticastGroupSchedulingType_DELAY,
			gateways: []lorawan.EUI64{gw1, gw2},
			want: []wantFrame{
				{1 * s, gw1, 0, 0}, {2 * s, gw2, 0, 0}, {3 * s, gw1, 1, 0},
				{5 * s, gw2, 1, 0}, {6 * s, gw1, 2, 0}, {8 * s, gw2, 2, 0},
			},
		},
		{
			// All gateways at the same GPS instant, one margin after the
			// run-after time; the next frame starts from that time plus a
			// margin, so frames are 2 × margin apart.
			name: "GPS_TIME, 3 gateways", sched: api.MulticastGroupSchedulingType_GPS_TIME,
			gateways: []lorawan.EUI64{gw1, gw2, gw3},
			want: []wantFrame{
				{5 * s, gw1, 0, 5 * s}, {5 * s, gw2, 0, 5 * s}, {5 * s, gw3, 0, 5 * s},
				{15 * s, gw1, 1, 15 * s}, {15 * s, gw2, 1, 15 * s}, {15 * s, gw3, 1, 15 * s},
				{25 * s, gw1, 2, 25 * s}, {25 * s, gw2, 2, 25 * s}, {25 * s, gw3, 2, 25 * s},
			},
		},
		{
			name: "GPS_TIME, 1 gateway, 2 s margin", margin: 2 * s,
			sched:    api.MulticastGroupSchedulingType_GPS_TIME,
			gateways: []lorawan.EUI64{gw2},
			want:     []wantFrame{{2 * s, gw2, 0, 2 * s}, {6 * s, gw2, 1, 6 * s}, {10 * s, gw2, 2, 10 * s}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ns.Config{ClassCMargin: tt.margin})
			id := e.createGroup(func(g *api.MulticastGroup) { g.ClassCSchedulingType = tt.sched }, tt.gateways...)
			for i := range 3 {
				if _, err := e.enqueue(id, []byte{byte(i)}, nil); err != nil {
					t.Fatal(err)
				}
			}
			e.runScheduler(time.Minute)
			frames := e.tx.frames()
			if len(frames) != len(tt.want) {
				t.Fatalf("%d frames sent, want %d: %v", len(frames), len(tt.want), frames)
			}
			for i, f := range frames {
				w := tt.want[i]
				got := wantFrame{at: f.at.Sub(t0), gw: f.dl.GatewayID, fCnt: f.dl.FCnt}
				if f.dl.TimeSinceGPSEpoch != nil {
					got.emit = *f.dl.TimeSinceGPSEpoch - gpsOf(t0)
					if !f.dl.EmitAt.Equal(t0.Add(got.emit)) {
						t.Errorf("frame %d: EmitAt %v does not match its GPS time", i, f.dl.EmitAt)
					}
				} else if !f.dl.EmitAt.Equal(f.at) {
					t.Errorf("frame %d: immediate frame has EmitAt %v, sent at %v", i, f.dl.EmitAt, f.at)
				}
				if got != w {
					t.Errorf("frame %d = %+v, want %+v", i, got, w)
				}
			}
			if items := e.listQueue(id); len(items) != 0 {
				t.Errorf("queue not drained: %v", items)
			}
		})
	}
}

func TestClassBScheduling(t *testing.T) {
	tests := []struct {
		periodicity uint32
		margin      time.Duration
	}{{0, 0}, {5, 0}, {7, 0}, {5, 20 * time.Second}}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			e := newEnv(t, ns.Config{ClassBMargin: tt.margin})
			margin := e.srv.Config().ClassBMargin
			id := e.createGroup(func(g *api.MulticastGroup) {
				g.GroupType = api.MulticastGroupType_CLASS_B
				g.ClassBPingSlotPeriodicity = tt.periodicity
			}, e.gw1, e.gw2)
			const n = 4
			for i := range n {
				if _, err := e.enqueue(id, []byte{byte(i)}, nil); err != nil {
					t.Fatal(err)
				}
			}
			e.runScheduler(10 * time.Minute)
			frames := e.tx.frames()
			if len(frames) != 2*n {
				t.Fatalf("%d frames sent, want %d", len(frames), 2*n)
			}
			pingNb := 1 << (7 - tt.periodicity)
			period := time.Duration(4096/pingNb) * 30 * time.Millisecond
			offsets := map[time.Duration]time.Duration{} // beacon start → offset in it
			prev := gpsOf(t0.Add(margin))
			for i := 0; i < len(frames); i += 2 {
				a, b := frames[i], frames[i+1]
				emit := *a.dl.TimeSinceGPSEpoch
				if *b.dl.TimeSinceGPSEpoch != emit || a.dl.GatewayID == b.dl.GatewayID || a.dl.FCnt != b.dl.FCnt {
					t.Fatalf("frame %d: gateways disagree: %+v / %+v", i/2, a.dl, b.dl)
				}
				// In a ping slot: a whole number of slots after the
				// beacon's reserved time, at the same offset in the
				// period for every slot of a beacon.
				beacon := emit.Truncate(128 * time.Second)
				slot := emit - beacon - 2120*time.Millisecond
				if slot < 0 || slot%(30*time.Millisecond) != 0 {
					t.Fatalf("frame %d: emit %v is not on a slot boundary", i/2, emit)
				}
				if off, ok := offsets[beacon]; ok && off != slot%period {
					t.Errorf("frame %d: offset %v, earlier slot of the beacon had %v", i/2, slot%period, off)
				}
				offsets[beacon] = slot % period
				// After the margin, then strictly after the previous one;
				// within a beacon, the very next slot.
				if emit <= prev {
					t.Errorf("frame %d: emit %v not after %v", i/2, emit, prev)
				}
				if i > 0 && emit.Truncate(128*time.Second) == prev.Truncate(128*time.Second) && emit-prev != period {
					t.Errorf("frame %d: %v after the previous slot, want one ping period %v", i/2, emit-prev, period)
				}
				prev = emit
				// Picked two scheduler intervals before the slot, on the
				// first tick at or after that.
				lead := a.dl.EmitAt.Sub(a.at)
				if lead <= time.Second || lead > 2*time.Second {
					t.Errorf("frame %d: sent %v before its slot, want (1 s, 2 s]", i/2, lead)
				}
			}
		})
	}

	e := newEnv(t, ns.Config{})
	id := e.createGroup(func(g *api.MulticastGroup) {
		g.GroupType = api.MulticastGroupType_CLASS_B
		g.ClassBPingSlotPeriodicity = 8
	}, e.gw1)
	_, err := e.enqueue(id, []byte{1}, nil)
	wantCode(t, err, codes.Internal, "class_b_ping_slot_periodicity")
}

func TestMulticastExpiry(t *testing.T) {
	for _, report := range []bool{false, true} {
		t.Run(map[bool]string{false: "silent", true: "reported"}[report], func(t *testing.T) {
			e := newEnv(t, ns.Config{Quirks: ns.Quirks{ReportMulticastExpiry: report}})
			id := e.createGroup(nil, e.gw1)
			exp := t0.Add(3 * time.Second) // FCnt 1 is due at t0+5 s
			for _, x := range []*time.Time{nil, &exp, nil} {
				if _, err := e.enqueue(id, []byte{1}, x); err != nil {
					t.Fatal(err)
				}
			}
			if items := e.listQueue(id); items[1].ExpiresAt == nil || !items[1].ExpiresAt.AsTime().Equal(exp) {
				t.Errorf("ListQueue expires_at = %v", items[1].ExpiresAt)
			}
			e.runScheduler(time.Minute)
			var fCnts []uint32
			for _, f := range e.tx.frames() {
				fCnts = append(fCnts, f.dl.FCnt)
			}
			if !slices.Equal(fCnts, []uint32{0, 2}) {
				t.Errorf("sent FCnts %v, want [0 2]", fCnts)
			}
			if !strings.Contains(e.log.String(), "because it has expired") {
				t.Error("no log line for the expired item")
			}
			evs := e.sink.events()
			if !report {
				if len(evs) != 0 {
					t.Errorf("events %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Code != integration.LogCode_EXPIRED || evs[0].FCnt != 1 || evs[0].MulticastGroupID != id {
				t.Errorf("events %+v, want one EXPIRED for FCnt 1", evs)
			}
		})
	}
}

func TestMulticastOversize(t *testing.T) {
	reg, err := region.Get(region.EU868)
	if err != nil {
		t.Fatal(err)
	}
	p, err := reg.MaxPayload(0, region.Downlink, region.PayloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "dropped silently", true: "refused"}[refuse], func(t *testing.T) {
			e := newEnv(t, ns.Config{Quirks: ns.Quirks{RefuseOversize: refuse}})
			id := e.createGroup(func(g *api.MulticastGroup) { g.Dr = 0 }, e.gw1)
			if _, err := e.enqueue(id, make([]byte, p.N), nil); err != nil {
				t.Fatalf("payload of N = %d bytes: %v", p.N, err)
			}
			fCnt, err := e.enqueue(id, make([]byte, p.N+1), nil)
			if refuse {
				wantCode(t, err, codes.InvalidArgument, "exceeds max. payload size")
			} else if err != nil || fCnt != 1 {
				t.Fatalf("oversize Enqueue = %d, %v; want FCnt 1, accepted", fCnt, err)
			}
			last, err := e.enqueue(id, []byte{1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			e.runScheduler(time.Minute)
			var fCnts []uint32
			for _, f := range e.tx.frames() {
				fCnts = append(fCnts, f.dl.FCnt)
			}
			want := []uint32{0, 1} // the refused frame consumed no FCnt
			if !refuse {
				want = []uint32{0, 2} // FCnt 1 consumed, never sent
			}
			if !slices.Equal(fCnts, want) || last != want[1] {
				t.Errorf("sent FCnts %v (last enqueued %d), want %v", fCnts, last, want)
			}
			logged := strings.Contains(e.log.String(), "exceeds max. payload size")
			if logged == refuse {
				t.Errorf("drop logged = %v, want %v", logged, !refuse)
			}
			if len(e.sink.events()) != 0 {
				t.Errorf("events %+v, want none", e.sink.events())
			}
		})
	}
}

func TestMulticastGatewaySet(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		refuse bool
		heard  map[lorawan.EUI64][]lorawan.EUI64 // device → gateways that heard it
		want   []lorawan.EUI64                   // gateways the frame goes through
		code   codes.Code
	}{
		{"empty set, silent", false, nil, nil, codes.OK},
		{"empty set, refused", true, nil, nil, codes.FailedPrecondition},
		// gw2 heard both devices: it alone covers them.
		{"one gateway covers all", true, map[lorawan.EUI64][]lorawan.EUI64{
			eui(1): {eui(0xa1), eui(0xa2)}, eui(2): {eui(0xa2), eui(0xa3)}}, []lorawan.EUI64{eui(0xa2)}, codes.OK},
		// Every gateway heard one device: ties go to the lowest id.
		{"ties", false, map[lorawan.EUI64][]lorawan.EUI64{
			eui(1): {eui(0xa3), eui(0xa1)}, eui(2): {eui(0xa2)}}, []lorawan.EUI64{eui(0xa1), eui(0xa2)}, codes.OK},
		{"two gateways needed", false, map[lorawan.EUI64][]lorawan.EUI64{
			eui(1): {eui(0xa1)}, eui(2): {eui(0xa3)}}, []lorawan.EUI64{eui(0xa1), eui(0xa3)}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ns.Config{Quirks: ns.Quirks{RefuseNoGateways: tt.refuse}})
			id := e.createGroup(nil) // no gateways added
			for _, d := range []lorawan.EUI64{e.dev10, e.dev11} {
				if _, err := e.mg.AddDevice(ctx, &api.AddDeviceToMulticastGroupRequest{MulticastGroupId: id, DevEui: d.String()}); err != nil {
					t.Fatal(err)
				}
				if err := e.srv.RecordUplink(d, tt.heard[d]...); err != nil {
					t.Fatal(err)
				}
			}
			fCnt, err := e.enqueue(id, []byte{1}, nil)
			wantCode(t, err, tt.code, "")
			g, _ := e.mg.Get(ctx, &api.GetMulticastGroupRequest{Id: id})
			wantFCnt := uint32(1)
			if tt.code != codes.OK {
				wantFCnt = 0 // refused: no FCnt consumed
			} else if fCnt != 0 {
				t.Errorf("Enqueue f_cnt = %d, want 0", fCnt)
			}
			if g.MulticastGroup.FCnt != wantFCnt {
				t.Errorf("group f_cnt = %d, want %d", g.MulticastGroup.FCnt, wantFCnt)
			}
			if n := len(e.listQueue(id)); (n == 0) != (len(tt.want) == 0) {
				t.Errorf("ListQueue has %d items with %d gateways", n, len(tt.want))
			}
			e.runScheduler(time.Minute)
			var got []lorawan.EUI64
			for _, f := range e.tx.frames() {
				got = append(got, f.dl.GatewayID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sent through %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMulticastTxAck(t *testing.T) {
	tests := []struct {
		status gw.TxAckStatus
		report bool
		sends  int // transmissions in 4 s
	}{
		{gw.TxAckStatus_OK, false, 1},
		{gw.TxAckStatus_DUTY_CYCLE_OVERFLOW, false, 1},
		{gw.TxAckStatus_TOO_LATE, true, 1},
		{gw.TxAckStatus_OK, true, 1},
		// No ack: picked again once the 2 s lock has passed, at t0+1 s and
		// t0+3 s; the row stays.
		{ns.NoAck, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.status.String(), func(t *testing.T) {
			e := newEnv(t, ns.Config{Quirks: ns.Quirks{ReportMulticastTxAck: tt.report}})
			e.tx.status = tt.status
			id := e.createGroup(nil, e.gw1)
			if _, err := e.enqueue(id, []byte{1}, nil); err != nil {
				t.Fatal(err)
			}
			e.runScheduler(4 * time.Second)
			if n := len(e.tx.frames()); n != tt.sends {
				t.Errorf("%d transmissions, want %d", n, tt.sends)
			}
			left := len(e.listQueue(id))
			if wantLeft := map[bool]int{false: 0, true: 1}[tt.status == ns.NoAck]; left != wantLeft {
				t.Errorf("%d items left, want %d", left, wantLeft)
			}
			evs := e.sink.events()
			if !tt.report {
				if len(evs) != 0 {
					t.Errorf("events %+v, want none", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != ns.EventMulticastTxAck || evs[0].Status != tt.status || evs[0].GatewayID != e.gw1 {
				t.Errorf("events %+v, want one multicast tx ack %v", evs, tt.status)
			}
		})
	}
}

// TestDownlinkFrame checks the frame handed to the gateway: radio
// parameters, and a PHYPayload that decrypts and verifies with the group's
// session keys.
func TestDownlinkFrame(t *testing.T) {
	e := newEnv(t, ns.Config{})
	id := e.createGroup(nil, e.gw1)
	data := []byte("fragment-0001")
	if _, err := e.enqueue(id, data, nil); err != nil {
		t.Fatal(err)
	}
	e.runScheduler(time.Second)
	frames := e.tx.frames()
	if len(frames) != 1 {
		t.Fatalf("%d frames", len(frames))
	}
	d := frames[0].dl
	if d.Region != region.EU868 || d.DR != 5 || d.Frequency != 869525000 || d.PowerDBm != 27 ||
		d.DevAddr != (lorawan.DevAddr{1, 2, 3, 4}) || d.FPort != 201 || !bytes.Equal(d.FRMPayload, data) ||
		d.MulticastGroupID != id || d.QueueItemID == "" || d.TimeSinceGPSEpoch != nil {
		t.Errorf("Downlink = %+v", d)
	}
	var nwkSKey, appSKey lorawan.AES128Key
	if err := nwkSKey.UnmarshalText([]byte(e.group(nil).McNwkSKey)); err != nil {
		t.Fatal(err)
	}
	if err := appSKey.UnmarshalText([]byte(e.group(nil).McAppSKey)); err != nil {
		t.Fatal(err)
	}
	var phy lorawan.PHYPayload
	if err := phy.UnmarshalBinary(d.PHYPayload); err != nil {
		t.Fatal(err)
	}
	if phy.MHDR.MType != lorawan.UnconfirmedDataDown {
		t.Errorf("MType = %v", phy.MHDR.MType)
	}
	ok, err := phy.ValidateDownlinkDataMIC(lorawan.LoRaWAN1_0, 0, nwkSKey)
	if err != nil || !ok {
		t.Errorf("MIC valid = %v, %v", ok, err)
	}
	if err := phy.DecryptFRMPayload(appSKey); err != nil {
		t.Fatal(err)
	}
	mac := phy.MACPayload.(*lorawan.MACPayload)
	pl := mac.FRMPayload[0].(*lorawan.DataPayload)
	if mac.FHDR.DevAddr != d.DevAddr || mac.FHDR.FCnt != 0 || *mac.FPort != 201 || !bytes.Equal(pl.Bytes, data) {
		t.Errorf("decoded frame: %+v, payload %q", mac.FHDR, pl.Bytes)
	}
}

func TestSchedulerBatchAndStop(t *testing.T) {
	e := newEnv(t, ns.Config{SchedulerBatchSize: 2})
	id := e.createGroup(func(g *api.MulticastGroup) {
		g.ClassCSchedulingType = api.MulticastGroupSchedulingType_GPS_TIME
	}, e.gw1, e.gw2, e.gw3)
	if _, err := e.enqueue(id, []byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := e.srv.StartScheduler(ctx)
	defer stop()
	e.clk.RunFor(10 * time.Second)
	var at []time.Duration
	for _, f := range e.tx.frames() {
		at = append(at, f.at.Sub(t0))
	}
	// Three rows due at t0+5 s, two per tick.
	if want := []time.Duration{5 * time.Second, 5 * time.Second, 6 * time.Second}; !slices.Equal(at, want) {
		t.Errorf("sent at %v, want %v", at, want)
	}
	// Once the context is done the scheduler stops rescheduling itself.
	cancel()
	e.clk.RunFor(2 * time.Second)
	if n := e.clk.Pending(); n != 0 {
		t.Errorf("%d events pending after cancel", n)
	}
}
