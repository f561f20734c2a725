package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// DefaultTopic is the filter for ChirpStack's default event topics
// (application/{application_id}/device/{dev_eui}/event/{event}).
const DefaultTopic = "application/+/device/+/event/+"

// MQTTConfig configures an MQTTSource.
type MQTTConfig struct {
	// Server is the broker: tcp://host:1883, ssl://host:8883, ws://….
	Server string
	// Topic is the subscription filter; empty means DefaultTopic. A shared
	// subscription ("$share/lorafuota/application/+/device/+/event/+")
	// spreads the events over the replicas. The event type is taken from
	// the last level of each message's topic, as in ChirpStack's default
	// topic template.
	Topic string
	// QoS of the subscription: 0, 1 or 2.
	QoS byte
	// Encoding of the payloads; EncodingAuto detects it per message.
	Encoding Encoding
	// ClientID defaults to "lorafuota-" and a random suffix.
	ClientID string
	// Username and Password, if set, authenticate to the broker.
	Username, Password string
	// TLSConfig for ssl:// and wss:// brokers; nil means the defaults.
	TLSConfig *tls.Config
	// PersistentSession asks the broker to keep the session (and QoS 1/2
	// messages) while the source is disconnected; it needs a fixed
	// ClientID.
	PersistentSession bool
	// ConnectTimeout bounds one connection attempt; 0 means 10 s.
	ConnectTimeout time.Duration
	// Filter selects what reaches the Handler.
	Filter Filter
	// Logger gets connection changes and malformed events; nil discards.
	Logger *slog.Logger
	// Now is the fallback reception time of an uplink without any time;
	// nil means time.Now.
	Now func() time.Time
}

// MQTTSource receives ChirpStack's integration events from an MQTT broker
// and hands them to a Handler. It reconnects on its own and subscribes again
// on every connection.
type MQTTSource struct {
	cfg    MQTTConfig
	d      *dispatcher
	client mqtt.Client
	log    *slog.Logger

	// ctx is given to the Handler; it ends at Close.
	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	subscribed chan error // the first subscription's outcome, for Start
}

// NewMQTTSource makes a source from cfg; Start connects it.
func NewMQTTSource(cfg MQTTConfig, h Handler) (*MQTTSource, error) {
	if h == nil {
		return nil, errors.New("mqtt source: nil Handler")
	}
	if cfg.Server == "" {
		return nil, errors.New("mqtt source: no Server")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.QoS > 2 {
		return nil, fmt.Errorf("mqtt source: QoS %d (want 0, 1 or 2)", cfg.QoS)
	}
	if !cfg.Encoding.valid() {
		return nil, fmt.Errorf("mqtt source: %v", cfg.Encoding)
	}
	if cfg.PersistentSession && cfg.ClientID == "" {
		return nil, errors.New("mqtt source: PersistentSession needs a ClientID")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "lorafuota-" + rand.Text()[:12]
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "mqtt", "server", cfg.Server, "topic", cfg.Topic)
	s := &MQTTSource{cfg: cfg, d: newDispatcher(h, cfg.Filter, log, cfg.Now), log: log}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Server).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(!cfg.PersistentSession).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetMaxReconnectInterval(30 * time.Second).
		// Subscriptions are made again in onConnect, whatever the broker
		// kept, so paho need not replay them.
		SetResumeSubs(false).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.log.Warn("MQTT connection lost; reconnecting", "error", err)
		}).
		// Messages that reach no subscription's route (a broker quirk with
		// shared subscriptions) still get handled.
		SetDefaultPublishHandler(s.onMessage)
	if cfg.TLSConfig != nil {
		opts.SetTLSConfig(cfg.TLSConfig)
	}
	s.client = mqtt.NewClient(opts)
	return s, nil
}

// Start connects to the broker and subscribes, returning once the first
// subscription is in place, or with an error when ctx ends first or the
// broker refuses the subscription. After Start the source reconnects by
// itself until Close.
func (s *MQTTSource) Start(ctx context.Context) error {
	sub := make(chan error, 1)
	s.mu.Lock()
	s.subscribed = sub
	s.mu.Unlock()

	tok := s.client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt source: connect to %s: %w", s.cfg.Server, err)
		}
	case <-ctx.Done():
		s.client.Disconnect(0)
		return fmt.Errorf("mqtt source: connect to %s: %w", s.cfg.Server, ctx.Err())
	}
	select {
	case err := <-sub:
		return err
	case <-ctx.Done():
		s.client.Disconnect(0)
		return fmt.Errorf("mqtt source: subscribe %s: %w", s.cfg.Topic, ctx.Err())
	}
}

// onConnect subscribes on every (re)connection: with a clean session the
// broker forgot the subscription.
func (s *MQTTSource) onConnect(c mqtt.Client) {
	tok := c.Subscribe(s.cfg.Topic, s.cfg.QoS, s.onMessage)
	var err error
	if !tok.WaitTimeout(s.cfg.ConnectTimeout) {
		err = fmt.Errorf("mqtt source: subscribe %s: timed out after %v", s.cfg.Topic, s.cfg.ConnectTimeout)
	} else if err = tok.Error(); err != nil {
		err = fmt.Errorf("mqtt source: subscribe %s: %w", s.cfg.Topic, err)
	} else if st, ok := tok.(*mqtt.SubscribeToken); ok {
		// A refusal comes as return code 0x80 in SUBACK, not as an error.
		for _, code := range st.Result() {
			if code > 2 {
				err = fmt.Errorf("mqtt source: subscribe %s: refused by broker (code %#x)", s.cfg.Topic, code)
			}
		}
	}
	if err != nil {
		s.log.Error("MQTT subscription failed", "error", err)
	} else {
		s.log.Info("MQTT subscribed", "qos", s.cfg.QoS)
	}
	s.mu.Lock()
	if s.subscribed != nil {
		s.subscribed <- err
		s.subscribed = nil
	}
	s.mu.Unlock()
}

func (s *MQTTSource) onMessage(_ mqtt.Client, m mqtt.Message) {
	topic := m.Topic()
	typ := topic[strings.LastIndexByte(topic, '/')+1:]
	_ = s.d.dispatch(s.ctx, topic, typ, s.cfg.Encoding, m.Payload())
}

// Stats returns the source's counters.
func (s *MQTTSource) Stats() Stats { return s.d.stats.snapshot() }

// IsConnected reports whether the source is connected to the broker now.
func (s *MQTTSource) IsConnected() bool { return s.client.IsConnectionOpen() }

// Close disconnects, waiting up to 250 ms for work in flight, and ends the
// context given to the Handler.
func (s *MQTTSource) Close() {
	s.client.Disconnect(250)
	s.cancel()
}
