package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"

	"github.com/lorafuota/lorafuota/fuota"
)

// TestDeploymentConfigDelays checks that the reboot grace and the status
// delay of a deployment's options reach the engine, fall back to the
// configured defaults, and are refused when negative.
func TestDeploymentConfigDelays(t *testing.T) {
	d := Defaults{RebootGrace: time.Minute, StatusDelay: 10 * time.Second}
	rnd := bytes.NewReader(make([]byte, 64))
	cfg, err := d.deploymentConfig("x", Options{RebootGrace: 5 * time.Second, ConfirmByReset: true}, nil, nil, nil, nil, rnd)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ConfirmByReset {
		t.Error("ConfirmByReset did not reach the engine")
	}
	if cfg.RebootGrace != 5*time.Second || cfg.StatusDelay != 10*time.Second {
		t.Errorf("reboot grace %v, status delay %v; want 5s and the default 10s", cfg.RebootGrace, cfg.StatusDelay)
	}
	for field, o := range map[string]Options{
		"options.reboot_grace": {RebootGrace: -time.Second},
		"options.status_delay": {StatusDelay: -time.Second},
	} {
		if _, err := d.deploymentConfig("x", o, nil, nil, nil, nil, rnd); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s negative: %v", field, err)
		}
	}
}

// TestFromChirpStackClassB checks that a ChirpStack CLASS_B deployment asks
// for a class B session with its ping-slot periodicity.
func TestFromChirpStackClassB(t *testing.T) {
	s := &fuotaService{m: &Manager{}}
	d, err := s.fromChirpStack(t.Context(), &api.FuotaDeployment{ApplicationId: "app",
		MulticastGroupType: api.MulticastGroupType_CLASS_B, MulticastClassBPingSlotPeriodicity: 3,
		MulticastClassCSchedulingType: api.MulticastGroupSchedulingType_DELAY, CalculateMulticastTimeout: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := d.options; o.SessionClass != fuota.ClassB || o.PingSlotPeriodicity == nil || *o.PingSlotPeriodicity != 3 {
		t.Errorf("options %+v, want class B, periodicity 3", o)
	}
	if got := groupTypeOf(d.options.SessionClass); got != api.MulticastGroupType_CLASS_B {
		t.Errorf("group type back %v", got)
	}
}
