package inprocess_test

import (
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/internal/inprocess"
	"github.com/lorafuota/lorafuota/simulator"
)

func TestConnect(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	n, err := simulator.New(simulator.DefaultScenario(), clk, simulator.Options{Seed: 1, APIKeys: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(t.Context())
	c, stop, err := inprocess.Connect(t.Context(), n, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ts, err := c.Tenants.List(t.Context(), &api.ListTenantsRequest{Limit: 10})
	if err != nil || len(ts.Result) != 1 {
		t.Fatalf("tenants %v, %v; want the scenario's one", ts, err)
	}
	bad, stopBad, err := inprocess.Connect(t.Context(), n, "wrong")
	if err == nil {
		defer stopBad()
		if _, err := bad.Tenants.List(t.Context(), &api.ListTenantsRequest{Limit: 10}); err == nil {
			t.Error("a wrong API key was accepted")
		}
	}
}
