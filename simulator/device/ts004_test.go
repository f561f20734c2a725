package device_test

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// session sets up FragIndex idx for a block of nb·fs random bytes (not an
// image) and returns the setup and the fragments, red of them parity.
func (r *rig) session(idx uint8, nb, fs, red int, cnt uint16, mod func(*fragmentation.FragSessionSetupReq)) (*fragmentation.FragSessionSetupReq, [][]byte) {
	r.t.Helper()
	data := make([]byte, nb*fs)
	rnd := rand.New(rand.NewPCG(uint64(nb), uint64(fs)))
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	req, padded := r.setupReq(data, idx, fs, cnt)
	if mod != nil {
		mod(req)
	}
	r.setup(req)
	return req, r.encode(padded, fs, red)
}

// feed sends fragments 1-based numbers ns by unicast.
func (r *rig) feed(idx uint8, frags [][]byte, ns ...int) {
	r.t.Helper()
	for _, n := range ns {
		_ = r.down(fragmentation.DefaultFPort, frag(idx, n, frags[n-1]))
	}
}

// statusAnswers keeps the FragSessionStatusAns uplinks.
func statusAnswers(ups []uplink) []uplink {
	var out []uplink
	for _, u := range ups {
		if u.payload[0] == fragmentation.CIDFragSessionStatus {
			out = append(out, u)
		}
	}
	return out
}

func seq(from, to int) []int {
	var s []int
	for n := from; n <= to; n++ {
		s = append(s, n)
	}
	return s
}

func TestPackageVersion(t *testing.T) {
	ports := []struct {
		fport uint8
		id    uint8
	}{{202, 1}, {200, 2}, {201, 3}, {203, 4}}
	for _, tc := range []struct {
		profile  device.Profile
		versions device.Versions
		want     [4]uint8 // per port above; 0: no answer
	}{
		{device.Spec, device.Versions{}, [4]uint8{2, 2, 2, 1}},
		{device.Spec, device.Versions{ClockSync: 1, Multicast: 1, Fragmentation: 1}, [4]uint8{1, 1, 1, 1}},
		{device.LoRaMacNode, device.Versions{}, [4]uint8{1, 1, 1, 0}},
		{device.STM32CubeWL, device.Versions{Fragmentation: 1}, [4]uint8{2, 2, 1, 1}},
		{device.LoRaBasicsModem, device.Versions{}, [4]uint8{2, 2, 2, 1}},
	} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: tc.profile, versions: tc.versions})
			for i, p := range ports {
				err := r.down(p.fport, &applayer.PackageVersionReq{})
				cmds := r.answers(p.fport, time.Second)
				if tc.want[i] == 0 {
					if len(cmds) != 0 || !errors.Is(err, device.ErrDropped) {
						t.Fatalf("FPort %d: %s, %v; want dropped", p.fport, describe(cmds), err)
					}
					continue
				}
				a, ok := cmds[0].(*applayer.PackageVersionAns)
				if len(cmds) != 1 || !ok || a.PackageIdentifier != p.id || a.PackageVersion != tc.want[i] {
					t.Fatalf("FPort %d: %s, want package %d version %d", p.fport, describe(cmds), p.id, tc.want[i])
				}
			}
		})
	}
}

func TestVersionsPerProfile(t *testing.T) {
	for _, tc := range []struct {
		profile  device.Profile
		versions device.Versions
		ok       bool
	}{
		{device.LoRaMacNode, device.Versions{Fragmentation: 2}, false},
		{device.LoRaMacNode, device.Versions{FirmwareManagement: 1}, false},
		{device.LoRaMacNode, device.Versions{Multicast: 1, ClockSync: 1}, true},
		{device.STM32CubeWL, device.Versions{Fragmentation: 1, Multicast: 2}, true},
		{device.Spec, device.Versions{Fragmentation: 3}, false},
		{device.LoRaBasicsModem, device.Versions{FirmwareManagement: 2}, false},
	} {
		_, err := device.New(device.Config{Clock: nil})
		if err == nil {
			t.Fatal("New without a clock succeeded")
		}
		r := newRig(t, rigOptions{})
		cfg := device.Config{Clock: r.clk, Boot: r.boot, Uplinker: device.UplinkFunc(r.record),
			Profile: tc.profile, Versions: tc.versions}
		_, err = device.New(cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%v %+v: %v, want ok=%v", tc.profile, tc.versions, err, tc.ok)
		}
	}
	for _, p := range device.Profiles() {
		q, err := device.ParseProfile(p.String())
		if err != nil || q != p {
			t.Errorf("ParseProfile(%q) = %v, %v", p.String(), q, err)
		}
	}
}

