package server

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestDeploymentConfigDelays checks that the reboot grace and the status
// delay of a deployment's options reach the engine, fall back to the
// configured defaults, and are refused when negative.
func TestDeploymentConfigDelays(t *testing.T) {
	d := Defaults{RebootGrace: time.Minute, StatusDelay: 10 * time.Second}
	rnd := bytes.NewReader(make([]byte, 64))
	cfg, err := d.deploymentConfig("x", Options{RebootGrace: 5 * time.Second}, nil, nil, nil, nil, rnd)
	if err != nil {
		t.Fatal(err)
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
