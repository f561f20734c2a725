package fuota

import "time"

// Progress is a deployment's progress in numbers, for status displays and
// metrics.
type Progress struct {
	Phase   Phase
	Devices int
	// Steps counts the devices still in progress by the step they are in.
	Steps map[Step]int
	// Outcomes counts the devices with a verdict.
	Outcomes map[Outcome]int
	// Ready is how many devices finished their setup (reached the session
	// step or beyond, verdicts included only if they got that far).
	Ready int
	// FragmentsSent and FragmentsPlanned count multicast frames.
	FragmentsSent    int
	FragmentsPlanned int
	EnqueueErrors    int
	// SessionStart is the multicast session's start; zero before it is chosen.
	SessionStart time.Time
	// LastFragmentEnd is when the last fragment sent ends on air.
	LastFragmentEnd time.Time
}

// stepRank orders the steps, to tell how far a device got.
var stepRank = map[Step]int{
	StepProbe: 0, StepKeys: 1, StepMcGroup: 2, StepFragSetup: 3, StepReady: 4, StepSession: 5,
	StepMulticast: 6, StepStatus: 7, StepUpgrade: 8, StepReboot: 9, StepVersion: 10, StepDone: 11,
}

// Progress returns the deployment's progress.
func (d *Deployment) Progress() Progress {
	p := Progress{
		Phase: d.st.Phase, Devices: len(d.st.Devices),
		Steps: map[Step]int{}, Outcomes: map[Outcome]int{},
		FragmentsSent: d.st.Mc.Sent, FragmentsPlanned: d.plan.Frames, EnqueueErrors: d.st.Mc.EnqueueErrors,
		SessionStart: d.SessionTime(), LastFragmentEnd: d.st.Mc.LastEnd,
	}
	for _, dev := range d.st.Devices {
		if dev.terminal() {
			p.Outcomes[dev.Outcome]++
		} else {
			p.Steps[dev.Step]++
		}
		if stepRank[dev.Step] >= stepRank[StepReady] {
			p.Ready++
		}
	}
	return p
}