func TestFragSessionSetupRejected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tweak  func(*device.Config)
		nb, fs int
		mod    func(*fragmentation.FragSessionSetupReq)
		want   fragmentation.FragSessionSetupAns
		reason string
	}{
		{name: "FragAlgo", nb: 10, fs: 50, mod: func(q *fragmentation.FragSessionSetupReq) { q.FragAlgo = 1 },
			want: fragmentation.FragSessionSetupAns{FragAlgoUnsupported: true}, reason: "FragAlgo"},
		{name: "FragIndex", nb: 10, fs: 50, tweak: func(c *device.Config) { c.FragSessions = 1 },
			mod:  func(q *fragmentation.FragSessionSetupReq) { q.FragIndex = 1 },
			want: fragmentation.FragSessionSetupAns{FragIndex: 1, FragIndexUnsupported: true}, reason: "FragIndex 1"},
		{name: "NbFrag above FRAG_MAX_NB", nb: 100, fs: 50, tweak: func(c *device.Config) { c.MaxNbFrag = 64 },
			want: fragmentation.FragSessionSetupAns{NotEnoughMemory: true}, reason: "NbFrag 100"},
		{name: "FragSize below FRAG_MIN_SIZE", nb: 10, fs: 20, tweak: func(c *device.Config) { c.MinFragSize = 40 },
			want: fragmentation.FragSessionSetupAns{NotEnoughMemory: true}, reason: "FragSize 20"},
		{name: "block larger than the staging slot", nb: 200, fs: 200,
			want: fragmentation.FragSessionSetupAns{NotEnoughMemory: true}, reason: "staging slot"},
		{name: "Lmax matrix over the RAM budget", nb: 300, fs: 40,
			tweak: func(c *device.Config) { c.MaxLost, c.RAMBudget = 200, 4000 },
			want:  fragmentation.FragSessionSetupAns{NotEnoughMemory: true}, reason: "Lmax 200"},
		{name: "no Lmax fits the RAM budget", nb: 300, fs: 40,
			tweak: func(c *device.Config) { c.RAMBudget = 100 },
			want:  fragmentation.FragSessionSetupAns{NotEnoughMemory: true}, reason: "Lmax 1"},
		{name: "scratch for Lmax does not fit", nb: 300, fs: 40,
			tweak: func(c *device.Config) { c.MaxLost = 200 },
			want:  fragmentation.FragSessionSetupAns{NotEnoughMemory: true}, reason: "scratch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{tweak: tc.tweak})
			req, _ := r.setupReq(make([]byte, tc.nb*tc.fs), 0, tc.fs, 1)
			if tc.mod != nil {
				tc.mod(req)
			}
			must(t, r.down(fragmentation.DefaultFPort, req))
			ans := one[*fragmentation.FragSessionSetupAns](r, fragmentation.DefaultFPort, time.Second)
			tc.want.Version = 2
			if *ans != tc.want {
				t.Fatalf("FragSessionSetupAns %+v, want %+v", ans, tc.want)
			}
			if err := r.dev.LastSetupError(); err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("LastSetupError %v, want it to mention %q", err, tc.reason)
			}
			if _, ok := r.dev.FragSession(req.FragIndex); ok {
				t.Fatal("refused session exists")
			}
		})
	}
}

