package events

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/simulator/ns"
)

// ErrNoCounterpart is returned by FromNS for an ns.Event ChirpStack raises no
// integration event for: those of multicast groups.
var ErrNoCounterpart = errors.New("no ChirpStack integration event")

// DeviceInfoFunc returns the DeviceInfo of a device (tenant, application,
// profile, name, class, tags), as ChirpStack puts it in every event, and
// false for a device it does not know.
type DeviceInfoFunc func(devEUI lorawan.EUI64) (*integration.DeviceInfo, bool)

// FromNS converts an event of the simulated network server to the
// integration event ChirpStack publishes for it: EventTxAck to TxAckEvent,
// EventAck to AckEvent, EventLog to LogEvent, each with a copy of info. Events
// of multicast groups give ErrNoCounterpart.
//
// ns.Event carries no downlink id, tx info or uplink deduplication id, so
// TxAckEvent.DownlinkId, TxAckEvent.TxInfo and AckEvent.DeduplicationId stay
// unset.
func FromNS(e ns.Event, info *integration.DeviceInfo) (proto.Message, error) {
	if e.MulticastGroupID != "" || e.Kind == ns.EventMulticastTxAck {
		return nil, fmt.Errorf("%v event of multicast group %s: %w", e.Kind, e.MulticastGroupID, ErrNoCounterpart)
	}
	if info != nil {
		info = proto.CloneOf(info)
	}
	t := timestamppb.New(e.Time)
	switch e.Kind {
	case ns.EventTxAck:
		ev := &integration.TxAckEvent{
			Time:        t,
			DeviceInfo:  info,
			QueueItemId: e.QueueItemID,
			FCntDown:    e.FCnt,
		}
		if e.GatewayID != (lorawan.EUI64{}) {
			ev.GatewayId = e.GatewayID.String()
		}
		return ev, nil
	case ns.EventAck:
		return &integration.AckEvent{
			Time:         t,
			DeviceInfo:   info,
			QueueItemId:  e.QueueItemID,
			Acknowledged: e.Acknowledged,
			FCntDown:     e.FCnt,
		}, nil
	case ns.EventLog:
		return &integration.LogEvent{
			Time:        t,
			DeviceInfo:  info,
			Level:       e.Level,
			Code:        e.Code,
			Description: e.Description,
			Context:     maps.Clone(e.Context),
		}, nil
	}
	return nil, fmt.Errorf("ns event kind %v: %w", e.Kind, ErrNoCounterpart)
}

// NSSink publishes the events of a simulated network server (an
// ns.EventSink: pass it to ns.WithEventSink). Each event goes to the
// Publisher under the device's application, so in-process subscribers get it
// before the server's call returns.
type NSSink struct {
	pub  *Publisher
	info DeviceInfoFunc
	log  *slog.Logger
}

var _ ns.EventSink = (*NSSink)(nil)

// NewNSSink returns an NSSink publishing to p, with the DeviceInfo info
// looks up. A nil info gives events a DeviceInfo with the DevEUI only and no
// application.
func NewNSSink(p *Publisher, info DeviceInfoFunc) *NSSink {
	return &NSSink{pub: p, info: info, log: p.log}
}

// HandleEvent publishes e. What cannot be published — a multicast event, an
// unknown device, a closed publisher — is logged at debug or warning level
// and skipped: the server has no one to return an error to.
func (s *NSSink) HandleEvent(e ns.Event) {
	info := &integration.DeviceInfo{DevEui: e.DevEUI.String()}
	if s.info != nil && e.MulticastGroupID == "" {
		var ok bool
		if info, ok = s.info(e.DevEUI); !ok {
			s.log.Warn("integration event of unknown device not published", "event", e.Kind, "dev_eui", e.DevEUI.String())
			return
		}
	}
	msg, err := FromNS(e, info)
	if errors.Is(err, ErrNoCounterpart) {
		s.log.Debug("network-server event not published", "error", err)
		return
	}
	if err != nil {
		s.log.Warn("network-server event not published", "error", err)
		return
	}
	if err := s.pub.Publish(info.GetApplicationId(), e.DevEUI, msg); err != nil {
		s.log.Warn("network-server event not published", "event", e.Kind, "dev_eui", e.DevEUI.String(), "error", err)
	}
}
