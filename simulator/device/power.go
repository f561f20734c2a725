package device

import (
	"fmt"
	"time"

	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

// maxBootsPerReset bounds the boots one power-on takes: a firmware that hangs
// or gives up resets the device, and the bootloader reverts it at the next
// boot, so two or three boots settle any update.
const maxBootsPerReset = 8

// BootReport is what the last power-on did: every boot and application run
// until the application ran on without resetting.
type BootReport struct {
	At   time.Time
	Boot []boot.Result
	Apps []boot.AppResult
	// Pending is the error of the request to install the staged image
	// (boot.SetPending) when a TS006 reboot had a valid one, nil otherwise.
	Pending error
	// Err is the error that stopped the device (no bootable image, a
	// flash error), nil if it runs.
	Err error
	// Busy is how long the boots took on flash (a swap erases and copies
	// the slots); the device hears nothing meanwhile.
	Busy time.Duration
}

// Running returns the version the device runs, if it booted.
func (r BootReport) Running() (image.Version, bool) {
	if r.Err != nil || len(r.Boot) == 0 {
		return image.Version{}, false
	}
	return r.Boot[len(r.Boot)-1].Version, true
}

// LastBoot returns the report of the last power-on.
func (d *Device) LastBoot() BootReport { return d.lastBoot }

// Running returns the version of the firmware the device runs, false if it
// is bricked.
func (d *Device) Running() (image.Version, bool) { return d.lastBoot.Running() }

// Reset power-cycles the device: what it held in RAM is lost (multicast
// groups and sessions, fragmentation sessions, the TS006 image status, the
// programmed reboot, pending uplinks); flash and its persistent counters
// stay. The clock keeps its TS003 corrections, as a real-time clock runs
// through a reset. It returns the report of the boots.
func (d *Device) Reset() BootReport {
	d.stats.Resets++
	d.powerOn()
	return d.lastBoot
}

func (d *Device) powerOn() {
	d.gen++
	for _, t := range []interface{ Stop() bool }{d.appTimeTimer, d.reboot} {
		if t != nil {
			t.Stop()
		}
	}
	for _, s := range d.frag {
		if s != nil {
			s.stopTimers()
		}
	}
	d.groups = [len(d.groups)]*mcGroup{}
	d.frag = [len(d.frag)]*fragSession{}
	d.upImage, d.appTimeTimer, d.reboot = nil, nil, nil
	d.bricked = nil
	d.sentUp = false

	now := d.clk.Now()
	rep := BootReport{At: now}
	before := d.busy()
	for range maxBootsPerReset {
		res, err := d.cfg.Boot.Boot()
		if err != nil {
			rep.Err = err
			break
		}
		rep.Boot = append(rep.Boot, res)
		app, err := d.cfg.Boot.RunApp(d.cfg.App)
		rep.Apps = append(rep.Apps, app)
		if err != nil {
			rep.Err = fmt.Errorf("device: application: %w", err)
			break
		}
		if app.Reset == boot.NoReset {
			break
		}
	}
	rep.Busy = d.busy() - before
	d.busyUntil = now.Add(rep.Busy)
	d.lastBoot = rep
	if rep.Err != nil {
		d.bricked = rep.Err
	} else {
		d.startPeriodic()
	}
	if d.cfg.OnBoot != nil {
		d.cfg.OnBoot(rep)
	}
}

// flashes returns the flash chips of the device's partitions.
func (d *Device) flashes() []*flash.Flash {
	cfg := d.cfg.Boot.Config()
	var out []*flash.Flash
	add := func(r *flash.Region) {
		if r == nil {
			return
		}
		for _, f := range out {
			if f == r.Flash() {
				return
			}
		}
		out = append(out, r.Flash())
	}
	add(cfg.Slots[0])
	add(cfg.Slots[1])
	add(cfg.Scratch)
	add(cfg.NVM)
	add(d.cfg.Scratch)
	return out
}

// busy is the total time the device's flash chips have spent on programs
// and erases.
func (d *Device) busy() time.Duration {
	var t time.Duration
	for _, f := range d.flashes() {
		t += f.Busy()
	}
	return t
}

// startPeriodic starts the application's uplinks and the TS003 resyncs.
func (d *Device) startPeriodic() {
	if iv := d.cfg.UplinkInterval; iv > 0 {
		// A random phase, so that devices powered on together spread out.
		first := time.Duration(d.rngUp.Int64N(int64(iv)))
		var tick func()
		n := byte(0)
		tick = func() {
			n++
			d.rawUplink(d.cfg.UplinkFPort, []byte{n})
			d.after(d.dc.simDuration(iv), tick)
		}
		d.after(d.dc.simDuration(first), tick)
	}
	d.appTimePeriod = d.cfg.AppTimePeriod
	if d.appTimePeriod > 0 {
		d.armAppTime(time.Duration(d.rngClock.Int64N(int64(d.appTimePeriod))))
	}
}

// rebootNow is the TS006 reboot: a valid staged image is requested for
// installation (on test, so that the bootloader reverts it unless the new
// firmware confirms itself), then the device resets.
func (d *Device) rebootNow() {
	var pendErr error
	if d.upImage != nil && d.upImage.Status == fwmanagement.UpImageValid {
		pendErr = d.cfg.Boot.SetPending(false)
	}
	d.Reset()
	d.lastBoot.Pending = pendErr
}
