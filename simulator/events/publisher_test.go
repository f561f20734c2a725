package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/integration"

	"github.com/lorafuota/lorafuota/simulator/events"
)

func newPublisher(t *testing.T, cfg events.Config) *events.Publisher {
	t.Helper()
	p, err := events.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// TestSubscribers: every subscriber gets every event, synchronously and in
// publication order; unsubscribing stops delivery.
func TestSubscribers(t *testing.T) {
	p := newPublisher(t, events.Config{})
	var got []string
	record := func(name string) events.Subscriber {
		return func(e events.Event) {
			got = append(got, fmt.Sprintf("%s:%s:%s:%s", name, e.Type, e.ApplicationID, e.DevEUI))
		}
	}
	p.Subscribe(record("a"))
	unsubB := p.Subscribe(record("b"))

	var want []string
	for i, m := range samples() {
		dev := lorawan.EUI64{7: byte(i)}
		if err := p.Publish(appID, dev, m); err != nil {
			t.Fatal(err)
		}
		typ, _ := events.EventType(m)
		want = append(want, "a:"+typ+":"+appID+":"+dev.String(), "b:"+typ+":"+appID+":"+dev.String())
		// Synchronous: delivered before Publish returns.
		if len(got) != len(want) {
			t.Fatalf("after Publish %d: %d deliveries, want %d", i, len(got), len(want))
		}
	}
	unsubB()
	if err := p.Publish(appID, devEUI, uplink(1)); err != nil {
		t.Fatal(err)
	}
	want = append(want, "a:up:"+appID+":"+devEUI.String())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deliveries\n got %v\nwant %v", got, want)
	}
}

// TestSubscriberReentry: a subscriber may publish (a reaction to an event)
// and close the publisher.
func TestSubscriberReentry(t *testing.T) {
	p := newPublisher(t, events.Config{})
	var got []string
	p.Subscribe(func(e events.Event) {
		got = append(got, e.Type)
		switch e.Type {
		case events.EventUp:
			if err := p.Publish(appID, devEUI, &integration.AckEvent{}); err != nil {
				t.Error(err)
			}
		case events.EventAck:
			if err := p.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
	if err := p.Publish(appID, devEUI, uplink(1)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[up ack]" {
		t.Errorf("got %v, want [up ack]", got)
	}
	if err := p.Publish(appID, devEUI, uplink(2)); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
}

func TestPublishRejects(t *testing.T) {
	p := newPublisher(t, events.Config{})
	called := false
	p.Subscribe(func(events.Event) { called = true })
	if err := p.Publish(appID, devEUI, &integration.DeviceInfo{}); err == nil {
		t.Error("Publish(DeviceInfo): no error")
	}
	if called {
		t.Error("subscriber called for a rejected message")
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  events.Config
	}{
		{"mqtt no server", events.Config{MQTT: &events.MQTTConfig{}}},
		{"mqtt qos", events.Config{MQTT: &events.MQTTConfig{Server: "tcp://127.0.0.1:1", QoS: 3}}},
		{"mqtt topic variable", events.Config{MQTT: &events.MQTTConfig{Server: "tcp://127.0.0.1:1", TopicTemplate: "app/{{tenant_id}}"}}},
		{"mqtt topic braces", events.Config{MQTT: &events.MQTTConfig{Server: "tcp://127.0.0.1:1", TopicTemplate: "app/{{event}"}}},
		{"mqtt encoding", events.Config{MQTT: &events.MQTTConfig{Server: "tcp://127.0.0.1:1", Encoding: 7}}},
		{"http no urls", events.Config{HTTP: []events.HTTPConfig{{}}}},
		{"http scheme", events.Config{HTTP: []events.HTTPConfig{{URLs: []string{"ftp://x/"}}}}},
		{"http queue", events.Config{HTTP: []events.HTTPConfig{{URLs: []string{"http://x/"}, QueueSize: -1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := events.New(t.Context(), tt.cfg); err == nil {
				_ = p.Close(context.Background())
				t.Error("no error")
			}
		})
	}
}
