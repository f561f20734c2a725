package runner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/fuota/runner"
	"github.com/lorafuota/lorafuota/fuota/store"
	"github.com/lorafuota/lorafuota/integration"
)

func TestNewRefusesIncompleteConfig(t *testing.T) {
	clk := clock.NewVirtual(time.Time{})
	for _, tc := range []struct {
		cfg  runner.Config
		want string
	}{
		{runner.Config{Executor: &integration.Client{}, Store: &store.Store{}}, "no Clock"},
		{runner.Config{Clock: clk, Store: &store.Store{}}, "no Executor"},
		{runner.Config{Clock: clk, Executor: &integration.Client{}}, "no Store"},
	} {
		if _, err := runner.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: error %v, want %q", err, tc.want)
		}
	}
}
