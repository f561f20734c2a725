package device

import (
	"time"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
)

// forcedResyncSpacing separates the AppTimeReq uplinks a ForceDeviceResync
// asks for: TS003 leaves it to the device, which sends them at its next
// uplink opportunities.
const forcedResyncSpacing = 10 * time.Second

// handleClockSync processes one TS003 command.
func (d *Device) handleClockSync(c applayer.Command, at time.Time) applayer.Command {
	switch c := c.(type) {
	case *clocksync.AppTimeAns:
		// Applied only if it answers the current token (LoRaMac-node's rule),
		// which also keeps a late duplicate from being applied twice.
		if d.dc.sync.Apply(c) {
			d.stats.ClockCorrections++
		}
	case *clocksync.DeviceAppTimePeriodicityReq:
		p, err := clocksync.ResyncPeriod(c.Period)
		if err != nil {
			return &clocksync.DeviceAppTimePeriodicityAns{NotSupported: true, DeviceTime: clocksync.SessionTime32(d.dc.now(at))}
		}
		d.appTimePeriod = p
		wait, _ := clocksync.ResyncDelay(c.Period, d.rngClock)
		d.armAppTime(wait)
		return &clocksync.DeviceAppTimePeriodicityAns{DeviceTime: clocksync.SessionTime32(d.dc.now(at))}
	case *clocksync.ForceDeviceResync:
		for i := range int(c.NbTransmissions) {
			d.sendAfter(d.delayFrom(at, time.Duration(i)*forcedResyncSpacing), clocksync.FPort, d.appTimeReq)
		}
	}
	return nil
}

// appTimeReq builds the AppTimeReq of the moment it is sent.
func (d *Device) appTimeReq() []applayer.Command {
	return []applayer.Command{d.dc.sync.Request(d.dc.local(d.clk.Now()), false)}
}

// armAppTime (re)starts the periodic AppTimeReq, the first after wait
// measured on the device's clock.
func (d *Device) armAppTime(wait time.Duration) {
	if d.appTimeTimer != nil {
		d.appTimeTimer.Stop()
	}
	d.appTimeTimer = d.after(d.dc.simDuration(wait), func() {
		d.uplink(clocksync.FPort, d.appTimeReq()...)
		d.armAppTime(d.appTimePeriod)
	})
}
