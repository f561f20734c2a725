package multicast

import (
	"errors"
	"fmt"

	"github.com/lorafuota/lorafuota/applayer"
)

// Session times are GPS seconds: SessionTime on the wire is the GPS second modulo
// 2^32 (uint32(gps)); durations and ends are kept in uint64 so that an end past
// the 2^32 wrap does not wrap with it.

// BeaconPeriod is the class B beacon period in seconds. A class B session lasts
// a whole number of beacon periods and, in v2, starts on a beacon boundary (GPS
// seconds multiple of 128; 2^32 is one too, so the wire value keeps alignment).
const BeaconPeriod = 128

var (
	// ErrSessionTooLong is wrapped when a duration needs a TimeOut above 15.
	ErrSessionTooLong = errors.New("session longer than TimeOut 15 allows")
	// ErrClockSkew is wrapped when a device's TimeToStart shows its clock is off.
	ErrClockSkew = errors.New("device clock out of sync")
)

// ClassCSessionLength returns the length of a class C session, 2^timeOut seconds.
func ClassCSessionLength(timeOut uint8) (uint64, error) {
	if err := applayer.CheckMax("McClassCSessionReq", "time_out", uint64(timeOut), MaxTimeOut); err != nil {
		return 0, err
	}
	return 1 << timeOut, nil
}

// ClassBSessionLength returns the length of a class B session, 2^timeOut beacon
// periods in seconds. TS005 v2 gives the unit; v1 does not say, and the device
// stacks use the v2 unit for both.
func ClassBSessionLength(timeOut uint8) (uint64, error) {
	if err := applayer.CheckMax("McClassBSessionReq", "time_out", uint64(timeOut), MaxTimeOut); err != nil {
		return 0, err
	}
	return BeaconPeriod << timeOut, nil
}

// ClassCSessionEnd returns the GPS second at which a class C session starting at
// sessionTime ends and the device may leave class C.
func ClassCSessionEnd(sessionTime uint64, timeOut uint8) (uint64, error) {
	n, err := ClassCSessionLength(timeOut)
	return sessionTime + n, err
}

// ClassBSessionEnd returns the GPS second at which a class B session starting at
// sessionTime ends.
func ClassBSessionEnd(sessionTime uint64, timeOut uint8) (uint64, error) {
	n, err := ClassBSessionLength(timeOut)
	return sessionTime + n, err
}

// ClassCTimeOut returns the smallest TimeOut whose class C session lasts at least
// seconds. The device pays for the whole window, so a larger code only costs
// energy.
func ClassCTimeOut(seconds uint64) (uint8, error) {
	return timeOutFor("class C", 1, seconds)
}

// ClassBTimeOut returns the smallest TimeOut whose class B session lasts at least
// seconds.
func ClassBTimeOut(seconds uint64) (uint8, error) {
	return timeOutFor("class B", BeaconPeriod, seconds)
}

func timeOutFor(class string, unit, seconds uint64) (uint8, error) {
	for t := uint8(0); t <= MaxTimeOut; t++ {
		if unit<<t >= seconds {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%s session of %d s: %w (max %d s)", class, seconds, ErrSessionTooLong, unit<<MaxTimeOut)
}

// AlignBeaconUp returns the first beacon boundary at or after the GPS second t.
func AlignBeaconUp(t uint64) uint64 { return (t + BeaconPeriod - 1) / BeaconPeriod * BeaconPeriod }

// AlignBeaconDown returns the last beacon boundary at or before the GPS second t.
func AlignBeaconDown(t uint64) uint64 { return t / BeaconPeriod * BeaconPeriod }

// ValidateClassBSessionTime refuses, for version 2, a class B SessionTime off the
// beacon grid, naming both neighbouring boundaries. Version 1 sets no such rule.
func ValidateClassBSessionTime(sessionTime uint32, version uint8) error {
	if version < 2 || sessionTime%BeaconPeriod == 0 {
		return nil
	}
	t := uint64(sessionTime)
	return &applayer.FieldError{Command: "McClassBSessionReq", Field: "session_time",
		Reason: fmt.Sprintf("%d is not a multiple of the %d s beacon period (v2): use %d or %d",
			sessionTime, BeaconPeriod, AlignBeaconDown(t), uint32(AlignBeaconUp(t)))}
}

// ExpectedTimeToStart returns the TimeToStart a device with a correct clock
// reports in a session answer that the network received at GPS second
// receivedAt: SessionTime − receivedAt, negative when the session has started.
// sessionTime is the wire value; the difference is taken modulo 2^32 so it stays
// right across the wrap.
func ExpectedTimeToStart(sessionTime uint32, receivedAt uint64) int64 {
	return int64(int32(sessionTime - uint32(receivedAt)))
}

// CheckTimeToStart compares the TimeToStart a device reported with
// ExpectedTimeToStart and returns the device clock's offset in seconds
// (positive: the device is ahead). It returns an error wrapping ErrClockSkew when
// the offset exceeds tolerance, or when the device answered the saturated value
// MaxTimeToStart (v2's sign of a clock out of sync) for a session that starts
// sooner; the offset is 0 when saturation hides it. The device computes
// TimeToStart before its uplink is received, so tolerance should cover the delay
// between the request's processing and the answer's reception.
func CheckTimeToStart(sessionTime uint32, receivedAt uint64, timeToStart, tolerance uint32) (int64, error) {
	expected := ExpectedTimeToStart(sessionTime, receivedAt)
	offset := expected - int64(timeToStart)
	if timeToStart == MaxTimeToStart {
		if expected+int64(tolerance) < MaxTimeToStart {
			return offset, fmt.Errorf("%w: TimeToStart saturated at %d s, %d s expected", ErrClockSkew, timeToStart, expected)
		}
		return 0, nil // the start is too far away for the field to show an offset
	}
	if offset > int64(tolerance) || -offset > int64(tolerance) {
		dir := "ahead"
		if offset < 0 {
			dir = "behind"
		}
		return offset, fmt.Errorf("%w: TimeToStart %d s, %d s expected: device clock %d s %s (tolerance %d s)",
			ErrClockSkew, timeToStart, expected, max(offset, -offset), dir, tolerance)
	}
	return offset, nil
}
