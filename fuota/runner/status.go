package runner

import (
	"context"
	"errors"

	"github.com/lorafuota/lorafuota/fuota"
)

// Status is a snapshot of a runner's deployment, for status displays.
type Status struct {
	// Started is false until Start or Resume has been called; the other
	// fields are then zero.
	Started  bool
	ID       string
	Phase    fuota.Phase
	Done     bool
	Progress fuota.Progress
	Devices  []fuota.DeviceStatus
	// Verdicts are the verdicts this runner issued, in issue order
	// (after a Resume, only those since).
	Verdicts []fuota.Verdict
	// Err is the runner's first failure (Err).
	Err error
}

// Status returns a snapshot of the deployment.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d == nil {
		return Status{}
	}
	return Status{
		Started:  true,
		ID:       r.d.ID(),
		Phase:    r.d.Phase(),
		Done:     r.d.Done(),
		Progress: r.d.Progress(),
		Devices:  r.d.Devices(),
		Verdicts: append([]fuota.Verdict(nil), r.verdicts...),
		Err:      r.err,
	}
}

// ErrNotStarted is returned by Cancel before Start or Resume.
var ErrNotStarted = errors.New("runner: no deployment started")

// Cancel steps the deployment with fuota.Cancel: nothing more is multicast,
// pending reboots are cancelled and the devices' sessions deleted; the group
// is deleted once its last queued fragment has gone. Cancelling a finished
// deployment changes nothing. It returns the runner's first failure, as
// Start does.
func (r *Runner) Cancel(ctx context.Context, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d == nil {
		return ErrNotStarted
	}
	r.step(ctx, fuota.Cancel{Reason: reason})
	return r.err
}
