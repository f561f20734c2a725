package ns

import (
	"fmt"
	"slices"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
)

// QueueItem is an item of a device queue (api.DeviceQueueItem).
type QueueItem struct {
	ID        string // UUID, what TxAckEvent and AckEvent call queue_item_id
	DevEUI    lorawan.EUI64
	CreatedAt time.Time
	Confirmed bool
	FPort     uint8
	Data      []byte // FRMPayload, plain unless IsEncrypted
	// IsPending is set from NextDownlink until the tx ack, and for a
	// confirmed item until ConfirmDownlink.
	IsPending bool
	// FCntDown is the downlink counter the item goes out with: given by
	// the client for an encrypted item, assigned by NextDownlink otherwise.
	FCntDown    uint32
	IsEncrypted bool
	ExpiresAt   *time.Time

	fCntSet bool // FCntDown is meaningful (ChirpStack's Option<i64>)
	sent    bool // a confirmed item's tx ack was OK: waiting for the device
}

// enqueueDevice adds qi to the device's queue, as storage/device_queue.rs
// enqueue_item, and returns its id.
func (s *Server) enqueueDevice(devEUI lorawan.EUI64, flush bool, qi *QueueItem) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[devEUI]
	if flush && dev != nil {
		dev.queue = slices.DeleteFunc(dev.queue, func(q *QueueItem) bool { return !q.IsPending })
	}
	if qi.FPort == 0 {
		return "", validation("FPort must be between 1 - 255")
	}
	if dev == nil {
		return "", foreignKey(devEUI.String(), "device_queue_item", "device_queue_item_dev_eui_fkey")
	}
	qi.ID = newUUID(s.rnd)
	qi.DevEUI = devEUI
	qi.CreatedAt = s.clk.Now()
	qi.fCntSet = qi.IsEncrypted
	if !qi.IsEncrypted {
		qi.FCntDown = 0
	}
	dev.queue = append(dev.queue, qi)
	s.log.Info("Device queue-item enqueued", "dev_eui", devEUI.String(), "id", qi.ID)
	return qi.ID, nil
}

// nextFCntDown is GetNextFCntDown: max(the session's next AFCntDown, the
// largest FCntDown in the queue + 1). Like ChirpStack, a queue without
// counters counts as 0, so the answer is at least 1.
func (d *deviceRec) nextFCntDown() uint32 {
	var top uint32
	for _, q := range d.queue {
		if q.fCntSet {
			top = max(top, q.FCntDown)
		}
	}
	return max(d.FCntDown, top+1)
}