// TestSessionCntReplay: SessionCntPrev is taken at the first DataFragment, is
// kept in NVM across a restart, and refuses a replayed SessionCnt.
func TestSessionCntReplay(t *testing.T) {
	r := newRig(t, rigOptions{})
	setup := func(cnt uint16) *fragmentation.FragSessionSetupAns {
		req, _ := r.setupReq(make([]byte, 500), 2, 50, cnt)
		must(t, r.down(fragmentation.DefaultFPort, req))
		return one[*fragmentation.FragSessionSetupAns](r, fragmentation.DefaultFPort, time.Second)
	}
	if a := setup(5); !a.Accepted() {
		t.Fatalf("SessionCnt 5: %+v", a)
	}
	// Accepted but never fed: the counter has not moved.
	r.dev.Reset()
	r.run(time.Second)
	if a := setup(5); !a.Accepted() {
		t.Fatalf("SessionCnt 5 again, no fragment seen: %+v", a)
	}
	must(t, r.down(fragmentation.DefaultFPort, frag(2, 1, make([]byte, 50))))
	if got := r.boot.NVM().SessionCntPrev(2); got != 5 {
		t.Fatalf("SessionCntPrev[2] = %d after the first fragment, want 5", got)
	}
	r.dev.Reset()
	r.run(time.Second)
	for _, tc := range []struct {
		cnt    uint16
		replay bool
	}{{4, true}, {5, true}, {6, false}} {
		a := setup(tc.cnt)
		if a.SessionCntReplay != tc.replay || a.Accepted() == tc.replay {
			t.Fatalf("after restart, SessionCnt %d: %+v, want replay %v", tc.cnt, a, tc.replay)
		}
	}
	// Other FragIndex values keep their own counter.
	if got := r.boot.NVM().SessionCntPrev(0); got != -1 {
		t.Fatalf("SessionCntPrev[0] = %d, want -1", got)
	}
}

// TestSessionCntLast: the largest SessionCnt is accepted once; after it the
// FragIndex takes no more sessions. (LoRa Basics Modem also refuses a
// SessionCnt of 2^16 or more, which a 16-bit field cannot carry: the quirk
// cannot show on the wire.)
func TestSessionCntLast(t *testing.T) {
	for _, p := range []device.Profile{device.Spec, device.LoRaBasicsModem, device.STM32CubeWL} {
		t.Run(p.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: p})
			for i, want := range []bool{true, false} {
				req, _ := r.setupReq(make([]byte, 500), 0, 50, 0xffff)
				must(t, r.down(fragmentation.DefaultFPort, req))
				if a := one[*fragmentation.FragSessionSetupAns](r, fragmentation.DefaultFPort, time.Second); a.Accepted() != want {
					t.Fatalf("setup %d with SessionCnt 0xffff: %+v, want accepted %v", i, a, want)
				}
				_ = r.down(fragmentation.DefaultFPort, frag(0, 1, make([]byte, 50)))
			}
		})
	}
}

func TestDataFragmentGroupFilter(t *testing.T) {
	for _, tc := range []struct {
		profile device.Profile
		taken   bool
	}{
		{device.Spec, false},
		{device.STM32CubeWL, false},
		{device.LoRaBasicsModem, false},
		{device.LoRaMacNode, true}, // checks neither session state nor group
	} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: tc.profile})
			r.setupGroup(0)
			_, frags := r.session(0, 10, 50, 0, 1, func(q *fragmentation.FragSessionSetupReq) {
				q.McGroupBitMask = 0b0010 // group 1 only
			})
			err := r.mcDown(mcAddr, fragmentation.DefaultFPort, frag(0, 1, frags[0]))
			info, _ := r.dev.FragSession(0)
			if taken := info.Status.Received == 1; taken != tc.taken {
				t.Fatalf("fragment from group 0 taken %v (%v), want %v", taken, err, tc.taken)
			}
			if !tc.taken && !errors.Is(err, device.ErrDropped) {
				t.Fatalf("dropped without ErrDropped: %v", err)
			}
			// Unicast is always allowed.
			must(t, r.down(fragmentation.DefaultFPort, frag(0, 2, frags[1])))
			// Only StatusReq and DataFragment are valid on multicast.
			req, _ := r.setupReq(make([]byte, 500), 1, 50, 1)
			if err := r.mcDown(mcAddr, fragmentation.DefaultFPort, req); !errors.Is(err, device.ErrDropped) {
				t.Fatalf("FragSessionSetupReq on multicast: %v, want dropped", err)
			}
			if cmds := r.answers(fragmentation.DefaultFPort, time.Second); len(cmds) != 0 {
				t.Fatalf("answer to a multicast setup: %s", describe(cmds))
			}
		})
	}
}

