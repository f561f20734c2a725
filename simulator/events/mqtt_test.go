package events_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/integration"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/internal/testserver"
	"github.com/lorafuota/lorafuota/simulator/events"
)

// broker returns the URL of an MQTT broker for the test: a mosquitto of its
// own on a free loopback port, or $LORAFUOTA_TEST_MQTT without the binary.
func broker(t *testing.T) string {
	t.Helper()
	return testserver.Mosquitto(t).URL()
}

type received struct {
	topic   string
	payload []byte
}

// subscribe connects a client of the test's own to server, subscribed to
// filter.
func subscribe(t *testing.T, server, filter string) <-chan received {
	t.Helper()
	msgs := make(chan received, 64)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(server).SetClientID("test-" + t.Name()).
		SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", server, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		msgs <- received{topic: m.Topic(), payload: m.Payload()}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return msgs
}

func receive(t *testing.T, msgs <-chan received) received {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no MQTT message within 10 s")
	}
	return received{}
}

// TestMQTT: events published reach a real broker on ChirpStack's topics, in
// order, and decode with the official types.
func TestMQTT(t *testing.T) {
	server := broker(t)
	tests := []struct {
		enc    events.Encoding
		qos    byte
		decode func([]byte, proto.Message) error
	}{
		{events.JSON, 0, protojson.Unmarshal},
		{events.Protobuf, 1, proto.Unmarshal},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/qos%d", tt.enc, tt.qos), func(t *testing.T) {
			msgs := subscribe(t, server, "application/+/device/+/event/+")
			p := newPublisher(t, events.Config{MQTT: &events.MQTTConfig{Server: server, Encoding: tt.enc, QoS: tt.qos}})
			sent := samples()
			for _, m := range sent {
				if err := p.Publish(appID, devEUI, m); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range sent {
				typ, _ := events.EventType(want)
				m := receive(t, msgs)
				if wantTopic := "application/" + appID + "/device/" + devEUI.String() + "/event/" + typ; m.topic != wantTopic {
					t.Errorf("topic %q, want %q", m.topic, wantTopic)
				}
				got := want.ProtoReflect().New().Interface()
				if err := tt.decode(m.payload, got); err != nil {
					t.Fatalf("decode %s: %v\n%s", m.topic, err, m.payload)
				}
				diffMessages(t, got, want)
			}
			if err := p.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if st := p.Stats()[0]; st.Sent != uint64(len(sent)) || st.Failed != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestMQTTUpJSON is the acceptance test: an up event in
// ChirpStack's JSON form, on ChirpStack's default topic, decoded with
// integration.UplinkEvent.
func TestMQTTUpJSON(t *testing.T) {
	server := broker(t)
	msgs := subscribe(t, server, "application/+/device/+/event/+")
	p := newPublisher(t, events.Config{MQTT: &events.MQTTConfig{Server: server}})
	want := uplink(7)
	if err := p.Publish(appID, devEUI, want); err != nil {
		t.Fatal(err)
	}
	m := receive(t, msgs)
	if wantTopic := fmt.Sprintf("application/%s/device/%s/event/up", appID, devEUI); m.topic != wantTopic {
		t.Errorf("topic %q, want %q", m.topic, wantTopic)
	}
	var got integration.UplinkEvent
	if err := protojson.Unmarshal(m.payload, &got); err != nil {
		t.Fatalf("decode: %v\n%s", err, m.payload)
	}
	diffMessages(t, &got, want)
	if !strings.Contains(string(m.payload), `"fCnt":7,"fPort":201,"confirmed":false,`) {
		t.Errorf("not ChirpStack's JSON form:\n%s", m.payload)
	}
}

// TestMQTTTopicTemplate: a custom topic template with credentials.
func TestMQTTTopicTemplate(t *testing.T) {
	server := broker(t)
	msgs := subscribe(t, server, "lorawan/#")
	p := newPublisher(t, events.Config{MQTT: &events.MQTTConfig{
		Server: server, TopicTemplate: "lorawan/{{ event }}/{{dev_eui}}", ClientID: "sim-1",
		Username: "sim", Password: "secret", // mosquitto's default lets anyone in
	}})
	if err := p.Publish(appID, devEUI, &integration.LogEvent{}); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, msgs); m.topic != "lorawan/log/"+devEUI.String() {
		t.Errorf("topic %q", m.topic)
	}
}

// TestMQTTBrokerDown: with no broker, Publish does not block and Close
// returns promptly, counting what it could not send.
func TestMQTTBrokerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := (&url.URL{Scheme: "tcp", Host: l.Addr().String()}).String()
	l.Close() // nothing listens there now

	var logs logBuffer
	p, err := events.New(t.Context(), events.Config{Logger: logs.logger(), MQTT: &events.MQTTConfig{Server: server, QueueSize: 4}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := p.Publish(appID, devEUI, uplink(uint32(i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if st := p.Stats()[0]; st.Dropped != 10 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "MQTT connect failed") {
		t.Errorf("connection failure not logged:\n%s", logs.String())
	}
}
