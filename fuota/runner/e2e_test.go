package runner_test

import (
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator"
	"github.com/lorafuota/lorafuota/simulator/boot"
)

func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
	}{
		{"lossless", 0},
		{"10% loss", 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := simulator.DefaultScenario()
			g := &sc.Devices[0]
			g.Count = 5
			g.Stack = "spec"
			g.Versions = simulator.VersionsSpec{ClockSync: 2, Multicast: 2, Fragmentation: 2, FirmwareManagement: 1}
			if tc.loss > 0 {
				g.Loss = &simulator.LossSpec{Model: "bernoulli", P: tc.loss}
			}
			r := newRig(t, sc, 7)

			newVersion := image.Version{Major: 2}
			img := r.firmware(newVersion, boot.Good, 4096)
			r.start(r.deployment(img, tc.loss))
			verdicts := r.finish(6 * time.Hour)
			for _, d := range r.net.Devices() {
				if v := verdicts[d.DevEUI()]; v.Outcome != fuota.Updated {
					t.Errorf("%s: verdict %+v, want updated", d.DevEUI(), v)
				}
				if got := running(t, d); got != newVersion {
					t.Errorf("%s: runs %s, want %s", d.DevEUI(), got, newVersion)
				}
			}
			// What was stored is enough to rebuild the deployment.
			r.checkStored(img)
			t.Logf("done at +%s virtual", r.clk.Now().Sub(epoch))
		})
	}
}