// TestBlockAckDelayWait: the status answer waits a random delay within the
// BlockAckDelay window, as each stack draws it.
func TestBlockAckDelayWait(t *testing.T) {
	const b = 1 // 32 s window
	window := 32 * time.Second
	for _, tc := range []struct {
		profile device.Profile
		min     time.Duration
		step    time.Duration // the delay is a multiple of it
	}{
		{device.Spec, 0, time.Millisecond},
		{device.LoRaBasicsModem, 0, time.Millisecond},
		{device.LoRaMacNode, 0, 32 * time.Millisecond},
		{device.STM32CubeWL, 3 * time.Second, time.Millisecond},
	} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: tc.profile})
			r.session(0, 10, 50, 0, 1, func(q *fragmentation.FragSessionSetupReq) { q.BlockAckDelay = b })
			seen := map[time.Duration]bool{}
			for range 30 {
				sent := r.clk.Now()
				must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionStatusReq{Participants: true}))
				r.run(window + time.Second)
				ups := statusAnswers(r.take(fragmentation.DefaultFPort))
				if len(ups) != 1 {
					t.Fatalf("%d status answers", len(ups))
				}
				wait := ups[0].at.Sub(sent)
				if wait < tc.min || wait > window || wait%tc.step != 0 {
					t.Fatalf("answer after %v, want a multiple of %v in [%v, %v]", wait, tc.step, tc.min, window)
				}
				seen[wait] = true
			}
			if len(seen) < 20 {
				t.Fatalf("only %d distinct waits in 30 answers", len(seen))
			}
		})
	}
}

// TestStatusAns: the answer's layout and counters as each stack reports them.
func TestStatusAns(t *testing.T) {
	// The fragments heard: 10 uncoded with 3 and 7 lost, then parity.
	lossy := []int{1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14}
	for _, tc := range []struct {
		name     string
		profile  device.Profile
		versions device.Versions
		// noSession is the payload answering a session that does not exist.
		noSession string
		// fed, then the answer: [NbFragReceived, MissingFrag] after the
		// first 5 fragments heard, and after all.
		fed      []int
		mid, end [2]int
		layout   fragmentation.StatusAnsLayout
	}{
		{name: "spec-v2", profile: device.Spec, noSession: "0104", fed: lossy,
			mid: [2]int{5, 5}, end: [2]int{11, 0}, layout: fragmentation.StatusAnsV2},
		{name: "spec-v1", profile: device.Spec, versions: device.Versions{Fragmentation: 1}, noSession: "0100000000",
			fed: lossy, mid: [2]int{5, 5}, end: [2]int{11, 0}, layout: fragmentation.StatusAnsV1Order},
		{name: "lbm-v2", profile: device.LoRaBasicsModem, noSession: "0104000000", fed: lossy,
			mid: [2]int{6 - 1, 10 - 6 + 1}, end: [2]int{13, 0}, layout: fragmentation.StatusAnsV2},
		{name: "lbm-v2 loss-free", profile: device.LoRaBasicsModem, noSession: "0104000000", fed: seq(1, 10),
			mid: [2]int{5, 5}, end: [2]int{10, 1}, layout: fragmentation.StatusAnsV2},
		{name: "stm-v2", profile: device.STM32CubeWL, noSession: "0100000000", fed: lossy,
			mid: [2]int{6, 1}, end: [2]int{13, 2}, layout: fragmentation.StatusAnsV1Order},
		{name: "loramac-node", profile: device.LoRaMacNode, noSession: "0100000000", fed: lossy,
			mid: [2]int{6, 1}, end: [2]int{13, 2}, layout: fragmentation.StatusAnsV1Order},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{profile: tc.profile, versions: tc.versions})
			status := func() (*fragmentation.FragSessionStatusAns, string) {
				t.Helper()
				must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionStatusReq{Participants: true}))
				r.run(20 * time.Second)
				ups := statusAnswers(r.take(fragmentation.DefaultFPort))
				if len(ups) != 1 {
					t.Fatalf("%d status answers", len(ups))
				}
				p := ups[0].payload
				if p[0] != fragmentation.CIDFragSessionStatus {
					t.Fatalf("uplink %x", p)
				}
				ans, _, err := fragmentation.DecodeStatusAnsLayout(p[1:], tc.layout)
				must(t, err)
				return ans, hex.EncodeToString(p)
			}
			if _, raw := status(); raw != tc.noSession {
				t.Fatalf("no session: %s, want %s", raw, tc.noSession)
			}
			_, frags := r.session(0, 10, 50, 4, 1, nil)
			r.feed(0, frags, tc.fed[:5]...)
			for i, want := range [][2]int{tc.mid, tc.end} {
				if i == 1 {
					r.feed(0, frags, tc.fed[5:]...)
				}
				ans, raw := status()
				if got := [2]int{int(ans.NbFragReceived), int(ans.MissingFrag)}; got != want {
					t.Fatalf("step %d: %s: [NbFragReceived MissingFrag] %v, want %v", i, raw, got, want)
				}
			}
			if info, _ := r.dev.FragSession(0); !info.Done {
				t.Fatalf("session not complete: %+v", info.Status)
			}
		})
	}
}

