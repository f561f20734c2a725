package device_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator/device"
)

func TestMcGroupKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		l11  bool
	}{{"LoRaWAN 1.0.x: GenAppKey", false}, {"LoRaWAN 1.1: AppKey", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{tweak: func(c *device.Config) { c.LoRaWAN11 = tc.l11 }})
			root := multicast.McRootKeyFromGenAppKey(genAppKey)
			if tc.l11 {
				root = multicast.McRootKeyFromAppKey(appKey)
			}
			must(t, r.down(multicast.DefaultFPort, &multicast.McGroupSetupReq{
				McGroupID: 1, McAddr: mcAddr, McKeyEncrypted: multicast.EncryptMcKey(multicast.McKEKey(root), mcKey),
				MinMcFCnt: 10, MaxMcFCnt: 20,
			}))
			if a := one[*multicast.McGroupSetupAns](r, multicast.DefaultFPort, time.Second); a.IDError || a.McGroupID != 1 {
				t.Fatalf("McGroupSetupAns %+v", a)
			}
			g, ok := r.dev.McGroup(1)
			if !ok || g.McKey != mcKey {
				t.Fatalf("group %+v, want McKey %x", g, mcKey)
			}
			if g.McAppSKey != multicast.McAppSKey(mcKey, mcAddr) || g.McNwkSKey != multicast.McNwkSKey(mcKey, mcAddr) {
				t.Fatal("session keys differ from the network's")
			}
		})
	}
}

func TestMcGroupCommands(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(c *device.Config) { c.McGroups = 2 }})
	kek := multicast.McKEKey(multicast.McRootKeyFromGenAppKey(genAppKey))
	setup := func(id uint8, addr lorawan.DevAddr) *multicast.McGroupSetupAns {
		must(t, r.down(multicast.DefaultFPort, &multicast.McGroupSetupReq{McGroupID: id, McAddr: addr,
			McKeyEncrypted: multicast.EncryptMcKey(kek, mcKey), MaxMcFCnt: 100}))
		return one[*multicast.McGroupSetupAns](r, multicast.DefaultFPort, time.Second)
	}
	if a := setup(2, mcAddr); !a.IDError {
		t.Fatalf("group 2 on a 2-group device: %+v", a)
	}
	if a := setup(1, lorawan.DevAddr{9, 9, 9, 9}); a.IDError {
		t.Fatalf("group 1: %+v", a)
	}
	must(t, r.down(multicast.DefaultFPort, &multicast.McGroupStatusReq{ReqGroupMask: 0b0011}))
	st := one[*multicast.McGroupStatusAns](r, multicast.DefaultFPort, time.Second)
	if st.AnsGroupMask != 0b0010 || st.NbTotalGroups != 1 || len(st.Groups) != 1 || st.Groups[0].McAddr != (lorawan.DevAddr{9, 9, 9, 9}) {
		t.Fatalf("McGroupStatusAns %+v", st)
	}
	// Several commands in one frame get one uplink with every answer.
	must(t, r.down(multicast.DefaultFPort, &multicast.McGroupDeleteReq{McGroupID: 1}, &multicast.McGroupDeleteReq{McGroupID: 1}))
	r.run(time.Second)
	ups := r.take(multicast.DefaultFPort)
	if len(ups) != 1 || hex.EncodeToString(ups[0].payload) != "03010305" {
		t.Fatalf("delete twice: %+v, want one uplink 03010305", ups)
	}
	// Every TS005 command is unicast only.
	setup(0, mcAddr)
	if err := r.mcDown(mcAddr, multicast.DefaultFPort, &multicast.McGroupStatusReq{ReqGroupMask: 1}); !errors.Is(err, device.ErrDropped) {
		t.Fatalf("McGroupStatusReq on multicast: %v", err)
	}
	if n := len(r.answers(multicast.DefaultFPort, time.Second)); n != 0 {
		t.Fatalf("%d answers to a multicast McGroupStatusReq", n)
	}
}

