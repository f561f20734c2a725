// Package inprocess connects the FUOTA server's ChirpStack client to a
// simulated network in the same process, over an in-memory gRPC connection,
// beside an embedded store: the demo and the tests use the very client they
// use against a real ChirpStack.
package inprocess

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/simulator"
)

// Connect serves n's ChirpStack API on an in-memory listener and dials it
// with apiKey. close stops the client and waits for the server to stop; ctx
// bounds the server too.
func Connect(ctx context.Context, n *simulator.Network, apiKey string) (client *integration.Client, close func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx, lis) }()
	client, err = integration.Dial(ctx, integration.ClientConfig{
		Address: "passthrough:///bufnet", APIKey: apiKey,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return lis.DialContext(ctx)
		})},
	})
	if err != nil {
		cancel()
		<-served
		return nil, nil, fmt.Errorf("inprocess: dial the simulated network: %w", err)
	}
	return client, func() {
		client.Close()
		cancel()
		<-served
	}, nil
}

// Field is a simulated network with the FUOTA server's client connected to
// it and an embedded store: what the demo and the tests run a campaign in.
type Field struct {
	Net    *simulator.Network
	Client *integration.Client
	Store  *store.Store

	disconnect func()
}

// Open builds the network of sc on clk and connects a client with apiKey.
// Close releases all three.
func Open(ctx context.Context, sc *simulator.Scenario, clk *clock.Virtual, opts simulator.Options, apiKey string) (*Field, error) {
	opts.APIKeys = append(opts.APIKeys, apiKey)
	n, err := simulator.New(sc, clk, opts)
	if err != nil {
		return nil, fmt.Errorf("inprocess: network: %w", err)
	}
	client, disconnect, err := Connect(ctx, n, apiKey)
	if err != nil {
		_ = n.Close(context.Background())
		return nil, err
	}
	st, err := store.Open(ctx, store.Config{Addr: store.Memory})
	if err != nil {
		disconnect()
		_ = n.Close(context.Background())
		return nil, fmt.Errorf("inprocess: store: %w", err)
	}
	return &Field{Net: n, Client: client, Store: st, disconnect: disconnect}, nil
}

// Close disconnects the client and closes the network and the store.
func (f *Field) Close() {
	f.disconnect()
	_ = f.Net.Close(context.Background())
	_ = f.Store.Close()
}
