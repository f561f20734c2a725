package integration_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/internal/testserver"
	"github.com/lorafuota/lorafuota/simulator/events"
)

// broker starts a mosquitto of the test's own and returns its URL and a
// function that restarts it on the same port.
func broker(t *testing.T) (url string, restart func()) {
	t.Helper()
	s := testserver.Mosquitto(t)
	return s.URL(), s.Restart
}

// startSource starts an MQTTSource on server with the test's filter.
func startSource(t *testing.T, cfg integration.MQTTConfig, h integration.Handler) *integration.MQTTSource {
	t.Helper()
	cfg.Filter.Managed = isManaged
	cfg.ConnectTimeout = 5 * time.Second
	src, err := integration.NewMQTTSource(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}

// publisher publishes events to server as ChirpStack would.
func publisher(t *testing.T, server string, enc events.Encoding) *events.Publisher {
	t.Helper()
	p, err := events.New(context.Background(), events.Config{MQTT: &events.MQTTConfig{Server: server, Encoding: enc, QoS: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func TestMQTTSource(t *testing.T) {
	server, _ := broker(t)
	tests := []struct {
		name  string
		enc   events.Encoding
		cfg   integration.MQTTConfig
		topic string
	}{
		{"json auto", events.JSON, integration.MQTTConfig{}, ""},
		{"protobuf auto", events.Protobuf, integration.MQTTConfig{QoS: 1}, ""},
		{"json configured", events.JSON, integration.MQTTConfig{Encoding: integration.EncodingJSON}, ""},
		{"protobuf configured, shared subscription", events.Protobuf,
			integration.MQTTConfig{Encoding: integration.EncodingProtobuf, Topic: "$share/lorafuota/application/+/device/+/event/+"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Server = server
			rec := newRecorder()
			src := startSource(t, tt.cfg, rec)
			p := publisher(t, server, tt.enc)
			var want []any
			for _, s := range scenario() {
				if err := p.Publish(appID, managed, s.msg); err != nil {
					t.Fatal(err)
				}
				if s.want != nil {
					want = append(want, s.want)
				}
			}
			got := rec.waitFor(t, len(want))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("handler got\n%+v\nwant\n%+v", got, want)
			}
			// The last wanted event is the last one published; at QoS 1 from
			// one client the broker keeps the order, so all were counted.
			if st := src.Stats(); st != scenarioStats {
				t.Errorf("Stats = %+v, want %+v", st, scenarioStats)
			}
		})
	}
}

// TestMQTTMalformed publishes broken payloads on event topics: each is
// dropped and counted, and the source goes on.
func TestMQTTMalformed(t *testing.T) {
	server, _ := broker(t)
	rec := newRecorder()
	src := startSource(t, integration.MQTTConfig{Server: server}, rec)

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(server).SetClientID("raw-" + t.Name()))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	pub := func(event string, payload []byte) {
		t.Helper()
		topic := "application/" + appID + "/device/" + managed.String() + "/event/" + event
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	good, err := events.Marshal(upEvent(managed, 201, 1), events.JSON)
	if err != nil {
		t.Fatal(err)
	}
	malformed := []struct {
		event   string
		payload []byte
	}{
		{"up", []byte(`{"deviceInfo":`)},                                           // truncated JSON
		{"up", []byte{0xff, 0xff, 0xff}},                                           // not protobuf
		{"up", []byte(`{"fPort":201,"data":"AQI="}`)},                              // no device_info
		{"txack", []byte(`{"deviceInfo":{"devEui":"not-hex"}}`)},                   // bad DevEUI
		{"up", []byte(`{"deviceInfo":{"devEui":"0102030405060708"},"fPort":300}`)}, // FPort out of range
		{"log", nil}, // empty JSON? no: empty protobuf, which lacks device_info
	}
	for _, m := range malformed {
		pub(m.event, m.payload)
	}
	pub("up", good)
	rec.waitFor(t, 1)
	want := integration.Stats{Received: 7, Uplinks: 1, Malformed: uint64(len(malformed))}
	if st := src.Stats(); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func TestNewMQTTSourceErrors(t *testing.T) {
	rec := newRecorder()
	tests := []struct {
		name string
		cfg  integration.MQTTConfig
		h    integration.Handler
	}{
		{"no server", integration.MQTTConfig{}, rec},
		{"no handler", integration.MQTTConfig{Server: "tcp://127.0.0.1:1"}, nil},
		{"QoS 3", integration.MQTTConfig{Server: "tcp://127.0.0.1:1", QoS: 3}, rec},
		{"bad encoding", integration.MQTTConfig{Server: "tcp://127.0.0.1:1", Encoding: 7}, rec},
		{"persistent without id", integration.MQTTConfig{Server: "tcp://127.0.0.1:1", PersistentSession: true}, rec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := integration.NewMQTTSource(tt.cfg, tt.h); err == nil {
				t.Fatal("NewMQTTSource succeeded")
			}
		})
	}
	// A broker that is not there: Start gives up when its context ends.
	src, err := integration.NewMQTTSource(integration.MQTTConfig{Server: "tcp://127.0.0.1:1", ConnectTimeout: 100 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := src.Start(ctx); err == nil {
		t.Fatal("Start succeeded without a broker")
	}
	src.Close()
}

// TestMQTTReconnect restarts the broker under a running source: the source
// reconnects and subscribes again (a restarted mosquitto has forgotten the
// session).
func TestMQTTReconnect(t *testing.T) {
	server, restart := broker(t)
	rec := newRecorder()
	src := startSource(t, integration.MQTTConfig{Server: server, QoS: 1}, rec)
	p := publisher(t, server, events.JSON)
	if err := p.Publish(appID, managed, upEvent(managed, 201, 1)); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 1)

	restart()
	// Publish until the source, back and subscribed again, gets one: events
	// published before it resubscribed are lost, as with ChirpStack.
	deadline := time.Now().Add(20 * time.Second)
	for fCnt := uint32(2); len(rec.events()) < 2; fCnt++ {
		if time.Now().After(deadline) {
			t.Fatalf("no event after the broker restarted; stats %+v", src.Stats())
		}
		if err := p.Publish(appID, managed, upEvent(managed, 201, fCnt)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rec.more:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !src.IsConnected() {
		t.Error("source not connected after receiving")
	}
}