func TestMulticastFrameCounter(t *testing.T) {
	r := newRig(t, rigOptions{})
	kek := multicast.McKEKey(multicast.McRootKeyFromGenAppKey(genAppKey))
	must(t, r.down(multicast.DefaultFPort, &multicast.McGroupSetupReq{McAddr: mcAddr,
		McKeyEncrypted: multicast.EncryptMcKey(kek, mcKey), MinMcFCnt: 10, MaxMcFCnt: 20}))
	req := &fragmentation.FragSessionStatusReq{Participants: true}
	b, _ := req.MarshalBinary()
	for _, tc := range []struct {
		fcnt uint32
		ok   bool
	}{{9, false}, {10, true}, {10, false}, {15, true}, {12, false}, {20, true}, {21, false}} {
		err := r.dev.HandleDownlink(fragmentation.DefaultFPort, b, &device.McGroupRef{Addr: mcAddr, FCnt: tc.fcnt}, r.clk.Now())
		if (err == nil) != tc.ok {
			t.Errorf("FCnt %d: %v, want accepted %v", tc.fcnt, err, tc.ok)
		}
	}
	err := r.dev.HandleDownlink(fragmentation.DefaultFPort, b, &device.McGroupRef{Addr: lorawan.DevAddr{1}, FCnt: 30}, r.clk.Now())
	if !errors.Is(err, device.ErrDropped) {
		t.Errorf("unknown McAddr: %v", err)
	}
}

// TestClassSessions: the session answers, windows and classes, by the
// device's own clock.
func TestClassSessions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profile  device.Profile
		version  uint8
		classB   bool
		noGroup  bool
		start    int64 // seconds from now
		freq     uint32
		dr       uint8
		want     string // the answer's hex, TimeToStart as the device counts it
		class    device.Class
		anyFreq  bool
		clockOff time.Duration
	}{
		{name: "class C", profile: device.Spec, version: 2, start: 100, freq: mcFreq, dr: mcDR, want: "0400640000", class: device.ClassC},
		{name: "class C, device clock 30 s ahead", profile: device.Spec, version: 2, start: 100, freq: mcFreq, dr: mcDR,
			want: "0400460000", class: device.ClassC, clockOff: 30 * time.Second},
		{name: "class C in the past, v2", profile: device.Spec, version: 2, start: -5, freq: mcFreq, dr: mcDR, want: "0420"},
		{name: "class C in the past, v1", profile: device.Spec, version: 1, start: -5, freq: mcFreq, dr: mcDR, want: "0410"},
		{name: "class C in the past, LoRaMac-node", profile: device.LoRaMacNode, start: -5, freq: mcFreq, dr: mcDR, want: "0410"},
		{name: "DRError", profile: device.Spec, version: 2, start: 100, freq: mcFreq, dr: 9, want: "0404"},
		{name: "FreqError", profile: device.Spec, version: 2, start: 100, freq: 915_000_000, dr: mcDR, want: "0408"},
		{name: "undefined group", profile: device.Spec, version: 2, noGroup: true, start: 100, freq: mcFreq, dr: mcDR, want: "0410"},
		{name: "undefined group, LoRaMac-node", profile: device.LoRaMacNode, noGroup: true, start: 100, freq: mcFreq, dr: mcDR, want: "041c"},
		{name: "class B", profile: device.Spec, version: 2, classB: true, start: 128, freq: mcFreq, dr: 3, want: "0500800000", class: device.ClassB},
		{name: "class B, default hopping", profile: device.LoRaBasicsModem, classB: true, start: 128, freq: 0, dr: 3,
			want: "0500800000", class: device.ClassB, anyFreq: true},
		{name: "class B as class C, LoRaMac-node", profile: device.LoRaMacNode, classB: true, start: 128, freq: mcFreq, dr: 3,
			want: "0500800000", class: device.ClassC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := rigOptions{profile: tc.profile, versions: device.Versions{Multicast: tc.version},
				tweak: func(c *device.Config) { c.ClockOffset = tc.clockOff }}
			r := newRig(t, opts)
			if !tc.noGroup {
				r.setupGroup(0)
			}
			// Class B sessions start on a beacon boundary.
			r.clk.RunUntil(clocksync.FromGPSSeconds(multicast.AlignBeaconUp(r.gpsNow() + 1)))
			g := uint64(int64(r.gpsNow()) + tc.start)
			fport := uint8(multicast.DefaultFPort)
			if tc.classB {
				must(t, r.down(fport, &multicast.McClassBSessionReq{Version: r.dev.Versions().Multicast,
					SessionTime: uint32(g), TimeOut: 0, DLFrequency: tc.freq, DR: tc.dr}))
			} else {
				must(t, r.down(fport, &multicast.McClassCSessionReq{SessionTime: uint32(g), TimeOut: 6, DLFrequency: tc.freq, DR: tc.dr}))
			}
			r.run(time.Second)
			ups := r.take(fport)
			if len(ups) != 1 || hex.EncodeToString(ups[0].payload) != tc.want {
				t.Fatalf("answer %+v, want %s", ups, tc.want)
			}
			info, _ := r.dev.McGroup(0)
			if tc.class == device.ClassA {
				if info.Session != nil {
					t.Fatalf("refused session programmed: %+v", info.Session)
				}
				return
			}
			// The window by the device's clock, in simulation time.
			begin := clocksync.FromGPSSeconds(g).Add(-tc.clockOff)
			end := clocksync.FromGPSSeconds(info.Session.End).Add(-tc.clockOff)
			freq := uint32(mcFreq)
			for _, p := range []struct {
				at     time.Time
				class  device.Class
				listen bool
			}{
				{begin.Add(-time.Millisecond), device.ClassA, false},
				{begin, tc.class, true},
				{end.Add(-time.Millisecond), tc.class, true},
				{end, device.ClassA, false},
			} {
				r.clk.RunUntil(p.at)
				if c := r.dev.Class(); c != p.class {
					t.Fatalf("at %v: class %v, want %v", p.at, c, p.class)
				}
				if l := r.dev.Listening(freq, int(tc.dr), p.at); l != p.listen {
					t.Fatalf("at %v: listening %v, want %v", p.at, l, p.listen)
				}
			}
			if got := r.dev.Listening(freq+200_000, int(tc.dr), begin.Add(time.Second)); got != tc.anyFreq {
				t.Fatalf("listening on another frequency: %v, want %v", got, tc.anyFreq)
			}
			if r.dev.Listening(freq, int(tc.dr)+1, begin.Add(time.Second)) {
				t.Fatal("listening at another data rate")
			}
		})
	}
}

