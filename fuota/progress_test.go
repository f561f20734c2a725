package fuota

import "testing"

func TestProgressCountsEveryStep(t *testing.T) {
	for _, s := range []Step{StepProbe, StepKeys, StepMcGroup, StepFragSetup, StepReady, StepSession,
		StepMulticast, StepStatus, StepUpgrade, StepReboot, StepVersion, StepDone} {
		if _, ok := stepRank[s]; !ok {
			t.Errorf("step %q has no rank", s)
		}
	}
}

func TestProgressOfNewDeployment(t *testing.T) {
	d := testDeployment(t, []*fakeDev{newFakeDev(0, v1), newFakeDev(1, v2)}, nil)
	p := d.Progress()
	if p.Phase != PhaseNew || p.Devices != 2 || p.Steps[StepProbe] != 2 || p.Ready != 0 || len(p.Outcomes) != 0 {
		t.Errorf("progress = %+v, want phase new, 2 devices probing, none ready", p)
	}
	if p.FragmentsPlanned != d.plan.Frames || p.FragmentsPlanned == 0 || p.FragmentsSent != 0 {
		t.Errorf("fragments sent/planned = %d/%d, want 0/%d", p.FragmentsSent, p.FragmentsPlanned, d.plan.Frames)
	}
}
