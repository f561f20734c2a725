package simulator

import (
	"errors"
	"fmt"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// App is an end device's application layer as the simulated MAC layer
// drives it: it takes decrypted downlinks, says when it listens beyond the
// MAC's own receive windows (multicast sessions), and knows the multicast
// keys its TS005 setup gave it. Its uplinks go through the function it was
// built with. *DeviceApp adapts simulator/device.
type App interface {
	// HandleDownlink takes a received frame's decrypted FRMPayload; mc
	// names the multicast group, nil for unicast.
	HandleDownlink(fport uint8, payload []byte, mc *MulticastRef, at time.Time) error
	// Listening reports whether the application keeps the receiver open
	// on freq and dr at at, beyond the MAC's class A/C windows.
	Listening(freq uint32, dr int, at time.Time) bool
	// MulticastSession returns the keys of the multicast group at addr.
	MulticastSession(addr lorawan.DevAddr) (MulticastKeys, bool)
}

// MulticastRef names the multicast group a downlink was addressed to.
type MulticastRef struct {
	Addr lorawan.DevAddr
	FCnt uint32
}

// MulticastKeys are the session keys of a multicast group a device holds.
type MulticastKeys struct {
	McAppSKey, McNwkSKey lorawan.AES128Key
	MinFCnt              uint32
}

// JoinNVM is implemented by an App that keeps the DevNonce in persistent
// memory, so that an OTAA device never repeats one, across resets too. Its
// MAC layer notices a reset by Boots moving on, and then rejoins. An App
// without it has its DevNonces counted by the MAC layer, which never
// resets.
type JoinNVM interface {
	// Boots counts the application's power-ons, the first included.
	Boots() int
	// NextDevNonce returns the DevNonce of the next JoinRequest, persisted
	// before it is returned.
	NextDevNonce() (uint16, error)
}

// DeviceApp adapts a simulator/device.Device to App and JoinNVM.
type DeviceApp struct {
	*device.Device
	boot *boot.Bootloader
}

// Boots implements JoinNVM.
func (a DeviceApp) Boots() int { return a.Stats().Resets + 1 }

// NextDevNonce implements JoinNVM with the bootloader's NVM, where the
// device's firmware keeps its DevNonce (nvm.Store.NextDevNonce). The
// firmware model of a boot draws one as well, so DevNonces skip one per
// boot; they never repeat.
func (a DeviceApp) NextDevNonce() (uint16, error) {
	if a.boot == nil || a.boot.NVM() == nil {
		return 0, errors.New("simulator: DevNonce: the device has no NVM open")
	}
	n, err := a.boot.NVM().NextDevNonce()
	if err != nil {
		return 0, fmt.Errorf("simulator: DevNonce: %w", err)
	}
	return n, nil
}

// HandleDownlink implements App.
func (a DeviceApp) HandleDownlink(fport uint8, payload []byte, mc *MulticastRef, at time.Time) error {
	var ref *device.McGroupRef
	if mc != nil {
		ref = &device.McGroupRef{Addr: mc.Addr, FCnt: mc.FCnt}
	}
	return a.Device.HandleDownlink(fport, payload, ref, at)
}

// MulticastSession implements App.
func (a DeviceApp) MulticastSession(addr lorawan.DevAddr) (MulticastKeys, bool) {
	// TS005 allows group ids 0..3.
	for id := range uint8(4) {
		g, ok := a.McGroup(id)
		if ok && g.Addr == addr {
			return MulticastKeys{McAppSKey: g.McAppSKey, McNwkSKey: g.McNwkSKey, MinFCnt: g.MinMcFCnt}, true
		}
	}
	return MulticastKeys{}, false
}
