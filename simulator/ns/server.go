package ns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc"

	"github.com/lorafuota/lorafuota/clock"
)

// Server is the simulated ChirpStack network server: its state (loaded with
// the Add methods, changed through the API), the API handlers, the multicast
// scheduler and the device-queue hooks for the radio side. Its methods are
// safe for concurrent use.
type Server struct {
	cfg    Config
	clk    clock.Clock
	tx     Transmitter
	events EventSink
	log    *slog.Logger

	mu       sync.Mutex
	rnd      *rand.Rand // guarded by mu: *rand.Rand is not safe for concurrent use
	seq      uint64     // last row sequence number handed out
	tenants  map[string]*tenantRec
	apps     map[string]*appRec
	profiles map[string]*profileRec
	devices  map[lorawan.EUI64]*deviceRec
	gateways map[lorawan.EUI64]*gatewayRec
	groups   map[string]*groupRec
	rows     []*mcRow // multicast queue rows in creation order
}

// New returns a Server with an empty state. Time comes from clk only.
func New(cfg Config, clk clock.Clock, opts ...Option) (*Server, error) {
	if clk == nil {
		return nil, errors.New("ns: nil clock")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ns: config: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		clk:      clk,
		tenants:  make(map[string]*tenantRec),
		apps:     make(map[string]*appRec),
		profiles: make(map[string]*profileRec),
		devices:  make(map[lorawan.EUI64]*deviceRec),
		gateways: make(map[lorawan.EUI64]*gatewayRec),
		groups:   make(map[string]*groupRec),
	}
	for _, o := range opts {
		o(s)
	}
	if s.rnd == nil {
		s.rnd = rand.New(rand.NewPCG(0x6e73, 0x6c6f7261)) // fixed: runs replay by default
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Server) Config() Config {
	c := s.cfg
	c.APIKeys = slices.Clone(c.APIKeys)
	return c
}

// RegisterGRPC registers the six ChirpStack services on g. The bearer-token
// check lives in interceptors, which a grpc.Server takes at creation: create
// g with ServerOptions.
func (s *Server) RegisterGRPC(g *grpc.Server) {
	api.RegisterMulticastGroupServiceServer(g, multicastService{s: s})
	api.RegisterDeviceServiceServer(g, deviceService{s: s})
	api.RegisterDeviceProfileServiceServer(g, deviceProfileService{s: s})
	api.RegisterGatewayServiceServer(g, gatewayService{s: s})
	api.RegisterApplicationServiceServer(g, applicationService{s: s})
	api.RegisterTenantServiceServer(g, tenantService{s: s})
}

// ServerOptions returns the options a grpc.Server needs to check API keys as
// ChirpStack does, for every method of the "api." services.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
	}
}

// Serve serves the API on lis (a TCP listener, or a bufconn.Listener in
// process) until ctx is done, then stops gracefully. It does not run the
// multicast scheduler; see StartScheduler.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	g := grpc.NewServer(s.ServerOptions()...)
	s.RegisterGRPC(g)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			g.GracefulStop()
		case <-done:
			g.Stop()
		}
	}()
	if err := g.Serve(lis); err != nil {
		return fmt.Errorf("ns: serve on %v: %w", lis.Addr(), err)
	}
	return nil
}

// status turns an error into the status ChirpStack answers.
func (s *Server) status(err error) error {
	return toStatus(err, s.cfg.Quirks.ProperErrorCodes)
}

// dispatch hands events to the sink, outside s.mu so a sink may call back.
func (s *Server) dispatch(evs []Event) {
	if s.events == nil {
		return
	}
	for _, e := range evs {
		s.events.HandleEvent(e)
	}
}
