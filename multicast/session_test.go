package multicast

import (
	"errors"
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
)

func TestSessionEnd(t *testing.T) {
	tests := []struct {
		timeOut      uint8
		classC       uint64
		classB       uint64
		wantErrField string
	}{
		{0, gps2024B + 1, gps2024B + 128, ""},
		{5, gps2024B + 32, gps2024B + 128*32, ""},
		{12, gps2024B + 4096, gps2024B + 128*4096, ""},
		{15, gps2024B + 32768, gps2024B + 128*32768, ""},
		{16, 0, 0, "time_out"},
	}
	for _, tt := range tests {
		c, errC := ClassCSessionEnd(gps2024B, tt.timeOut)
		b, errB := ClassBSessionEnd(gps2024B, tt.timeOut)
		if tt.wantErrField != "" {
			var fe *applayer.FieldError
			if !errors.As(errC, &fe) || fe.Field != tt.wantErrField || !errors.As(errB, &fe) || fe.Field != tt.wantErrField {
				t.Errorf("TimeOut %d: errors %v, %v", tt.timeOut, errC, errB)
			}
			continue
		}
		if errC != nil || errB != nil || c != tt.classC || b != tt.classB {
			t.Errorf("TimeOut %d: class C end %d, %v; class B end %d, %v; want %d, %d", tt.timeOut, c, errC, b, errB, tt.classC, tt.classB)
		}
	}
	// The end is not taken modulo 2^32 with the wire SessionTime.
	if end, _ := ClassCSessionEnd(1<<32-1, 1); end != 1<<32+1 {
		t.Errorf("end across the 2^32 wrap = %d", end)
	}
}

func TestTimeOutFor(t *testing.T) {
	tests := []struct {
		seconds        uint64
		classC, classB uint8
		errC, errB     bool
	}{
		{0, 0, 0, false, false},
		{1, 0, 0, false, false},
		{2, 1, 0, false, false},
		{3, 2, 0, false, false},
		{128, 7, 0, false, false},
		{129, 8, 1, false, false},
		{3600, 12, 5, false, false},
		{32768, 15, 8, false, false},
		{32769, 0, 9, true, false},
		{128 << 15, 0, 15, true, false},
		{128<<15 + 1, 0, 0, true, true},
	}
	for _, tt := range tests {
		c, errC := ClassCTimeOut(tt.seconds)
		b, errB := ClassBTimeOut(tt.seconds)
		if (errC != nil) != tt.errC || (errC != nil && !errors.Is(errC, ErrSessionTooLong)) || (!tt.errC && c != tt.classC) {
			t.Errorf("ClassCTimeOut(%d) = %d, %v; want %d", tt.seconds, c, errC, tt.classC)
		}
		if (errB != nil) != tt.errB || (errB != nil && !errors.Is(errB, ErrSessionTooLong)) || (!tt.errB && b != tt.classB) {
			t.Errorf("ClassBTimeOut(%d) = %d, %v; want %d", tt.seconds, b, errB, tt.classB)
		}
		// The code found covers the duration, and the one below does not.
		if !tt.errC {
			if n, _ := ClassCSessionLength(c); n < tt.seconds || (c > 0 && n/2 >= tt.seconds) {
				t.Errorf("ClassCTimeOut(%d) = %d is not the smallest cover", tt.seconds, c)
			}
		}
	}
}

func TestBeaconAlignment(t *testing.T) {
	tests := []struct {
		t, down, up uint64
	}{
		{0, 0, 0},
		{1, 0, 128},
		{127, 0, 128},
		{128, 128, 128},
		{gps2024, gps2024B - 128, gps2024B},
		{gps2024B, gps2024B, gps2024B},
	}
	for _, tt := range tests {
		if d, u := AlignBeaconDown(tt.t), AlignBeaconUp(tt.t); d != tt.down || u != tt.up {
			t.Errorf("align %d = %d, %d; want %d, %d", tt.t, d, u, tt.down, tt.up)
		}
	}
	validate := []struct {
		sessionTime uint32
		version     uint8
		ok          bool
	}{
		{gps2024B, 2, true},
		{gps2024, 2, false},
		{gps2024, 1, true},
		{1<<32 - 128, 2, true},
		{1<<32 - 1, 2, false},
	}
	for _, tt := range validate {
		err := ValidateClassBSessionTime(tt.sessionTime, tt.version)
		var fe *applayer.FieldError
		if tt.ok != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Field != "session_time")) {
			t.Errorf("ValidateClassBSessionTime(%d, v%d) = %v", tt.sessionTime, tt.version, err)
		}
	}
}

func TestTimeToStart(t *testing.T) {
	tests := []struct {
		name        string
		sessionTime uint32
		receivedAt  uint64
		timeToStart uint32
		tolerance   uint32
		expected    int64
		offset      int64
		skew        bool
	}{
		{"in sync", gps2024B, gps2024B - 3600, 3600, 5, 3600, 0, false},
		{"answer delayed 3 s", gps2024B, gps2024B - 3600, 3603, 5, 3600, -3, false},
		{"device 30 s ahead", gps2024B, gps2024B - 3600, 3570, 5, 3600, 30, true},
		{"device 30 s behind", gps2024B, gps2024B - 3600, 3630, 5, 3600, -30, true},
		{"saturated", gps2024B, gps2024B - 3600, MaxTimeToStart, 5, 3600, 3600 - MaxTimeToStart, true},
		{"saturated far ahead", gps2024B, gps2024B - MaxTimeToStart - 100, MaxTimeToStart, 5, MaxTimeToStart + 100, 0, false},
		{"saturated legitimately", gps2024B, gps2024B - MaxTimeToStart, MaxTimeToStart, 5, MaxTimeToStart, 0, false},
		{"already started", gps2024B, gps2024B + 10, 0, 5, -10, -10, true},
		// The wire SessionTime wraps at 2^32; the server's clock does not.
		{"across the 2^32 wrap", 100, 1<<32 - 20, 120, 0, 120, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e := ExpectedTimeToStart(tt.sessionTime, tt.receivedAt); e != tt.expected {
				t.Errorf("ExpectedTimeToStart = %d, want %d", e, tt.expected)
			}
			off, err := CheckTimeToStart(tt.sessionTime, tt.receivedAt, tt.timeToStart, tt.tolerance)
			if off != tt.offset || (err != nil) != tt.skew || (err != nil && !errors.Is(err, ErrClockSkew)) {
				t.Errorf("CheckTimeToStart = %d, %v; want %d, skew %v", off, err, tt.offset, tt.skew)
			}
		})
	}
}