// TestStatusReqParticipants: with Participants 0 only devices missing
// fragments answer; LoRaMac-node still misses some after a lossy success.
func TestStatusReqParticipants(t *testing.T) {
	for _, tc := range []struct {
		profile device.Profile
		answers bool
	}{{device.Spec, false}, {device.LoRaMacNode, true}} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: tc.profile})
			_, frags := r.session(0, 10, 50, 4, 1, nil)
			r.feed(0, frags, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
			if info, _ := r.dev.FragSession(0); !info.Done {
				t.Fatal("not complete")
			}
			must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionStatusReq{}))
			r.run(20 * time.Second)
			if n := len(statusAnswers(r.take(fragmentation.DefaultFPort))); (n == 1) != tc.answers {
				t.Fatalf("%d answers, want answering %v", n, tc.answers)
			}
		})
	}
}

// TestFragDataBlockReceivedRetries: v2 devices repeat the completion report
// until it is answered, each stack its own way.
func TestFragDataBlockReceivedRetries(t *testing.T) {
	for _, tc := range []struct {
		profile device.Profile
		// sent in the minute after completion, unanswered
		want     int
		interval time.Duration // between repeats, 0 if random
	}{
		{device.Spec, 3, 0},
		{device.LoRaBasicsModem, 3, 0},
		{device.STM32CubeWL, 0, 1500 * time.Millisecond},
	} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			r := newRig(t, rigOptions{profile: tc.profile})
			_, frags := r.session(0, 10, 50, 0, 1, nil)
			r.feed(0, frags, seq(1, 10)...)
			r.run(time.Minute)
			ups := r.take(fragmentation.DefaultFPort)
			switch {
			case tc.want > 0 && len(ups) != tc.want:
				t.Fatalf("%d FragDataBlockReceivedReq in a minute, want %d", len(ups), tc.want)
			case tc.interval > 0:
				// the first after the BlockAckDelay wait, then every interval
				if len(ups) < 25 {
					t.Fatalf("%d FragDataBlockReceivedReq in a minute, want one every %v", len(ups), tc.interval)
				}
				for i := 1; i < len(ups); i++ {
					if d := ups[i].at.Sub(ups[i-1].at); d != tc.interval {
						t.Fatalf("repeat %d after %v, want %v", i, d, tc.interval)
					}
				}
			}
			for _, u := range ups {
				if hex.EncodeToString(u.payload) != "0400" {
					t.Fatalf("uplink %x, want 0400", u.payload)
				}
			}
			must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragDataBlockReceivedAns{}))
			r.run(time.Minute)
			if ups := r.take(fragmentation.DefaultFPort); len(ups) != 0 {
				t.Fatalf("%d FragDataBlockReceivedReq after the answer", len(ups))
			}
		})
	}
}

