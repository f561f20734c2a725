package ns

import (
	"crypto/aes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
)

// The expected slots are those of ChirpStack's own unit test of the same
// computation (chirpstack/src/downlink/classb.rs, test_get_next_ping_slot_after).
// The first is also checkable by hand: AES-128 of the zero block under the
// zero key is 66e94bd4…, so the ping offset of beacon 0 and DevAddr 0 is
// (0x66 + 0xe9·256) mod 4096 = 2406, and the slot 2.12 s + 2406·30 ms = 74.3 s.
func TestNextPingSlotAfter(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		after  time.Duration
		pingNb int
		want   time.Duration
	}{
		{0, 1, time.Minute + 14*time.Second + 300*ms},
		{2 * time.Minute, 1, 3*time.Minute + 5*time.Second + 620*ms},
		{0, 2, 12*time.Second + 860*ms},
		{13 * time.Second, 2, time.Minute + 14*time.Second + 300*ms},
		{124 * time.Second, 128, 2*time.Minute + 4*time.Second + 220*ms},
	}
	for _, tt := range tests {
		got, err := nextPingSlotAfter(tt.after, lorawan.DevAddr{}, tt.pingNb)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("nextPingSlotAfter(%v, 00000000, %d) = %v, want %v", tt.after, tt.pingNb, got, tt.want)
		}
	}
	for _, bad := range []int{0, 3, 256, -1} {
		if _, err := nextPingSlotAfter(0, lorawan.DevAddr{}, bad); err == nil {
			t.Errorf("pingNb %d accepted", bad)
		}
	}
}

func TestPingOffsetKnownAES(t *testing.T) {
	c, _ := aes.NewCipher(make([]byte, 16))
	var b [16]byte
	c.Encrypt(b[:], b[:])
	if got := hex.EncodeToString(b[:4]); got != "66e94bd4" {
		t.Fatalf("AES-128(0, 0) starts %s", got)
	}
	if got := pingOffset(0, lorawan.DevAddr{}, 1); got != 2406 {
		t.Errorf("pingOffset(0, 0, 1) = %d, want 2406", got)
	}
	// Every offset lies inside its ping period, for every pingNb.
	addr := lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}
	for k := range 8 {
		pingNb := 1 << k
		for beacon := uint32(0); beacon < 128*200; beacon += 128 {
			if off := pingOffset(beacon, addr, pingNb); off < 0 || off >= pingPeriodBase/pingNb {
				t.Fatalf("pingOffset(%d, %s, %d) = %d", beacon, addr, pingNb, off)
			}
		}
	}
}

func TestGPSTime(t *testing.T) {
	// 2026: GPS − UTC = 18 s; the GPS epoch is Unix 315964800.
	tm := time.Date(2026, 3, 2, 10, 0, 0, 123_456_789, time.UTC)
	want := time.Duration(tm.Unix()-315964800+18)*time.Second + 123*time.Millisecond
	if got := gpsTime(tm); got != want {
		t.Errorf("gpsTime = %v, want %v", got, want)
	}
	if back := fromGPSTime(want); !back.Equal(tm.Truncate(time.Millisecond)) {
		t.Errorf("fromGPSTime = %v, want %v", back, tm.Truncate(time.Millisecond))
	}
}

func TestParseUUID(t *testing.T) {
	canon := "0b9e6a7c-1f2d-4e3a-8b5c-6d7e8f901a2b"
	for _, in := range []string{canon, "0B9E6A7C-1F2D-4E3A-8B5C-6D7E8F901A2B", "0b9e6a7c1f2d4e3a8b5c6d7e8f901a2b",
		"{" + canon + "}", "urn:uuid:" + canon} {
		got, err := parseUUID(in)
		if err != nil || got != canon {
			t.Errorf("parseUUID(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "xyz", "0b9e6a7c-1f2d-4e3a-8b5c-6d7e8f901a2g", "0b9e6a7c_1f2d_4e3a_8b5c_6d7e8f901a2b"} {
		if _, err := parseUUID(in); err == nil {
			t.Errorf("parseUUID(%q) succeeded", in)
		}
	}
}

func TestPingSlotAfter(t *testing.T) {
	addr := lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		periodicity int
		wantErr     bool
	}{
		{0, false}, {3, false}, {7, false}, {-1, true}, {8, true},
	}
	for _, tt := range tests {
		slot, err := PingSlotAfter(start, addr, tt.periodicity)
		if (err != nil) != tt.wantErr {
			t.Fatalf("periodicity %d: err = %v", tt.periodicity, err)
		}
		if err != nil {
			continue
		}
		if !slot.After(start) {
			t.Errorf("periodicity %d: slot %v not after %v", tt.periodicity, slot, start)
		}
		want, _ := nextPingSlotAfter(gpsTime(start), addr, 1<<(7-tt.periodicity))
		if got := gpsTime(slot); got != want {
			t.Errorf("periodicity %d: slot at GPS %v, want %v", tt.periodicity, got, want)
		}
		// The next slot is one ping period later, within the beacon period.
		next, _ := PingSlotAfter(slot, addr, tt.periodicity)
		if d := next.Sub(slot); d != time.Duration(pingPeriodBase>>(7-tt.periodicity))*pingSlotLen && d < beaconReserved {
			t.Errorf("periodicity %d: next slot %v after", tt.periodicity, d)
		}
	}
}
