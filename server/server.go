package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/integration"
)

// connectTimeout bounds reaching ChirpStack's API and the MQTT broker at
// the start.
const connectTimeout = 15 * time.Second

// Server is lorafuota serve, put together from a Config on the wall clock
// (or the sped-up one [testing] asks for).
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	client   *integration.Client
	mgr      *Manager
	mqtt     *integration.MQTTSource
	grpc     *grpc.Server
	http     *http.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	stopping chan struct{}
}

// NewLogger returns the logger [log] asks for, writing to w.
func NewLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", c.Format)
}

// New opens the store, connects to ChirpStack and the MQTT broker, resumes
// the deployments and listens; Serve serves.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ChirpStack.APIKey == "" {
		return nil, fmt.Errorf("chirpstack.api_key: empty: make an API key in ChirpStack and set it (or %s)", EnvName("chirpstack.api_key"))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk, err := cfg.Testing.Clock(time.Now())
	if err != nil {
		return nil, err
	}
	if cfg.Testing.TimeScale != 1 {
		log.Warn("testing.time_scale: the server's clock runs faster than the wall clock; for tests against a simulator only",
			"time_scale", cfg.Testing.TimeScale, "time_origin", cfg.Testing.TimeOrigin, "now", clk.Now())
	}
	s := &Server{cfg: cfg, log: log, stopping: make(chan struct{})}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	rc := cfg.Redis
	sc := store.Config{Addr: rc.Addr, MasterName: rc.MasterName, Username: rc.Username, Password: rc.Password, DB: rc.DB, Prefix: rc.Prefix}
	if rc.TLS {
		sc.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.store, err = store.Open(ctx, sc); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	closers = append(closers, func() { s.store.Close() })
	if s.store.Embedded() {
		log.Warn(`redis.addr is "memory": an embedded Redis holds the state, and it is lost when the server exits`)
	}

	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	s.client, err = integration.Dial(dctx, integration.ClientConfig{
		Address: cfg.ChirpStack.API, APIKey: cfg.ChirpStack.APIKey, TLS: cfg.ChirpStack.TLS, CAFile: cfg.ChirpStack.CAFile,
		Logger: log,
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("chirpstack.api %s: %w", cfg.ChirpStack.API, err)
	}
	closers = append(closers, func() { s.client.Close() })

	defaults, err := cfg.Campaign.Defaults()
	if err != nil {
		return nil, err
	}
	pool, err := cfg.Multicast.pool()
	if err != nil {
		return nil, err
	}
	owner := cfg.Server.InstanceID
	if owner == "" {
		host, _ := os.Hostname()
		owner = host + "-" + strconv.Itoa(os.Getpid()) + "-" + rand.Text()[:6]
	}
	s.mgr, err = NewManager(ManagerConfig{
		Clock: clk, Store: s.store, Executor: s.client, Directory: s.client, Logger: log,
		Owner: owner, LeaseTTL: time.Duration(cfg.Server.LeaseTTL),
		ApplicationID: cfg.ChirpStack.ApplicationID, Region: cfg.ChirpStack.Region,
		McAddrPool: store.McAddrPool{Min: pool.Min, Max: pool.Max}, Gateways: cfg.Multicast.Gateways,
		Defaults: defaults,
	})
	if err != nil {
		return nil, err
	}
	if err := s.mgr.Open(ctx); err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = s.mgr.Close(context.Background()) })

	var tlsConf *tls.Config
	if cfg.Server.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server.tls_cert, server.tls_key: %w", err)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	auth, err := NewAuth(cfg.Server.APITokens)
	if err != nil {
		return nil, err
	}
	var gopts []grpc.ServerOption
	if tlsConf != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tlsConf)))
	}
	s.grpc = NewGRPCServer(s.mgr, auth, s.stopping, gopts...)

	filter := integration.Filter{Managed: s.mgr.Managed}
	sources := map[string]EventSource{}
	checks := map[string]HealthCheck{"redis": s.store.Ping}
	if m := cfg.ChirpStack.MQTT; m.Enabled {
		enc, _ := integration.ParseEncoding(m.Encoding) // checked by Validate
		s.mqtt, err = integration.NewMQTTSource(integration.MQTTConfig{
			Server: m.Server, Topic: m.Topic, QoS: byte(m.QoS), Encoding: enc, ClientID: m.ClientID,
			Username: m.Username, Password: m.Password, Filter: filter, Logger: log, Now: clk.Now,
		}, s.mgr)
		if err != nil {
			return nil, fmt.Errorf("chirpstack.mqtt: %w", err)
		}
		mctx, cancel := context.WithTimeout(ctx, connectTimeout)
		err = s.mqtt.Start(mctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("chirpstack.mqtt.server %s: %w", m.Server, err)
		}
		closers = append(closers, s.mqtt.Close)
		sources["mqtt"] = s.mqtt
		checks["mqtt"] = func(context.Context) error {
			if !s.mqtt.IsConnected() {
				return errors.New("not connected to the broker")
			}
			return nil
		}
	}
	var hook http.Handler
	if h := cfg.ChirpStack.HTTPIntegration; h.Enabled {
		enc, _ := integration.ParseEncoding(h.Encoding)
		hh, err := integration.NewHTTPHandler(integration.HTTPConfig{
			Secret: h.Secret, SecretHeader: h.SecretHeader, Encoding: enc, Filter: filter, Logger: log, Now: clk.Now,
		}, s.mgr)
		if err != nil {
			return nil, fmt.Errorf("chirpstack.http_integration: %w", err)
		}
		hook, sources["http"] = hh, hh
	}

	if s.grpcLis, err = net.Listen("tcp", cfg.Server.GRPCListen); err != nil {
		return nil, fmt.Errorf("server.grpc_listen: %w", err)
	}
	closers = append(closers, func() { s.grpcLis.Close() })
	if cfg.Server.HTTPListen != "" {
		if s.httpLis, err = net.Listen("tcp", cfg.Server.HTTPListen); err != nil {
			return nil, fmt.Errorf("server.http_listen: %w", err)
		}
		closers = append(closers, func() { s.httpLis.Close() })
		if tlsConf != nil {
			s.httpLis = tls.NewListener(s.httpLis, tlsConf)
		}
		s.http = &http.Server{
			Handler:           NewHTTPHandler(NewRegistry(s.mgr, sources), checks, cfg.ChirpStack.HTTPIntegration.Path, hook),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	return s, nil
}

// GRPCAddr is the gRPC API's address.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// HTTPAddr is the HTTP server's address; nil without one.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLis == nil {
		return nil
	}
	return s.httpLis.Addr()
}

// Manager is the server's Manager.
func (s *Server) Manager() *Manager { return s.mgr }

// Serve serves until ctx is done or a listener fails, then shuts down: it
// stops taking events and calls (watch streams end), waits for the calls in
// progress up to server.shutdown_timeout, stops the runners (their state is
// in the store, and another server may take them over at once) and closes
// its connections.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(s.grpcLis) }()
	if s.http != nil {
		go func() {
			err := s.http.Serve(s.httpLis)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	s.log.Info("serving", "grpc", s.GRPCAddr().String(), "http", fmt.Sprint(s.HTTPAddr()))
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serving: %w", err)
	}
	return errors.Join(err, s.shutdown())
}

func (s *Server) shutdown() error {
	s.log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.cfg.Server.ShutdownTimeout))
	defer cancel()
	close(s.stopping)
	if s.mqtt != nil {
		s.mqtt.Close()
	}
	var errs []error
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
	}
	if err := s.mgr.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.client.Close(); err != nil {
		errs = append(errs, fmt.Errorf("chirpstack: %w", err))
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
}
