package device

import (
	"time"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fwmanagement"
)

// asapDelay is how long after a reboot request "as soon as possible" is: long
// enough for the answers of the same frame to go out first.
const asapDelay = time.Second

// UpImageStatus returns the state of the staged image as DevUpgradeImageAns
// reports it, with the version it would install.
func (d *Device) UpImageStatus() (fwmanagement.UpImageStatus, uint32) {
	if d.upImage == nil {
		return fwmanagement.UpImageAbsent, 0
	}
	if d.upImage.Status != fwmanagement.UpImageValid {
		return d.upImage.Status, 0
	}
	return fwmanagement.UpImageValid, d.upImage.FWVersion
}

// RebootAt returns the simulation time of the programmed reboot.
func (d *Device) RebootAt() (time.Time, bool) {
	if d.reboot == nil {
		return time.Time{}, false
	}
	return d.rebootAt, true
}

// handleFirmware processes one TS006 command.
func (d *Device) handleFirmware(c applayer.Command, at time.Time) applayer.Command {
	switch c := c.(type) {
	case *fwmanagement.DevVersionReq:
		v, _ := d.Running()
		return &fwmanagement.DevVersionAns{FWVersion: FirmwareVersion(v), HWVersion: d.cfg.HWVersion}
	case *fwmanagement.DevRebootTimeReq:
		switch {
		case c.IsCancel():
			d.cancelReboot()
			return &fwmanagement.DevRebootTimeAns{RebootTime: fwmanagement.RebootTimeCancel}
		case c.IsASAP():
			d.programReboot(at.Add(asapDelay))
			return nil
		}
		now := d.dc.gps(at)
		t := unwrapGPS(c.RebootTime, now)
		if t <= now {
			return &fwmanagement.DevRebootTimeAns{RebootTime: fwmanagement.RebootFailed}
		}
		d.programReboot(d.dc.simTime(clocksync.FromGPSSeconds(t)))
		return &fwmanagement.DevRebootTimeAns{RebootTime: uint32(t - now)}
	case *fwmanagement.DevRebootCountdownReq:
		switch {
		case c.IsCancel():
			d.cancelReboot()
			return &fwmanagement.DevRebootCountdownAns{Countdown: fwmanagement.CountdownCancel}
		case c.IsASAP():
			d.programReboot(at.Add(asapDelay))
			return nil
		}
		d.programReboot(at.Add(d.dc.simDuration(time.Duration(c.Countdown) * time.Second)))
		return &fwmanagement.DevRebootCountdownAns{Countdown: c.Countdown}
	case *fwmanagement.DevUpgradeImageReq:
		st, v := d.UpImageStatus()
		return &fwmanagement.DevUpgradeImageAns{UpImageStatus: st, NextFirmwareVersion: v}
	case *fwmanagement.DevDeleteImageReq:
		st, v := d.UpImageStatus()
		switch {
		case st != fwmanagement.UpImageValid:
			return &fwmanagement.DevDeleteImageAns{ErrorNoValidImage: true}
		case v != c.FirmwareToDeleteVersion:
			return &fwmanagement.DevDeleteImageAns{ErrorInvalidVersion: true}
		}
		d.deleteImage()
		return &fwmanagement.DevDeleteImageAns{}
	}
	return nil
}

// programReboot replaces the programmed reboot with one at simulation time t.
func (d *Device) programReboot(t time.Time) {
	d.cancelReboot()
	d.rebootAt = t
	d.reboot = d.after(t.Sub(d.clk.Now()), d.rebootNow)
}

func (d *Device) cancelReboot() {
	if d.reboot != nil {
		d.reboot.Stop()
		d.reboot = nil
	}
}

// deleteImage forgets the staged image and erases the first sector of the
// staging slot, so that nothing can install it any more.
func (d *Device) deleteImage() {
	d.upImage = nil
	if st := d.cfg.Boot.Staging(); st != nil {
		if secs := st.Sectors(); len(secs) > 0 {
			// A failed erase leaves a valid image the bootloader could
			// still be asked to install, but the device no longer reports
			// or installs it: it is deleted as far as TS006 goes.
			_ = st.Erase(0, secs[0].Size)
		}
	}
}
