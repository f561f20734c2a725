package ns

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/clocksync"
)

// Class B timing, LoRaWAN 1.0.4 (TS001-1.0.4) §12 and RP002: beacons every
// 128 s of GPS time, a 2.12 s reserved interval after each, then 4096 slots
// of 30 ms in which a device with pingNb slots per beacon period listens
// every 4096/pingNb slots from its pseudo-random ping offset.
const (
	beaconPeriod   = 128 * time.Second
	beaconReserved = 2120 * time.Millisecond
	pingSlotLen    = 30 * time.Millisecond
	pingPeriodBase = 1 << 12
)

// pingOffset is the ping offset of a beacon period (LoRaWAN 1.0.4 §12.2):
// Rand = aes128_encrypt(16 × 0x00, Beacon_time | DevAddr | 8 × 0x00), with
// Beacon_time the beacon's GPS seconds mod 2^32 and both fields little
// endian; pingOffset = (Rand[0] + Rand[1]·256) mod pingPeriod. For a
// multicast group DevAddr is the McAddr.
func pingOffset(beaconTime uint32, addr lorawan.DevAddr, pingNb int) int {
	var b [16]byte
	binary.LittleEndian.PutUint32(b[0:4], beaconTime)
	// lorawan.DevAddr holds the address big endian, as it is printed.
	for i := range 4 {
		b[4+i] = addr[3-i]
	}
	c, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		panic(err) // unreachable: the key has a valid length
	}
	c.Encrypt(b[:], b[:])
	return (int(b[0]) + int(b[1])*256) % (pingPeriodBase / pingNb)
}

// nextPingSlotAfter returns the first ping slot of addr that starts strictly
// after after, both as durations since the GPS epoch. pingNb is the number
// of slots per beacon period, a power of two from 1 to 128.
func nextPingSlotAfter(after time.Duration, addr lorawan.DevAddr, pingNb int) (time.Duration, error) {
	if pingNb <= 0 || pingNb > 128 || pingNb&(pingNb-1) != 0 {
		return 0, fmt.Errorf("ping_nb %d: must be a power of two from 1 to 128", pingNb)
	}
	period := pingPeriodBase / pingNb
	beacon := after.Truncate(beaconPeriod)
	for {
		off := pingOffset(uint32(beacon/time.Second), addr, pingNb)
		for n := range pingNb {
			slot := beacon + beaconReserved + time.Duration(off+n*period)*pingSlotLen
			if slot > after {
				return slot, nil
			}
		}
		beacon += beaconPeriod
	}
}

// gpsTime returns t as a duration since the GPS epoch, leap seconds counted
// (clocksync holds the table), to the millisecond as ChirpStack stores it.
func gpsTime(t time.Time) time.Duration {
	d := time.Duration(clocksync.GPSSeconds(t))*time.Second + time.Duration(t.Nanosecond())
	return d.Truncate(time.Millisecond)
}

// fromGPSTime inverts gpsTime.
func fromGPSTime(d time.Duration) time.Time {
	return clocksync.FromGPSSeconds(uint64(d / time.Second)).Add(d % time.Second)
}

// PingSlotAfter returns the start of the first ping slot of addr strictly
// after t, for a ping-slot periodicity of 0 to 7: 2^(7−periodicity) slots
// per 128 s beacon period, each at the period's pseudo-random ping offset
// (LoRaWAN 1.0.4 §12.2). It is exported so that a simulated class B device
// listens in the very slots the network computes for it.
func PingSlotAfter(t time.Time, addr lorawan.DevAddr, periodicity int) (time.Time, error) {
	if periodicity < 0 || periodicity > 7 {
		return time.Time{}, fmt.Errorf("ns: ping-slot periodicity %d: must be 0 to 7", periodicity)
	}
	// Slots fall on whole milliseconds, so one strictly after t truncated
	// to the millisecond is strictly after t.
	slot, err := nextPingSlotAfter(gpsTime(t), addr, 1<<(7-periodicity))
	if err != nil {
		return time.Time{}, fmt.Errorf("ns: %w", err)
	}
	return fromGPSTime(slot), nil
}
