package clocksync

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/brocaar/lorawan/gps"
)

// todayOffset is GPS − UTC since 2017-01-01. Update it, and the expectations that
// follow from it below, when a leap second is added to leapSeconds.
const todayOffset = 18

// TestWorkedExample is PROTOCOLS.md §3.3: Unix 1 700 000 000 is GPS 1 384 035 218,
// sent as 92 b3 7e 52.
func TestWorkedExample(t *testing.T) {
	tm := time.Unix(1_700_000_000, 0)
	if got := GPSSeconds(tm); got != 1_384_035_218 {
		t.Errorf("GPSSeconds = %d, want 1384035218", got)
	}
	s := SessionTime32(tm)
	if got := hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, s)); got != "92b37e52" {
		t.Errorf("SessionTime32 bytes = %s, want 92b37e52", got)
	}
	if got := FromGPSSeconds(1_384_035_218); !got.Equal(tm) {
		t.Errorf("FromGPSSeconds = %v, want %v", got, tm.UTC())
	}
}

// TestLeapSecondTable checks the table's shape, so that an appended entry cannot
// be out of order or off by a day, and pins today's offset.
func TestLeapSecondTable(t *testing.T) {
	for i, l := range leapSeconds {
		d := time.Unix(l, 0).UTC()
		if d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0 || d.Day() != 1 {
			t.Errorf("entry %d (%v) is not 00:00:00 on the first of a month", i, d)
		}
		if i > 0 && l <= leapSeconds[i-1] {
			t.Errorf("entry %d (%v) out of order", i, d)
		}
	}
	if len(leapSeconds) != todayOffset {
		t.Errorf("%d leap seconds, todayOffset says %d", len(leapSeconds), todayOffset)
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	if got := int64(GPSSeconds(now)) - (now.Unix() - gpsEpochUnix); got != todayOffset {
		t.Errorf("GPS − UTC = %d s, want %d", got, todayOffset)
	}
}

func TestGPSSeconds(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min, s, ns int) time.Time {
		return time.Date(y, m, d, h, min, s, ns, time.UTC)
	}
	tests := []struct {
		t    time.Time
		want uint64
	}{
		{utc(1980, 1, 6, 0, 0, 0, 0), 0},
		{utc(1980, 1, 6, 0, 0, 1, 999_999_999), 1}, // fractions are truncated
		{utc(1980, 1, 5, 23, 59, 59, 0), 0},        // before the epoch
		{time.Time{}, 0},
		{utc(1981, 6, 30, 23, 59, 59, 0), 362793600 - 1 - gpsEpochUnix},
		{utc(1981, 7, 1, 0, 0, 0, 0), 362793600 - gpsEpochUnix + 1},
		{utc(2016, 12, 31, 23, 59, 59, 0), 1483228800 - 1 - gpsEpochUnix + 17},
		{utc(2017, 1, 1, 0, 0, 0, 0), 1_167_264_018},
		{time.Date(2017, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), 1_167_264_018},
		{utc(2116, 2, 12, 6, 27, 58, 0), 1 << 32}, // SessionTime32 wraps here (no new leap second assumed)
	}
	for _, tt := range tests {
		if got := GPSSeconds(tt.t); got != tt.want {
			t.Errorf("GPSSeconds(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
	if got := SessionTime32(utc(2116, 2, 12, 6, 28, 3, 0)); got != 5 {
		t.Errorf("SessionTime32 after the wrap = %d, want 5", got)
	}
}

// TestGPSRoundTrip checks FromGPSSeconds inverts GPSSeconds across every leap
// second, and maps each leap second itself to the 23:59:59 before it.
func TestGPSRoundTrip(t *testing.T) {
	for i, l := range leapSeconds {
		leapGPS := uint64(l - gpsEpochUnix + int64(i)) // the inserted 23:59:60
		for s := leapGPS - 3; s <= leapGPS+3; s++ {
			tm := FromGPSSeconds(s)
			if s == leapGPS {
				if want := time.Unix(l-1, 0); !tm.Equal(want) {
					t.Errorf("leap second GPS %d -> %v, want %v", s, tm, want.UTC())
				}
				continue
			}
			if back := GPSSeconds(tm); back != s {
				t.Errorf("GPS %d -> %v -> %d", s, tm, back)
			}
		}
	}
	if got := FromGPSSeconds(0); !got.Equal(time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("FromGPSSeconds(0) = %v", got)
	}
}

// TestGPSAgainstBrocaar compares with brocaar/lorawan/gps, an independent table,
// around every leap second and at random whole seconds up to 2100.
func TestGPSAgainstBrocaar(t *testing.T) {
	var unix []int64
	for _, l := range leapSeconds {
		for d := int64(-3); d <= 3; d++ {
			unix = append(unix, l+d)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 10000 {
		unix = append(unix, gpsEpochUnix+rng.Int64N(end-gpsEpochUnix))
	}
	for _, u := range unix {
		tm := time.Unix(u, 0)
		want := uint64(gps.Time(tm).TimeSinceGPSEpoch() / time.Second)
		if got := GPSSeconds(tm); got != want {
			t.Fatalf("GPSSeconds(%v) = %d, brocaar %d", tm.UTC(), got, want)
		}
		s := want
		wantT := time.Time(gps.NewTimeFromTimeSinceGPSEpoch(time.Duration(s) * time.Second))
		if got := FromGPSSeconds(s); !got.Equal(wantT) {
			t.Fatalf("FromGPSSeconds(%d) = %v, brocaar %v", s, got, wantT.UTC())
		}
	}
	// The leap seconds themselves, which no Unix time reaches.
	for i, l := range leapSeconds {
		s := uint64(l - gpsEpochUnix + int64(i))
		wantT := time.Time(gps.NewTimeFromTimeSinceGPSEpoch(time.Duration(s) * time.Second))
		if got := FromGPSSeconds(s); !got.Equal(wantT) {
			t.Errorf("FromGPSSeconds(%d) = %v, brocaar %v", s, got, wantT.UTC())
		}
	}
}

func TestFromGPSDuration(t *testing.T) {
	d := 1_384_035_218*time.Second + 250*time.Millisecond
	want := time.Unix(1_700_000_000, 250_000_000)
	if got := fromGPSDuration(d); !got.Equal(want) {
		t.Errorf("fromGPSDuration(%v) = %v, want %v", d, got, want.UTC())
	}
}
