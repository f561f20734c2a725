package clocksync

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lorafuota/lorafuota/applayer"
)

// DeviceClock is the TS003 state of a device: how far its clock has been corrected
// and the token of its next request. A simulated device uses it to build
// AppTimeReq and to apply AppTimeAns the way LoRaMac-node does. The zero value is a
// device that has never synchronised.
type DeviceClock struct {
	// Offset is added to the device's free-running local clock to give its idea of
	// the time; each applied AppTimeAns adds its TimeCorrection.
	Offset time.Duration
	// TokenReq is the token of the current request, 0..15.
	TokenReq uint8
}

// Now returns the device's idea of the time when its local clock reads local.
func (c *DeviceClock) Now(local time.Time) time.Time { return local.Add(c.Offset) }

// Request returns the AppTimeReq the device sends when its local clock reads
// local. It does not change the token: a request that gets no answer is repeated
// with the same one.
func (c *DeviceClock) Request(local time.Time, ansRequired bool) *AppTimeReq {
	return &AppTimeReq{
		DeviceTime:  SessionTime32(c.Now(local)),
		TokenReq:    c.TokenReq & maxToken,
		AnsRequired: ansRequired,
	}
}

// Apply applies ans if it answers the current request, that is if TokenAns equals
// TokenReq, and then moves TokenReq on (mod 16) so that a late duplicate of the
// same answer is not applied twice. It reports whether it applied ans.
func (c *DeviceClock) Apply(ans *AppTimeAns) bool {
	if ans.TokenAns != c.TokenReq&maxToken {
		return false
	}
	c.Offset += time.Duration(ans.TimeCorrection) * time.Second
	c.TokenReq = (c.TokenReq + 1) & maxToken
	return true
}

// ResyncJitter bounds the random shift a device adds to each periodic resync
// interval, so that devices set up together do not all send at once.
const ResyncJitter = 30 * time.Second

// ResyncPeriod returns the interval DeviceAppTimePeriodicityReq asks for:
// 128·2^period seconds, from about 2 minutes (0) to about 48 days (15).
func ResyncPeriod(period uint8) (time.Duration, error) {
	if err := applayer.CheckMax("DeviceAppTimePeriodicityReq", "period", uint64(period), maxPeriod); err != nil {
		return 0, err
	}
	return (128 << period) * time.Second, nil
}

// ResyncDelay returns how long a device waits before its next periodic
// AppTimeReq: ResyncPeriod(period) shifted by a uniform random jitter in
// [−ResyncJitter, +ResyncJitter] drawn from rng. The caller owns rng, so a
// simulation with a seeded source repeats exactly.
func ResyncDelay(period uint8, rng *rand.Rand) (time.Duration, error) {
	p, err := ResyncPeriod(period)
	if err != nil {
		return 0, fmt.Errorf("resync delay: %w", err)
	}
	jitter := time.Duration(rng.Int64N(int64(2*ResyncJitter)+1)) - ResyncJitter
	return p + jitter, nil
}
