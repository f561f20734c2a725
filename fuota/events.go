package fuota

import (
	"time"

	"github.com/brocaar/lorawan"
)

// Event is something that happened, fed to Deployment.Step.
type Event interface{ event() }

// Start begins the deployment.
type Start struct{}

// Cancel stops the deployment: nothing more is multicast, pending reboots are
// cancelled, sessions and the group are deleted.
type Cancel struct {
	Reason string
}

// Uplink is a frame a managed device sent on one of the FUOTA ports.
type Uplink struct {
	DevEUI lorawan.EUI64
	FPort  uint8
	Data   []byte
	// ReceivedAt is the network server's reception time (gateway GPS time when
	// known, clocksync.ReceiveTime): TimeToStart and AppTimeReq are checked
	// against it, not against the time the event is processed.
	ReceivedAt time.Time
}

// Timer reports that a SetTimer action fell due.
type Timer struct {
	ID string
}

// Result reports the outcome of an action that carries an ActionID. Only the
// fields of the action's kind are read.
type Result struct {
	ActionID uint64
	// Err is the failure of the action, if any.
	Err error
	// Keys answers GetDeviceKeys.
	Keys DeviceKeys
	// SessionCnt answers NextSessionCnt.
	SessionCnt uint16
	// McAddr answers AllocateMcAddr.
	McAddr lorawan.DevAddr
	// GroupID answers CreateMulticastGroup: the network server's group id.
	GroupID string
}

// DeviceKeys are the root keys the network server holds for a device.
// GenAppKey is set only for LoRaWAN 1.0.x devices, AppKey for 1.1 devices
// (ChirpStack keeps a 1.0.x AppKey in NwkKey, CHIRPSTACK.md §1.2).
type DeviceKeys struct {
	AppKey    lorawan.AES128Key
	NwkKey    lorawan.AES128Key
	GenAppKey lorawan.AES128Key
}

// Refused reports that a gateway refused a unicast to the device (ChirpStack's
// DOWNLINK_GATEWAY log event, with the tx ack status). ChirpStack keeps the
// item queued and tries it again at every scheduler run, each try another
// refusal, while the band is full of traffic the engine cannot see (the
// network server's own MAC downlinks): the engine takes the item back and
// holds its outbox for a while.
type Refused struct {
	DevEUI lorawan.EUI64
	Status string
	At     time.Time
}

func (Refused) event() {}
func (Start) event()   {}
func (Cancel) event()  {}
func (Uplink) event()  {}
func (Timer) event()   {}
func (Result) event()  {}
