package multicast

import (
	"encoding/hex"
	"testing"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/applayer/applayertest"
)

// FuzzDecodeFrame checks that no frame panics the decoder and that whatever
// decodes, in either direction and version, encodes and decodes again to the
// same commands. The seed corpus in testdata/fuzz/FuzzDecodeFrame holds the
// vectors; they are added here too so that a new vector seeds the fuzzer
// without regenerating files.
func FuzzDecodeFrame(f *testing.F) {
	for _, v := range vectors() {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			f.Fatalf("%s: %v", v.Name, err)
		}
		f.Add(b)
	}
	p := Package()
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, dir := range []applayer.Direction{applayer.Uplink, applayer.Downlink} {
			for _, version := range p.Versions {
				applayertest.CheckStable(t, p, frame, dir, version)
			}
		}
	})
}
