package clocksync

import "time"

// gpsEpochUnix is 1980-01-06T00:00:00Z, second 0 of GPS time, in Unix seconds.
const gpsEpochUnix = 315964800

// leapSeconds holds, for every leap second inserted since the GPS epoch, the Unix
// time of 00:00:00 UTC on the day after it, in order. GPS time counts every second
// and UTC does not count leap seconds, so from each of these instants on GPS − UTC
// is one second more; after the last one (2017-01-01) it is 18 s. This table is the
// only place in lorafuota that knows the leap-second count.
//
// To add a leap second announced in IERS Bulletin C (inserted as 23:59:60 UTC on
// day D): append the Unix time of 00:00:00 UTC on D+1, as printed by
// `date -u -d YYYY-MM-DD +%s` for D+1, with the date as a comment. Then update the
// tests that pin today's offset of 18 s (TestLeapSecondTable says which).
//
// It is never written; it is a variable only because Go has no constant arrays.
var leapSeconds = [...]int64{
	362793600,  // 1981-07-01
	394329600,  // 1982-07-01
	425865600,  // 1983-07-01
	489024000,  // 1985-07-01
	567993600,  // 1988-01-01
	631152000,  // 1990-01-01
	662688000,  // 1991-01-01
	709948800,  // 1992-07-01
	741484800,  // 1993-07-01
	773020800,  // 1994-07-01
	820454400,  // 1996-01-01
	867715200,  // 1997-07-01
	915148800,  // 1999-01-01
	1136073600, // 2006-01-01
	1230768000, // 2009-01-01
	1341100800, // 2012-07-01
	1435708800, // 2015-07-01
	1483228800, // 2017-01-01
}

// GPSSeconds returns t as whole seconds since the GPS epoch, leap seconds included,
// truncating any fraction. Times before the epoch give 0.
func GPSSeconds(t time.Time) uint64 {
	u := t.Unix()
	if u < gpsEpochUnix {
		return 0
	}
	var offset int64
	for _, l := range leapSeconds {
		if u >= l {
			offset++
		}
	}
	return uint64(u - gpsEpochUnix + offset)
}

// FromGPSSeconds returns the UTC time of GPS second s; it inverts GPSSeconds. Unix
// time cannot name a leap second (23:59:60), so the GPS second of a leap second
// maps to 23:59:59, like the second before it.
func FromGPSSeconds(s uint64) time.Time {
	g := int64(s)
	var offset int64
	for i, l := range leapSeconds {
		// The i earlier leap seconds put UTC second l−1 (23:59:59) at GPS
		// l−1−epoch+i; the leap second follows it and from there on the
		// offset includes this one.
		if g >= l-gpsEpochUnix+int64(i) {
			offset++
		}
	}
	return time.Unix(g+gpsEpochUnix-offset, 0).UTC()
}

// fromGPSDuration is FromGPSSeconds for a time since the GPS epoch with a
// fraction, as gateways timestamp uplinks.
func fromGPSDuration(d time.Duration) time.Time {
	return FromGPSSeconds(uint64(d / time.Second)).Add(d % time.Second)
}

// SessionTime32 returns t's GPS seconds mod 2^32, the form in which TS003 DeviceTime
// and the TS004/TS005 SessionTime travel. The value wraps in 2116.
func SessionTime32(t time.Time) uint32 {
	return uint32(GPSSeconds(t))
}