func TestLoRaMacNodeNoGroupStatus(t *testing.T) {
	r := newRig(t, rigOptions{profile: device.LoRaMacNode})
	r.setupGroup(0)
	must(t, r.down(multicast.DefaultFPort, &multicast.McGroupStatusReq{ReqGroupMask: 1}))
	if cmds := r.answers(multicast.DefaultFPort, time.Second); len(cmds) != 0 {
		t.Fatalf("LoRaMac-node answered McGroupStatusReq: %s", describe(cmds))
	}
}

// TestClassAWindow: with RXWindow the device listens in class A only after
// its uplinks; without, never (the MAC layer has the windows).
func TestClassAWindow(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(c *device.Config) { c.UplinkInterval, c.RXWindow = time.Minute, 3*time.Second }})
	if r.dev.Listening(mcFreq, mcDR, r.clk.Now()) {
		t.Fatal("listening before any uplink")
	}
	r.run(time.Minute)
	ups := r.take(2)
	if len(ups) != 1 {
		t.Fatalf("%d application uplinks in a minute", len(ups))
	}
	at := ups[0].at
	if !r.dev.Listening(868_100_000, 0, at.Add(time.Second)) || r.dev.Listening(868_100_000, 0, at.Add(4*time.Second)) {
		t.Fatal("class A window wrong")
	}
	if r.dev.Class() != device.ClassA {
		t.Fatal("not class A")
	}

	r = newRig(t, rigOptions{tweak: func(c *device.Config) { c.UplinkInterval = time.Minute }})
	r.run(time.Minute)
	if ups := r.take(2); len(ups) != 1 || r.dev.Listening(868_100_000, 0, ups[0].at.Add(time.Second)) {
		t.Fatal("listening after an uplink without RXWindow")
	}
}
