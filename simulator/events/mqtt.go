package events

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// DefaultTopicTemplate is ChirpStack's default event topic.
const DefaultTopicTemplate = "application/{{application_id}}/device/{{dev_eui}}/event/{{event}}"

// MQTTConfig configures the MQTT integration, ChirpStack's
// [integration.mqtt] section.
type MQTTConfig struct {
	// Server is the broker: tcp://127.0.0.1:1883, ssl://…, ws://….
	Server string
	// TopicTemplate makes the topic of an event from {{application_id}},
	// {{dev_eui}} (lower-case hex) and {{event}}; empty means
	// DefaultTopicTemplate.
	TopicTemplate string
	// QoS is 0 (ChirpStack's default), 1 or 2.
	QoS byte
	// Encoding is JSON (ChirpStack's json = true, the default) or Protobuf.
	Encoding Encoding
	// ClientID defaults to a random one.
	ClientID string
	// Username and Password, if set, authenticate to the broker.
	Username, Password string
	// QueueSize bounds the events waiting to be sent; 0 means
	// DefaultQueueSize.
	QueueSize int
	// ConnectTimeout bounds one connection attempt; 0 means 5 s.
	ConnectTimeout time.Duration
	// PublishTimeout bounds the wait for one publish to complete (for
	// QoS 0, to be written); 0 means 5 s.
	PublishTimeout time.Duration
}

// topicVar matches a handlebars placeholder of a topic template.
var topicVar = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// topicTemplate renders a topic template.
type topicTemplate struct {
	parts []string // literal text and placeholder names, alternating
}

func parseTopicTemplate(s string) (topicTemplate, error) {
	var t topicTemplate
	last := 0
	for _, m := range topicVar.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		switch name {
		case "application_id", "dev_eui", "event":
		default:
			return topicTemplate{}, fmt.Errorf("topic template %q: unknown variable {{%s}}", s, name)
		}
		t.parts = append(t.parts, s[last:m[0]], name)
		last = m[1]
	}
	t.parts = append(t.parts, s[last:])
	for i := 0; i < len(t.parts); i += 2 {
		if strings.Contains(t.parts[i], "{{") || strings.Contains(t.parts[i], "}}") {
			return topicTemplate{}, fmt.Errorf("topic template %q: unbalanced braces", s)
		}
	}
	return t, nil
}

func (t topicTemplate) render(it item) string {
	var sb strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			sb.WriteString(p)
			continue
		}
		switch p {
		case "application_id":
			sb.WriteString(it.applicationID)
		case "dev_eui":
			sb.WriteString(it.devEUI.String())
		case "event":
			sb.WriteString(it.typ)
		}
	}
	return sb.String()
}

type mqttTransport struct {
	cfg    MQTTConfig
	topic  topicTemplate
	client mqtt.Client
	log    *slog.Logger
}

func newMQTTSink(cfg MQTTConfig, log *slog.Logger) (*sink, error) {
	if cfg.Server == "" {
		return nil, errors.New("MQTT integration: no server")
	}
	if cfg.QoS > 2 {
		return nil, fmt.Errorf("MQTT integration: QoS %d", cfg.QoS)
	}
	if cfg.TopicTemplate == "" {
		cfg.TopicTemplate = DefaultTopicTemplate
	}
	tt, err := parseTopicTemplate(cfg.TopicTemplate)
	if err != nil {
		return nil, fmt.Errorf("MQTT integration: %w", err)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "lorafuota-sim-" + rand.Text()[:12]
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	name := "mqtt " + cfg.Server
	t := &mqttTransport{cfg: cfg, topic: tt, log: log.With("sink", name)}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Server).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(true).
		SetConnectTimeout(cfg.ConnectTimeout).
		// The first connection is retried by start; later losses by paho.
		SetConnectRetry(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(10 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			t.log.Warn("MQTT connection lost, reconnecting", "error", err)
		})
	t.client = mqtt.NewClient(opts)
	return newSink(name, cfg.Encoding, cfg.QueueSize, nil, log, t)
}

// wait waits for tok until timeout or ctx is done.
func wait(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-timer.C:
		return fmt.Errorf("no answer within %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *mqttTransport) start(ctx context.Context, closing <-chan struct{}) bool {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// paho bounds the dial and the CONNACK wait by ConnectTimeout
		// each; the margin is for a stuck attempt.
		tok := t.client.Connect()
		err := wait(ctx, tok, 2*t.cfg.ConnectTimeout+time.Second)
		if err == nil {
			t.log.Info("MQTT connected", "client_id", t.cfg.ClientID)
			return true
		}
		select {
		case <-tok.Done():
		default:
			// Abandoned while still connecting: make sure it does not
			// connect later behind our back.
			t.client.Disconnect(0)
		}
		t.log.Warn("MQTT connect failed", "attempt", attempt, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-closing:
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (t *mqttTransport) send(ctx context.Context, it item, c *counters) {
	topic := t.topic.render(it)
	if err := wait(ctx, t.client.Publish(topic, t.cfg.QoS, false, it.payload), t.cfg.PublishTimeout); err != nil {
		c.failed.Add(1)
		t.log.Warn("MQTT publish failed", "topic", topic, "error", err)
		return
	}
	c.sent.Add(1)
}

func (t *mqttTransport) stop() {
	// Lets paho write what it holds; it waits at most this many ms.
	t.client.Disconnect(250)
}
