package runner_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
)

// fleet is a group of alike devices in a matrix case and the verdict each of
// them must get.
type fleet struct {
	count    int
	stack    string
	versions simulator.VersionsSpec
	loss     *simulator.LossSpec
	// offset and driftPPM describe the devices' clocks.
	offset   time.Duration
	driftPPM float64

	want fuota.Outcome
	// step is where a failed device stopped, and reason part of why.
	step   fuota.Step
	reason string
	// lostEvidence, if set, is the reason of a Failed verdict at the status
	// step also accepted from a device whose only evidence of completion is
	// one unconfirmed uplink the loss may take (LoRaMac-node's 0x05); at
	// least one device of the fleet must still get the wanted verdict.
	lostEvidence string
}

// Package versions: TS003, TS005 and TS004 at v1 or v2, TS006 at the
// stack's highest (none for LoRaMac-node).
var (
	v1 = simulator.VersionsSpec{ClockSync: 1, Multicast: 1, Fragmentation: 1}
	v2 = simulator.VersionsSpec{ClockSync: 2, Multicast: 2, Fragmentation: 2}
)

func bernoulli(p float64) *simulator.LossSpec {
	return &simulator.LossSpec{Model: "bernoulli", P: p}
}

// bursty is a Gilbert–Elliott link that spends about one frame in seven in
// its bad state and loses about 12 % of them overall.
var bursty = &simulator.LossSpec{Model: "gilbert-elliott", PGoodToBad: 0.05, PBadToGood: 0.3, LossGood: 0.01, LossBad: 0.8}

