package integration

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"github.com/chirpstack/chirpstack/api/go/v4/common"
)

// Device is what ChirpStack says of a device that matters for FUOTA.
type Device struct {
	DevEUI          lorawan.EUI64
	Name            string
	ApplicationID   string
	DeviceProfileID string
	Tags            map[string]string
	// ClassEnabled is the class the device runs in now: "A", "B" or "C"
	// (ChirpStack's class_enabled; Get only, empty from ListDevices).
	ClassEnabled string
	// LastSeenAt is when the network last heard the device; zero if never.
	LastSeenAt time.Time
}

// DeviceFilter selects the devices of one application for ListDevices.
type DeviceFilter struct {
	// ApplicationID is required: ChirpStack lists one application's
	// devices.
	ApplicationID string
	// DeviceProfileID, if set, keeps the devices of that profile.
	DeviceProfileID string
	// Tags keeps the devices that carry every tag with that value.
	Tags map[string]string
}

// listPage is how many devices one List call asks for.
const listPage = 100

// maxListed bounds what ListDevices reads, so that a ChirpStack answering
// with an ever-growing total cannot keep it looping.
const maxListed = 1_000_000

// ListDevices returns every device f selects, in ChirpStack's order (by
// name), reading the list a page at a time.
func (c *Client) ListDevices(ctx context.Context, f DeviceFilter) ([]Device, error) {
	if f.ApplicationID == "" {
		return nil, fmt.Errorf("chirpstack: list devices: no application id")
	}
	var out []Device
	for offset := uint32(0); ; {
		resp, err := c.Devices.List(ctx, &api.ListDevicesRequest{
			ApplicationId: f.ApplicationID, DeviceProfileId: f.DeviceProfileID, Tags: f.Tags,
			Limit: listPage, Offset: offset,
		})
		if err != nil {
			return nil, fmt.Errorf("chirpstack: list devices of application %s from %d: %w", f.ApplicationID, offset, err)
		}
		for _, it := range resp.GetResult() {
			d := Device{
				Name: it.GetName(), ApplicationID: f.ApplicationID, DeviceProfileID: it.GetDeviceProfileId(),
				Tags: maps.Clone(it.GetTags()),
			}
			if err := d.DevEUI.UnmarshalText([]byte(it.GetDevEui())); err != nil {
				return nil, fmt.Errorf("chirpstack: list devices of application %s: dev_eui %q: %w", f.ApplicationID, it.GetDevEui(), err)
			}
			if t := it.GetLastSeenAt(); t != nil {
				d.LastSeenAt = t.AsTime()
			}
			out = append(out, d)
		}
		n := uint32(len(resp.GetResult()))
		offset += n
		if n == 0 || offset >= resp.GetTotalCount() || len(out) >= maxListed {
			return out, nil
		}
	}
}

// GetDevice returns what ChirpStack says of one device.
func (c *Client) GetDevice(ctx context.Context, devEUI lorawan.EUI64) (Device, error) {
	resp, err := c.Devices.Get(ctx, &api.GetDeviceRequest{DevEui: devEUI.String()})
	if err != nil {
		return Device{}, fmt.Errorf("chirpstack: get device %s: %w", devEUI, err)
	}
	dev := resp.GetDevice()
	d := Device{
		DevEUI: devEUI, Name: dev.GetName(), ApplicationID: dev.GetApplicationId(),
		DeviceProfileID: dev.GetDeviceProfileId(), Tags: maps.Clone(dev.GetTags()),
	}
	switch resp.GetClassEnabled() {
	case common.DeviceClass_CLASS_A:
		d.ClassEnabled = "A"
	case common.DeviceClass_CLASS_B:
		d.ClassEnabled = "B"
	case common.DeviceClass_CLASS_C:
		d.ClassEnabled = "C"
	}
	if t := resp.GetLastSeenAt(); t != nil {
		d.LastSeenAt = t.AsTime()
	}
	return d, nil
}
