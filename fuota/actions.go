package fuota

import (
	"time"

	"github.com/brocaar/lorawan"
)

// Action is something the runner must do for the deployment. Actions that carry
// an ActionID expect a Result event with that id.
type Action interface{ action() }

// GetDeviceKeys reads a device's root keys from the network server.
type GetDeviceKeys struct {
	ActionID uint64
	DevEUI   lorawan.EUI64
}

// NextSessionCnt asks the store for a TS004 v2 SessionCnt for (DevEUI,
// FragIndex) greater than every one handed out before, persisted before it is
// returned, so that a SessionCnt is never reused (even across restarts).
type NextSessionCnt struct {
	ActionID  uint64
	DevEUI    lorawan.EUI64
	FragIndex uint8
}

// AllocateMcAddr asks for a multicast address inside the tenant's DevAddr prefix.
type AllocateMcAddr struct {
	ActionID uint64
	// Lane is the multicast group of the campaign it is for (0 for the
	// first); each lane has an address of its own.
	Lane int
}

// EnqueueUnicast queues a downlink for one device.
type EnqueueUnicast struct {
	DevEUI lorawan.EUI64
	FPort  uint8
	Data   []byte
}

// CreateMulticastGroup creates the class C multicast group in the network
// server; its Result carries the group id used by the group actions.
type CreateMulticastGroup struct {
	ActionID    uint64
	McAddr      lorawan.DevAddr
	McAppSKey   lorawan.AES128Key
	McNwkSKey   lorawan.AES128Key
	DR          int
	FrequencyHz uint32
	// Class is "C" or "B"; PingSlotPeriodicity (0..7) is for class B.
	Class               string
	PingSlotPeriodicity uint8
	// Lane is which of the campaign's groups this is (0 for the first).
	Lane int
}

// AddDevice adds a device to the multicast group; a Result answers it.
type AddDevice struct {
	ActionID uint64
	GroupID  string
	DevEUI   lorawan.EUI64
}

// AddGateway adds a gateway to the multicast group; a Result answers it.
// ChirpStack sends a group's frames through its gateways, so the pacer waits
// for them.
type AddGateway struct {
	ActionID  uint64
	GroupID   string
	GatewayID string
}

// FlushQueue empties a device's queue in the network server. No Result is
// expected.
type FlushQueue struct {
	DevEUI lorawan.EUI64
}

// ReleaseMcAddr gives back an address AllocateMcAddr handed out, once its
// group is gone. No Result is expected.
type ReleaseMcAddr struct {
	Lane   int
	McAddr lorawan.DevAddr
}

// EnqueueMulticast queues one DataFragment frame on the group. It is issued at
// the instant the pacer allows the frame on air; ExpiresAt is the class C
// session end, after which no device listens.
type EnqueueMulticast struct {
	ActionID  uint64
	GroupID   string
	FPort     uint8
	Data      []byte
	ExpiresAt time.Time
}

// DeleteMulticastGroup deletes the group in the network server. It is issued
// only once the session has ended or, on cancel, once the last queued fragment
// has been sent (chirpstack/chirpstack#1029).
type DeleteMulticastGroup struct {
	GroupID string
}

// SetTimer asks for a Timer event with ID at At. A timer that is no longer
// wanted is simply ignored when it fires.
type SetTimer struct {
	ID string
	At time.Time
}

// Log records something worth telling a person; DevEUI is zero for the
// deployment as a whole.
type Log struct {
	DevEUI lorawan.EUI64
	Msg    string
}

// Verdict is a device's final outcome, issued once.
type Verdict struct {
	DevEUI  lorawan.EUI64
	Outcome Outcome
	// Step is where a failed or cancelled device stopped.
	Step Step
	// Reason says why, for people.
	Reason string
	// FirmwareVersion is the version the device runs after an update.
	FirmwareVersion uint32
}

func (GetDeviceKeys) action()        {}
func (NextSessionCnt) action()       {}
func (AllocateMcAddr) action()       {}
func (ReleaseMcAddr) action()        {}
func (FlushQueue) action()           {}
func (EnqueueUnicast) action()       {}
func (CreateMulticastGroup) action() {}
func (AddDevice) action()            {}
func (AddGateway) action()           {}
func (EnqueueMulticast) action()     {}
func (DeleteMulticastGroup) action() {}
func (SetTimer) action()             {}
func (Log) action()                  {}
func (Verdict) action()              {}