// TestMatrix runs whole campaigns through the runner against the simulated
// field for the cases of issue 6's "Done when" that the engine handles.
func TestMatrix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fleets []fleet
		// loss is the expected loss the campaign is planned for.
		loss float64
		// behaviour is what the new firmware does once it runs.
		behaviour boot.Behaviour
		// restart, if set, is the phase in which the server restarts, after
		// restartAfter more in it.
		restart      fuota.Phase
		restartAfter time.Duration
		// classB runs the multicast as a class B session, to class A
		// devices that take their unicasts after their uplinks.
		classB bool
		// confirmByReset sets DeploymentConfig.ConfirmByReset.
		confirmByReset bool
	}{
		{name: "spec v1", fleets: []fleet{{count: 4, stack: "spec", versions: v1, want: fuota.Updated}}},
		{name: "spec v2", fleets: []fleet{{count: 4, stack: "spec", versions: v2, want: fuota.Updated}}},
		{name: "spec v1 20% loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "spec", versions: v1, loss: bernoulli(0.2), want: fuota.Updated}}},
		{name: "spec v2 20% loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "spec", versions: v2, loss: bernoulli(0.2), want: fuota.Updated}}},
		{name: "spec v2 bursty loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "spec", versions: v2, loss: bursty, want: fuota.Updated}}},
		// LoRaMac-node has no TS006: the image is rebuilt but not installed.
		{name: "loramac-node v1", fleets: []fleet{{count: 4, stack: "loramac-node", versions: v1, want: fuota.Received}}},
		// With losses LoRaMac-node keeps reporting missing fragments after it
		// decoded the block; its 0x05 CRC32 uplink is the evidence.
		{name: "loramac-node v1 20% loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "loramac-node", versions: v1, loss: bernoulli(0.2), want: fuota.Received,
			lostEvidence: "fragments missing"}}},
		{name: "stm32cubewl v1", fleets: []fleet{{count: 4, stack: "stm32cubewl", versions: v1, want: fuota.Updated}}},
		{name: "stm32cubewl v2", fleets: []fleet{{count: 4, stack: "stm32cubewl", versions: v2, want: fuota.Updated}}},
		{name: "stm32cubewl v2 20% loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "stm32cubewl", versions: v2, loss: bernoulli(0.2), want: fuota.Updated}}},
		{name: "lora-basics-modem v1", fleets: []fleet{{count: 4, stack: "lora-basics-modem", versions: v1, want: fuota.Updated}}},
		{name: "lora-basics-modem v2", fleets: []fleet{{count: 4, stack: "lora-basics-modem", versions: v2, want: fuota.Updated}}},
		{name: "lora-basics-modem v2 20% loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "lora-basics-modem", versions: v2, loss: bernoulli(0.2), want: fuota.Updated}}},
		{name: "lora-basics-modem v2 bursty loss", loss: 0.2, fleets: []fleet{{count: 4, stack: "lora-basics-modem", versions: v2, loss: bursty, want: fuota.Updated}}},
		// One campaign sends one fragmentation version: all v1.
		{name: "mixed stacks v1", fleets: []fleet{
			{count: 1, stack: "spec", versions: v1, want: fuota.Updated},
			{count: 1, stack: "loramac-node", versions: v1, want: fuota.Received},
			{count: 1, stack: "stm32cubewl", versions: v1, want: fuota.Updated},
			{count: 1, stack: "lora-basics-modem", versions: v1, want: fuota.Updated},
		}},
		{name: "silent device", fleets: []fleet{
			{count: 3, stack: "spec", versions: v2, want: fuota.Updated},
			{count: 1, stack: "spec", versions: v2, loss: bernoulli(1), want: fuota.Failed, step: fuota.StepProbe, reason: "no PackageVersion answer"},
		}},
		{name: "drifted clock", fleets: []fleet{
			{count: 2, stack: "spec", versions: v2, want: fuota.Updated},
			{count: 2, stack: "spec", versions: v2, offset: 40 * time.Second, driftPPM: 80, want: fuota.Updated},
		}},
		{name: "reverts: hang", behaviour: boot.Hang, fleets: []fleet{{count: 3, stack: "spec", versions: v2, want: fuota.Failed, step: fuota.StepVersion, reason: "reverted"}}},
		// A firmware that never confirms runs the new version until its next
		// reset: only a second, checked reset shows it.
		{name: "never confirms, checked by a reset", behaviour: boot.NoConfirm, confirmByReset: true,
			fleets: []fleet{{count: 3, stack: "spec", versions: v2, want: fuota.Failed, step: fuota.StepVersion, reason: "never confirmed"}}},
		{name: "confirms, checked by a reset", confirmByReset: true, fleets: []fleet{{count: 3, stack: "spec", versions: v2, want: fuota.Updated}}},
		{name: "reverts: fail join", behaviour: boot.FailJoin, fleets: []fleet{{count: 3, stack: "spec", versions: v2, want: fuota.Failed, step: fuota.StepVersion, reason: "reverted"}}},
		// The verdicts of "spec v2", with the server restarted in each
		// phase: the new runner resumes from the store.
		{name: "class B session, class A devices", classB: true, fleets: []fleet{{count: 3, stack: "spec", versions: v2, want: fuota.Updated}}},
		{name: "class B session, 20% loss", classB: true, loss: 0.2, fleets: []fleet{{count: 3, stack: "lora-basics-modem", versions: v2, loss: bernoulli(0.2), want: fuota.Updated}}},
		{name: "restart in setup", restart: fuota.PhaseSetup, restartAfter: 30 * time.Second, fleets: []fleet{{count: 4, stack: "spec", versions: v2, want: fuota.Updated}}},
		{name: "restart in session setup", restart: fuota.PhaseSession, restartAfter: 20 * time.Second, fleets: []fleet{{count: 4, stack: "spec", versions: v2, want: fuota.Updated}}},
		{name: "restart in multicast", restart: fuota.PhaseMulticast, restartAfter: 40 * time.Second, fleets: []fleet{{count: 4, stack: "spec", versions: v2, want: fuota.Updated}}},
		{name: "restart in completion", restart: fuota.PhaseStatus, restartAfter: 30 * time.Second, fleets: []fleet{{count: 4, stack: "spec", versions: v2, want: fuota.Updated}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := simulator.DefaultScenario()
			sc.Devices = nil
			for i, f := range tc.fleets {
				sc.Devices = append(sc.Devices, simulator.DeviceGroup{
					Count: f.count, NamePrefix: fmt.Sprintf("%s-%d-", f.stack, i),
					DevEUIBase: fmt.Sprintf("70b3d57ed00%02x001", i), Class: deviceClass(tc.classB),
					Stack: f.stack, Versions: f.versions, Loss: f.loss,
					ClockOffset: simulator.Duration(f.offset), ClockDriftPPM: f.driftPPM,
				})
			}
			r := newRig(t, sc, 7)
			oldVersion := running(t, r.net.Devices()[0])
			newVersion := image.Version{Major: 2}
			img := r.firmware(newVersion, tc.behaviour, 4096)
			var mods []func(*fuota.DeploymentConfig)
			if tc.confirmByReset {
				mods = append(mods, func(c *fuota.DeploymentConfig) { c.ConfirmByReset = true })
			}
			if tc.classB {
				mods = append(mods, func(c *fuota.DeploymentConfig) {
					c.SessionClass = fuota.ClassB
					for i := range c.Devices {
						c.Devices[i].Class, c.Devices[i].UplinkInterval = fuota.ClassA, simulator.DefaultUplinkInterval
					}
				})
			}
			r.start(r.deployment(img, tc.loss, mods...))
			if tc.restart != "" {
				for start := r.clk.Now(); r.phase() != string(tc.restart); r.runFor(time.Second) {
					if r.runner.Done() || r.clk.Now().Sub(start) > 6*time.Hour {
						t.Fatalf("phase %s never came; in %s", tc.restart, r.phase())
					}
				}
				r.runFor(tc.restartAfter)
				if got := r.phase(); got != string(tc.restart) {
					t.Fatalf("phase %s after %s in %s; restart earlier", got, tc.restartAfter, tc.restart)
				}
				t.Logf("restart in phase %s at +%s", r.phase(), r.clk.Now().Sub(epoch))
				r.restart(img)
			}
			limit := 6 * time.Hour
			if tc.classB {
				limit = 2 * 24 * time.Hour // class A devices: one exchange per uplink
			}
			verdicts := r.finish(limit)

			devs := r.net.Devices()
			for _, f := range tc.fleets {
				wanted := 0
				for _, d := range devs[:f.count] {
					v := verdicts[d.DevEUI()]
					if f.lostEvidence != "" && v.Outcome == fuota.Failed && v.Step == fuota.StepStatus && strings.Contains(v.Reason, f.lostEvidence) {
						t.Logf("%s: %s (its evidence uplink was lost)", d.Name(), v.Reason)
					} else if v.Outcome != f.want || f.want == fuota.Failed && (v.Step != f.step || !strings.Contains(v.Reason, f.reason)) {
						t.Errorf("%s: verdict %+v, want %s at step %q for %q", d.Name(), v, f.want, f.step, f.reason)
					}
					if v.Outcome == f.want {
						wanted++
					}
					want := oldVersion
					if f.want == fuota.Updated {
						want = newVersion
					}
					if got := running(t, d); got != want {
						t.Errorf("%s: runs %s, want %s", d.Name(), got, want)
					}
				}
				if wanted == 0 {
					t.Errorf("fleet %s: no device got %s", f.stack, f.want)
				}
				devs = devs[f.count:]
			}
			r.checkStored(img)
			t.Logf("done at +%s virtual", r.clk.Now().Sub(epoch))
		})
	}
}

func deviceClass(classB bool) string {
	if classB {
		return "A"
	}
	return "C"
}