// NextDownlink is the hook through which the radio side takes the next
// unicast downlink of a device, when the device's class lets it send one
// (an RX window after an uplink for class A, a ping slot for class B, any
// time for class C): that is the radio side's business, not this package's.
//
// It returns nil if the queue is empty or its head is pending. Expired
// items at the head are deleted first, each reported as an EXPIRED LogEvent.
// Otherwise the head is marked pending, gets the device's next FCntDown
// unless it is encrypted, and a copy of it is returned; more tells whether
// other items follow (the FPending bit). The radio side must answer with
// AckDownlink.
func (s *Server) NextDownlink(devEUI lorawan.EUI64) (item *QueueItem, more bool) {
	var evs []Event
	defer func() { s.dispatch(evs) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[devEUI]
	if dev == nil {
		return nil, false
	}
	now := s.clk.Now()
	for len(dev.queue) > 0 {
		h := dev.queue[0]
		if h.IsPending || h.ExpiresAt == nil || !now.After(*h.ExpiresAt) {
			break
		}
		dev.queue = dev.queue[1:]
		evs = append(evs, Event{
			Kind: EventLog, Time: now, DevEUI: devEUI, QueueItemID: h.ID,
			Level: integration.LogLevel_WARNING, Code: integration.LogCode_EXPIRED,
			Description: "Device queue-item discarded because it has expired",
			Context:     map[string]string{"queue_item_id": h.ID},
		})
	}
	if len(dev.queue) == 0 || dev.queue[0].IsPending {
		return nil, false
	}
	h := dev.queue[0]
	if !h.IsEncrypted {
		h.FCntDown, h.fCntSet = dev.FCntDown, true
	}
	h.IsPending = true
	c := *h
	c.Data = slices.Clone(h.Data)
	return &c, len(dev.queue) > 1
}

// findPending returns the device and the index of its pending item id.
func (s *Server) findPending(devEUI lorawan.EUI64, id string) (*deviceRec, int, error) {
	dev := s.devices[devEUI]
	if dev == nil {
		return nil, 0, notFound(devEUI.String())
	}
	i := slices.IndexFunc(dev.queue, func(q *QueueItem) bool { return q.ID == id })
	if i < 0 || !dev.queue[i].IsPending {
		return nil, 0, notFound(id)
	}
	return dev, i, nil
}

// AckDownlink reports the gateway's tx ack for an item NextDownlink handed
// out, as ChirpStack's tx_ack.rs handles it. On OK the device's FCntDown
// moves past the item's, a TxAckEvent is raised, and an unconfirmed item is
// deleted while a confirmed one stays pending for ConfirmDownlink. On any
// other status the item stays queued, no longer pending, and a LogEvent
// (ERROR, DOWNLINK_GATEWAY, the status as description) is raised.
func (s *Server) AckDownlink(devEUI lorawan.EUI64, id string, gatewayID lorawan.EUI64, st gw.TxAckStatus) error {
	var evs []Event
	defer func() { s.dispatch(evs) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	dev, i, err := s.findPending(devEUI, id)
	if err != nil {
		return fmt.Errorf("ack downlink: %w", err)
	}
	q := dev.queue[i]
	now := s.clk.Now()
	if st != gw.TxAckStatus_OK {
		q.IsPending = false
		if !q.IsEncrypted {
			q.FCntDown, q.fCntSet = 0, false
		}
		evs = append(evs, Event{
			Kind: EventLog, Time: now, DevEUI: devEUI, QueueItemID: id, GatewayID: gatewayID,
			Level: integration.LogLevel_ERROR, Code: integration.LogCode_DOWNLINK_GATEWAY,
			Description: st.String(),
			Context:     map[string]string{"queue_item_id": id},
		})
		return nil
	}
	dev.FCntDown = max(dev.FCntDown, q.FCntDown+1)
	evs = append(evs, Event{
		Kind: EventTxAck, Time: now, DevEUI: devEUI, QueueItemID: id,
		FCnt: q.FCntDown, GatewayID: gatewayID, Status: st,
	})
	if q.Confirmed {
		q.sent = true
	} else {
		dev.queue = slices.Delete(dev.queue, i, i+1)
	}
	return nil
}

// ConfirmDownlink settles the confirmed item the device was sent: the radio
// side calls it with the ACK bit of the device's next uplink, or with false
// when it gives up waiting. The item is deleted and an AckEvent raised.
func (s *Server) ConfirmDownlink(devEUI lorawan.EUI64, acknowledged bool) error {
	var evs []Event
	defer func() { s.dispatch(evs) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[devEUI]
	if dev == nil {
		return fmt.Errorf("confirm downlink: %w", notFound(devEUI.String()))
	}
	i := slices.IndexFunc(dev.queue, func(q *QueueItem) bool { return q.IsPending && q.sent })
	if i < 0 {
		return fmt.Errorf("confirm downlink of %s: no confirmed item awaits an answer: %w", devEUI, ErrNotFound)
	}
	q := dev.queue[i]
	dev.queue = slices.Delete(dev.queue, i, i+1)
	evs = append(evs, Event{
		Kind: EventAck, Time: s.clk.Now(), DevEUI: devEUI, QueueItemID: q.ID,
		FCnt: q.FCntDown, Acknowledged: acknowledged,
	})
	return nil
}