// TestEraseMakesDeviceLate: erasing the staging slot at setup takes flash
// time; the device hears nothing meanwhile, so it can be late for SessionTime
// and lose the first fragments.
func TestEraseMakesDeviceLate(t *testing.T) {
	r := newRig(t, rigOptions{layout: boot.ExternalSwap, part: boot.PartNRF52840})
	r.setupGroup(0)
	g := r.gpsNow() + 3
	start := clocksync.FromGPSSeconds(g)
	must(t, r.down(multicast.DefaultFPort, sessionReqC(0, uint32(g))))
	r.answers(multicast.DefaultFPort, time.Second)
	r.clk.RunUntil(start.Add(-20 * time.Millisecond))
	req, _ := r.setupReq(make([]byte, 3000), 0, 50, 1)
	must(t, r.down(fragmentation.DefaultFPort, req))
	info, ok := r.dev.FragSession(0)
	if !ok || info.EraseTime < 100*time.Millisecond {
		t.Fatalf("erase took %v", info.EraseTime)
	}
	done := r.clk.Now().Add(info.EraseTime)
	if r.dev.Listening(mcFreq, mcDR, start) {
		t.Fatal("listening at SessionTime while erasing")
	}
	if !r.dev.Listening(mcFreq, mcDR, done) {
		t.Fatal("not listening once the erase is done")
	}
	r.clk.RunUntil(start)
	if err := r.mcDown(mcAddr, fragmentation.DefaultFPort, frag(0, 1, make([]byte, 50))); !errors.Is(err, device.ErrDropped) {
		t.Fatalf("fragment during the erase: %v", err)
	}
	if got := r.dev.Stats().DroppedBusy; got != 1 {
		t.Fatalf("DroppedBusy %d", got)
	}
	// The setup answer goes out when the erase is done.
	r.run(time.Second)
	ups := r.take(fragmentation.DefaultFPort)
	if len(ups) != 1 || !ups[0].at.Equal(done) {
		t.Fatalf("setup answer %+v, want one at %v", ups, done)
	}
	r.clk.RunUntil(done)
	must(t, r.mcDown(mcAddr, fragmentation.DefaultFPort, frag(0, 2, make([]byte, 50))))
}

