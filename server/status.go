package server

import (
	"encoding/json"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/fuota/runner"
)

// Status is a deployment as the APIs report it.
type Status struct {
	ID   string
	Name string
	// Phase is the engine's; "new" for a draft.
	Phase fuota.Phase
	// Draft is set until the deployment is started.
	Draft bool
	// Done is set once the deployment expects nothing more: completed,
	// cancelled, or a draft cancelled before its start.
	Done bool
	// Owner names the server running the deployment when it is not this
	// one.
	Owner                                        string
	CreatedAt, UpdatedAt, StartedAt, CompletedAt time.Time
	ApplicationID, DeviceProfileID               string
	// Plan is nil for a draft without an image.
	Plan     *fuota.Plan
	Progress fuota.Progress
	// Devices is every device's progress, when asked for.
	Devices   []DeviceStatus
	Gateways  []string
	Options   Options
	Phases    []PhaseMark
	ImageSize int
	// Err is the runner's first failure, or why the deployment could not be
	// resumed.
	Err string
	// ChirpStack is the FuotaDeployment a FuotaService client sent.
	ChirpStack json.RawMessage
}

// DeviceStatus is a device's progress.
type DeviceStatus struct {
	fuota.DeviceStatus
	// FirmwareVersion is what the device runs after an update (TS006).
	FirmwareVersion uint32
	// CompletedAt is when the device got its verdict, if this server saw it.
	CompletedAt time.Time
}

// engineView is what the engine says of a deployment, from a runner or
// from the stored state.
type engineView struct {
	phase    fuota.Phase
	done     bool
	progress fuota.Progress
	devices  []fuota.DeviceStatus
	err      string
}

func viewOfRunner(st runner.Status) *engineView {
	v := &engineView{phase: st.Phase, done: st.Done, progress: st.Progress, devices: st.Devices}
	if st.Err != nil {
		v.err = st.Err.Error()
	}
	return v
}

func viewOfDeployment(d *fuota.Deployment) *engineView {
	return &engineView{phase: d.Phase(), done: d.Done(), progress: d.Progress(), devices: d.Devices()}
}

// verdictNote is what a verdict adds to a device's status.
type verdictNote struct {
	at       time.Time
	firmware uint32
}

// compose builds the Status of e from the engine's view v (nil for a
// draft). e.mu is held.
func (e *entry) compose(v *engineView, withDevices bool) Status {
	sp := e.sp
	st := Status{
		ID: sp.ID, Name: sp.Name, Phase: fuota.PhaseNew, Draft: sp.StartedAt.IsZero(),
		CreatedAt: sp.CreatedAt, UpdatedAt: later(sp.UpdatedAt, e.updatedAt), StartedAt: sp.StartedAt, CompletedAt: sp.CompletedAt,
		ApplicationID: sp.ApplicationID, DeviceProfileID: sp.DeviceProfileID, Plan: e.plan,
		Gateways: sp.Options.Gateways, Options: sp.Options, Phases: sp.Phases, ImageSize: sp.ImageSize,
		Err: e.err, ChirpStack: sp.ChirpStack,
	}
	if e.state == stateRemote {
		st.Owner = e.owner
	}
	if v == nil {
		st.Progress = fuota.Progress{Phase: fuota.PhaseNew, Devices: len(sp.Devices), Steps: map[fuota.Step]int{}, Outcomes: map[fuota.Outcome]int{}}
		if e.plan != nil {
			st.Progress.FragmentsPlanned = e.plan.Frames
		}
		if sp.Canceled {
			st.Phase, st.Done = fuota.PhaseCanceled, true
			st.Progress.Phase = fuota.PhaseCanceled
		}
		if withDevices {
			for _, d := range sp.Devices {
				ds := DeviceStatus{DeviceStatus: fuota.DeviceStatus{DevEUI: d.DevEUI}}
				if sp.Canceled {
					ds.Outcome, ds.Reason = fuota.Canceled, sp.CancelReason
				}
				st.Devices = append(st.Devices, ds)
			}
		}
		return st
	}
	st.Phase, st.Done, st.Progress = v.phase, v.done, v.progress
	if v.err != "" {
		st.Err = v.err
	}
	if withDevices {
		st.Devices = make([]DeviceStatus, 0, len(v.devices))
		for _, d := range v.devices {
			n := e.verdicts[d.DevEUI]
			st.Devices = append(st.Devices, DeviceStatus{DeviceStatus: d, FirmwareVersion: n.firmware, CompletedAt: n.at})
		}
	}
	return st
}

// devicesOf returns the DevEUIs of a spec in order.
func devicesOf(sp *spec) []lorawan.EUI64 {
	out := make([]lorawan.EUI64, len(sp.Devices))
	for i, d := range sp.Devices {
		out[i] = d.DevEUI
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
