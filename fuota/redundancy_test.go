package fuota

import (
	"math"
	"testing"
)

// TestSizeRedundancyRadioTable reproduces shared/RADIO.md §9.1: M = 1097
// (256 KiB at EU868 DR5), δ = 7, one device at 99 % and 1000 devices all at 99 %
// (per device 1 − 0.01/1000, the union bound).
func TestSizeRedundancyRadioTable(t *testing.T) {
	tests := []struct {
		loss          float64
		one, thousand int // N_tx = M + R
	}{
		{0.01, 1124, 1132},
		{0.05, 1181, 1199},
		{0.10, 1255, 1280},
		{0.20, 1424, 1463},
	}
	const m = 1097
	for _, tt := range tests {
		for _, c := range []struct {
			devices int
			want    int
		}{{1, tt.one}, {1000, tt.thousand}} {
			r, err := SizeRedundancy(m, tt.loss, 1-0.01/float64(c.devices), DecodeOverhead, 16383)
			if err != nil {
				t.Fatal(err)
			}
			if got := m + r; got != c.want {
				t.Errorf("loss %.0f %%, %d devices: N_tx %d, want %d", tt.loss*100, c.devices, got, c.want)
			}
		}
	}
}

func TestSizeRedundancyErrors(t *testing.T) {
	tests := []struct {
		name      string
		m         int
		loss, tgt float64
		limit     int
	}{
		{"no fragments", 0, 0.1, 0.99, 16383},
		{"loss 1", 100, 1, 0.99, 16383},
		{"negative loss", 100, -0.1, 0.99, 16383},
		{"target 1", 100, 0.1, 1, 16383},
		{"over the 14-bit limit", 16000, 0.2, 0.99, 16383},
	}
	for _, tt := range tests {
		if r, err := SizeRedundancy(tt.m, tt.loss, tt.tgt, DecodeOverhead, tt.limit); err == nil {
			t.Errorf("%s: got R = %d, want an error", tt.name, r)
		}
	}
	if r, err := SizeRedundancy(100, 0, 0.99, DecodeOverhead, 16383); err != nil || r != 0 {
		t.Errorf("no loss: R = %d, %v; want 0", r, err)
	}
}

func TestBinomialTail(t *testing.T) {
	tests := []struct {
		n, k int
		p    float64
		want float64
	}{
		{10, 0, 0.5, 1},
		{10, 11, 0.5, 0},
		{10, 10, 0.5, 1.0 / 1024},
		{10, 5, 0.5, 638.0 / 1024},
		{4, 2, 0.9, 0.9963},
	}
	for _, tt := range tests {
		if got := binomialTail(tt.n, tt.k, tt.p); math.Abs(got-tt.want) > 1e-4 {
			t.Errorf("P[Bin(%d, %v) ≥ %d] = %v, want %v", tt.n, tt.p, tt.k, got, tt.want)
		}
	}
}

func TestDecodeOverheadFor(t *testing.T) {
	tests := []struct {
		failure float64
		want    int
	}{
		{0.25, 2},
		{0.01, 7},
		{1e-5, 17},
		{0, DecodeOverhead},
		{1, DecodeOverhead},
	}
	for _, tt := range tests {
		if got := DecodeOverheadFor(tt.failure); got != tt.want {
			t.Errorf("DecodeOverheadFor(%v) = %d, want %d", tt.failure, got, tt.want)
		}
	}
}
