package clocksync

import (
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/applayer/applayertest"
)

// FuzzDecodeFrame feeds any bytes to the decoder in both directions and both
// versions; decoding must not panic, and whatever decodes must re-encode stably.
// Seeds are in testdata/fuzz/FuzzDecodeFrame.
func FuzzDecodeFrame(f *testing.F) {
	p := Package()
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, dir := range []applayer.Direction{applayer.Uplink, applayer.Downlink} {
			for _, v := range p.Versions {
				applayertest.CheckStable(t, p, frame, dir, v)
			}
		}
	})
}
