package clocksync

import (
	"math"
	"testing"
	"time"
)

func TestCorrection(t *testing.T) {
	at := func(gps uint64) time.Time { return FromGPSSeconds(gps) }
	tests := []struct {
		name       string
		deviceTime uint32
		received   time.Time
		want       int32
	}{
		{"in sync", 1_384_035_218, time.Unix(1_700_000_000, 0), 0},
		{"in sync, fraction ignored", 1_384_035_218, time.Unix(1_700_000_000, 999_000_000), 0},
		{"device late", 1_384_035_218 - 1024, time.Unix(1_700_000_000, 0), 1024},
		{"device early", 1_384_035_218 + 5, time.Unix(1_700_000_000, 0), -5},
		{"device still before the 2^32 wrap, server after", 0xffff_fff0, at(1<<32 + 5), 21},
		{"device already after the wrap, server before", 3, at(1<<32 - 2), -5},
		{"device never synchronised (GPS 0)", 0, time.Unix(1_700_000_000, 0), 1_384_035_218},
		{"half the range away", 0, at(1 << 31), math.MinInt32},
		{"just under half the range", 1, at(1 << 31), math.MaxInt32},
	}
	for _, tt := range tests {
		if got := Correction(tt.deviceTime, tt.received); got != tt.want {
			t.Errorf("%s: Correction = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestAnswer(t *testing.T) {
	rx := time.Unix(1_700_000_000, 0) // GPS 1 384 035 218
	tests := []struct {
		name string
		req  AppTimeReq
		want *AppTimeAns
	}{
		{"in sync, no answer asked", AppTimeReq{DeviceTime: 1_384_035_218, TokenReq: 4}, nil},
		{"in sync, answer required", AppTimeReq{DeviceTime: 1_384_035_218, TokenReq: 4, AnsRequired: true},
			&AppTimeAns{TimeCorrection: 0, TokenAns: 4}},
		{"one second late", AppTimeReq{DeviceTime: 1_384_035_217, TokenReq: 15},
			&AppTimeAns{TimeCorrection: 1, TokenAns: 15}},
		{"one second early", AppTimeReq{DeviceTime: 1_384_035_219},
			&AppTimeAns{TimeCorrection: -1, TokenAns: 0}},
	}
	for _, tt := range tests {
		got := Answer(&tt.req, rx)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: Answer = %+v, want %+v", tt.name, got, tt.want)
		}
		if must := MustAnswer(&tt.req, Correction(tt.req.DeviceTime, rx)); must != (tt.want != nil) {
			t.Errorf("%s: MustAnswer = %v", tt.name, must)
		}
	}
}

func TestReceiveTime(t *testing.T) {
	server := time.Date(2025, 3, 1, 12, 0, 3, 0, time.UTC)
	gw := time.Date(2025, 3, 1, 12, 0, 1, 0, time.UTC)
	gpsD := time.Duration(GPSSeconds(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)))*time.Second + 5*time.Millisecond
	var zeroD time.Duration
	var zeroT time.Time
	tests := []struct {
		name string
		gps  *time.Duration
		gw   *time.Time
		want time.Time
	}{
		{"GPS timestamp first", &gpsD, &gw, time.Date(2025, 3, 1, 12, 0, 0, 5_000_000, time.UTC)},
		{"gateway time without GPS", nil, &gw, gw},
		{"zero GPS timestamp is absent", &zeroD, &gw, gw},
		{"server time last", nil, nil, server},
		{"zero gateway time is absent", nil, &zeroT, server},
	}
	for _, tt := range tests {
		if got := ReceiveTime(tt.gps, tt.gw, server); !got.Equal(tt.want) {
			t.Errorf("%s: ReceiveTime = %v, want %v", tt.name, got, tt.want)
		}
	}
}
