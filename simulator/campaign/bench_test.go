package campaign_test

import (
	"fmt"
	"testing"

	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/campaign"
)

// BenchmarkCampaign runs the demo's campaign (100 class C devices, a 64 KiB
// image, 10 % loss, one gateway, ChirpStack's 5 s margin) at EU868 DR5 and
// DR0 under both duty-cycle models, and reports what issue 6 judges the
// pacer by: the multicast's span over its lower bound (target ≤ 1.05), the
// frames any gateway refused (target 0), and how many devices ended updated.
// Each iteration is a whole campaign in virtual time; run it with
// -benchtime=1x.
func BenchmarkCampaign(b *testing.B) {
	for _, dr := range []int{5, 0} {
		for _, model := range []dutycycle.Model{dutycycle.SlidingWindow, dutycycle.OffTime} {
			b.Run(fmt.Sprintf("DR%d/%v", dr, model), func(b *testing.B) {
				var s *campaign.Summary
				for b.Loop() {
					var err error
					s, err = campaign.Run(b.Context(), campaign.Config{
						Plan:    fuota.PlanRequest{ImageSize: 64 << 10, Region: region.EU868, DR: dr, ExpectedLoss: 0.1, DutyCycleModel: model},
						Devices: 100, Loss: 0.1, Seed: 1,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(s.Multicast.Seconds()/s.LowerBound.Seconds(), "multicast/bound")
				b.ReportMetric(float64(s.Rejections), "rejections")
				b.ReportMetric(float64(s.Updated), "updated")
				b.ReportMetric(s.Multicast.Seconds(), "multicast-s")
				b.ReportMetric(s.Campaign.Seconds(), "campaign-s")
			})
		}
	}
}
