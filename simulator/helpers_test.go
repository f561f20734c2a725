package simulator_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/events"
)

const apiKey = "test-key"

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rig is a network on a virtual clock, its API over bufconn and the
// integration events it published.
type rig struct {
	t   *testing.T
	net *simulator.Network
	clk *clock.Virtual
	ctx context.Context
	cc  *grpc.ClientConn

	mu     sync.Mutex
	events []events.Event
}

func newRig(t *testing.T, sc *simulator.Scenario, seed uint64) *rig {
	t.Helper()
	clk := clock.NewVirtual(epoch)
	opts := simulator.Options{Seed: seed, APIKeys: []string{apiKey}}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := simulator.New(sc, clk, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, net: n, clk: clk, ctx: ctx}
	n.Publisher().Subscribe(func(e events.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	})
	lis := bufconn.Listen(1 << 20)
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, lis) }()
	r.cc, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	n.Start(ctx)
	t.Cleanup(func() {
		r.cc.Close()
		cancel()
		<-done
		_ = n.Close(context.Background())
	})
	return r
}

// authed is a context carrying the API key.
func (r *rig) authed() context.Context {
	return metadata.AppendToOutgoingContext(r.ctx, "authorization", "Bearer "+apiKey)
}

func (r *rig) run(d time.Duration) { r.net.RunFor(r.ctx, d) }

// take returns and forgets the events of type typ.
func (r *rig) take(typ string) []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out, rest []events.Event
	for _, e := range r.events {
		if e.Type == typ {
			out = append(out, e)
		} else {
			rest = append(rest, e)
		}
	}
	r.events = rest
	return out
}

// enqueue queues cmds for a device through the API.
func (r *rig) enqueue(eui lorawan.EUI64, fport uint8, confirmed bool, cmds ...applayer.Command) {
	r.t.Helper()
	b, err := (&applayer.Package{Name: "test"}).Encode(cmds...)
	if err != nil {
		r.t.Fatal(err)
	}
	_, err = api.NewDeviceServiceClient(r.cc).Enqueue(r.authed(), &api.EnqueueDeviceQueueItemRequest{
		QueueItem: &api.DeviceQueueItem{DevEui: eui.String(), FPort: uint32(fport), Data: b, Confirmed: confirmed},
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) device(i int) *simulator.Device {
	r.t.Helper()
	ds := r.net.Devices()
	if i >= len(ds) {
		r.t.Fatalf("no device %d of %d", i, len(ds))
	}
	return ds[i]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