// TestLoRaMacNodeDecoder: LoRaMac-node's decoder order and its single
// decoder for every FragIndex.
func TestLoRaMacNodeDecoder(t *testing.T) {
	t.Run("out of order", func(t *testing.T) {
		r := newRig(t, rigOptions{profile: device.LoRaMacNode})
		_, frags := r.session(0, 10, 50, 12, 0, nil)
		r.feed(0, frags, 1, 2, 4)
		if err := r.down(fragmentation.DefaultFPort, frag(0, 3, frags[2])); !errors.Is(err, device.ErrDropped) {
			t.Fatalf("late fragment 3: %v, want dropped", err)
		}
		r.feed(0, frags, 11) // coded: from now on every uncoded one is dropped
		if err := r.down(fragmentation.DefaultFPort, frag(0, 5, frags[4])); !errors.Is(err, device.ErrDropped) {
			t.Fatalf("uncoded fragment after a coded one: %v, want dropped", err)
		}
		info, _ := r.dev.FragSession(0)
		if info.Status.Uncoded != 3 {
			t.Fatalf("decoder took %d uncoded fragments, want 3", info.Status.Uncoded)
		}
		r.feed(0, frags, seq(12, 22)...)
		if info, _ := r.dev.FragSession(0); !info.Done {
			t.Fatalf("not complete after 7 lost and 12 parity: %+v", info.Status)
		}
	})
	t.Run("one decoder", func(t *testing.T) {
		r := newRig(t, rigOptions{profile: device.LoRaMacNode})
		_, frags0 := r.session(0, 10, 50, 0, 0, nil)
		r.feed(0, frags0, 1, 2)
		_, frags1 := r.session(1, 8, 40, 0, 0, nil)
		if _, ok := r.dev.FragSession(0); ok {
			t.Fatal("session 0 survived a setup of FragIndex 1")
		}
		// A fragment of FragIndex 3 feeds the one decoder.
		r.feed(3, frags1, 1)
		must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionDeleteReq{FragIndex: 1}))
		if a := one[*fragmentation.FragSessionDeleteAns](r, fragmentation.DefaultFPort, time.Second); a.SessionDoesNotExist {
			t.Fatalf("DeleteAns %+v", a)
		}
		// Deleted, and still decoding.
		r.feed(1, frags1, seq(2, 8)...)
		info, ok := r.dev.FragSession(1)
		if !ok || info.Active || !info.Done {
			t.Fatalf("after delete: %+v", info)
		}
		must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionDeleteReq{FragIndex: 1}))
		if a := one[*fragmentation.FragSessionDeleteAns](r, fragmentation.DefaultFPort, time.Second); !a.SessionDoesNotExist {
			t.Fatalf("second DeleteAns %+v", a)
		}
	})
	t.Run("matrix error ends the session", func(t *testing.T) {
		r := newRig(t, rigOptions{profile: device.LoRaMacNode, tweak: func(c *device.Config) { c.MaxLost = 2 }})
		_, frags := r.session(0, 10, 50, 6, 0, nil)
		r.feed(0, frags, 1, 2, 6, 7, 8, 9, 10, 11) // 3, 4, 5 lost
		info, _ := r.dev.FragSession(0)
		v := r.dev.LastVerification()
		if !info.Done || !info.MatrixError || v == nil || v.Status != 1 || !strings.Contains(v.Reason, "MatrixError") {
			t.Fatalf("session %+v, verification %+v; want done with a MatrixError and a corrupt block", info, v)
		}
		// The sample still sends its 0x05 CRC uplink, of the corrupt file: a
		// server comparing it with the image's CRC sees the failure.
		if auth := one[*fragmentation.FragDataBlockAuthReq](r, fragmentation.DefaultFPort, 20*time.Second); auth.CRC32 != v.CRC32 {
			t.Fatalf("0x05 CRC32 %08x, want the staged block's %08x", auth.CRC32, v.CRC32)
		}
		must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionStatusReq{Participants: true}))
		ans := one[*fragmentation.FragSessionStatusAns](r, fragmentation.DefaultFPort, 20*time.Second)
		if !ans.NotEnoughMatrixMemory || ans.MissingFrag != 3 {
			t.Fatalf("StatusAns %+v", ans)
		}
	})
}

func TestFragSessionDelete(t *testing.T) {
	r := newRig(t, rigOptions{})
	must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionDeleteReq{FragIndex: 2}))
	if a := one[*fragmentation.FragSessionDeleteAns](r, fragmentation.DefaultFPort, time.Second); !a.SessionDoesNotExist || a.FragIndex != 2 {
		t.Fatalf("DeleteAns %+v", a)
	}
	_, frags := r.session(2, 10, 50, 0, 1, nil)
	must(t, r.down(fragmentation.DefaultFPort, &fragmentation.FragSessionDeleteReq{FragIndex: 2}))
	if a := one[*fragmentation.FragSessionDeleteAns](r, fragmentation.DefaultFPort, time.Second); a.SessionDoesNotExist {
		t.Fatalf("DeleteAns %+v", a)
	}
	if err := r.down(fragmentation.DefaultFPort, frag(2, 1, frags[0])); !errors.Is(err, device.ErrDropped) {
		t.Fatalf("fragment after delete: %v", err)
	}
	// A second session may not take the staging slot while one is running,
	// unless the device has one decoder for all.
	r.session(0, 10, 50, 0, 1, nil)
	req, _ := r.setupReq(make([]byte, 500), 1, 50, 1)
	must(t, r.down(fragmentation.DefaultFPort, req))
	if a := one[*fragmentation.FragSessionSetupAns](r, fragmentation.DefaultFPort, time.Second); !a.NotEnoughMemory {
		t.Fatalf("second concurrent session: %+v", a)
	}
}
