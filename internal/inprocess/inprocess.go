// Package inprocess connects the FUOTA server's ChirpStack client to a
// simulated network in the same process, over an in-memory gRPC connection:
// the demo and the tests use the very client they use against a real
// ChirpStack.
package inprocess

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

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
