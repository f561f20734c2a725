package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"

	"github.com/lorafuota/lorafuota/simulator/ns"
)

// Network is a set of gateways behind one network server: the
// ns.Transmitter of the simulated ChirpStack.
type Network struct {
	mu  sync.Mutex
	gws map[lorawan.EUI64]*Gateway
}

var _ ns.Transmitter = (*Network)(nil)

// NewNetwork returns a network of the given gateways.
func NewNetwork(gws ...*Gateway) (*Network, error) {
	n := &Network{gws: make(map[lorawan.EUI64]*Gateway)}
	for _, g := range gws {
		if err := n.Add(g); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Add connects a gateway to the network.
func (n *Network) Add(g *Gateway) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gws[g.ID()] != nil {
		return fmt.Errorf("gateway network: gateway %s added twice", g.ID())
	}
	n.gws[g.ID()] = g
	return nil
}

// Gateway returns the gateway with the id, or nil.
func (n *Network) Gateway(id lorawan.EUI64) *Gateway {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gws[id]
}

// Gateways returns the gateways in id order.
func (n *Network) Gateways() []*Gateway {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := slices.SortedFunc(maps.Keys(n.gws), func(a, b lorawan.EUI64) int { return slices.Compare(a[:], b[:]) })
	out := make([]*Gateway, len(ids))
	for i, id := range ids {
		out[i] = n.gws[id]
	}
	return out
}

// Transmit hands a multicast frame of the network server to its gateway and
// returns the gateway's tx ack. The gateway reads the DR in its own region,
// as ChirpStack's gateway configuration does. A gateway the network does not
// have, or a cancelled context, gives NoAck: no gateway answers.
func (n *Network) Transmit(ctx context.Context, d ns.Downlink) gw.TxAckStatus {
	if ctx.Err() != nil {
		return NoAck
	}
	g := n.Gateway(d.GatewayID)
	if g == nil {
		return NoAck
	}
	return g.Schedule(RequestOf(d))
}

// RequestOf maps a network-server downlink to a gateway request: a GPS time
// if it has one, else "immediately" (the power is the EIRP ChirpStack asks
// for).
func RequestOf(d ns.Downlink) TxRequest {
	tx := TxRequest{
		ID:         d.ID,
		Frequency:  d.Frequency,
		DR:         d.DR,
		PowerDBm:   d.PowerDBm,
		PHYPayload: d.PHYPayload,
		Timing:     Immediately,
	}
	if d.TimeSinceGPSEpoch != nil {
		tx.Timing, tx.At = AtGPSTime, d.EmitAt
	}
	return tx
}
