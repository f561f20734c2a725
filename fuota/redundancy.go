package fuota

import (
	"fmt"
	"math"
)

// DecodeOverhead is how many fragments beyond NbFrag a device needs to decode
// with 99 % probability (TS004 v2 Annex A.3; shared/PROTOCOLS.md §1.5 measured
// the same: mean ≈ 1.6, P(≤ 7) ≥ 0.987).
const DecodeOverhead = 7

// DecodeOverheadFor returns the extra fragments δ after which the received rows
// fail to have full rank with probability at most failure. For the TS004 code,
// as for a random binary matrix, that probability falls about as 2^−δ
// (PROTOCOLS.md §1.5: P(extra ≤ 2, 5, 7) ≈ 0.77, 0.97, 0.993 against 1 − 2^−δ
// = 0.75, 0.97, 0.992), so δ = ⌈log2(1/failure)⌉.
func DecodeOverheadFor(failure float64) int {
	if !(failure > 0 && failure < 1) {
		return DecodeOverhead
	}
	return max(1, int(math.Ceil(math.Log2(1/failure))))
}

// SizeRedundancy returns the smallest number of parity fragments R such that a
// device losing each frame independently with probability loss receives at least
// nbFrag + overhead of the nbFrag + R frames with probability ≥ perDevice
// (shared/RADIO.md §9.1). limit bounds nbFrag + R; past it the error says so.
func SizeRedundancy(nbFrag int, loss, perDevice float64, overhead, limit int) (int, error) {
	switch {
	case nbFrag <= 0:
		return 0, fmt.Errorf("nb_frag %d: must be positive", nbFrag)
	case !(loss >= 0 && loss < 1):
		return 0, fmt.Errorf("expected loss %v: must be in [0, 1)", loss)
	case !(perDevice > 0 && perDevice < 1):
		return 0, fmt.Errorf("per-device success target %v: must be in (0, 1)", perDevice)
	case overhead < 0:
		return 0, fmt.Errorf("decode overhead %d: must not be negative", overhead)
	}
	if loss == 0 {
		return 0, nil
	}
	need := nbFrag + overhead
	ok := func(r int) bool { return binomialTail(nbFrag+r, need, 1-loss) >= perDevice }
	// The tail grows with R: double to bracket, then bisect.
	hi := max(overhead, 1)
	for !ok(hi) {
		if nbFrag+hi > limit {
			return 0, fmt.Errorf("%d fragments at %.1f %% loss need more than %d parity fragments: nb_frag + redundancy would exceed %d",
				nbFrag, loss*100, limit-nbFrag, limit)
		}
		hi *= 2
	}
	lo := 0
	for lo < hi {
		mid := (lo + hi) / 2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if nbFrag+lo > limit {
		return 0, fmt.Errorf("%d fragments at %.1f %% loss need %d parity fragments: nb_frag + redundancy %d exceeds %d",
			nbFrag, loss*100, lo, nbFrag+lo, limit)
	}
	return lo, nil
}

// binomialTail returns P[X ≥ k] for X ~ Bin(n, p), summed in log space so that
// n in the tens of thousands neither overflows nor underflows.
func binomialTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if k > n {
		return 0
	}
	if p >= 1 {
		return 1
	}
	lnP, lnQ := math.Log(p), math.Log1p(-p)
	lgN, _ := math.Lgamma(float64(n + 1))
	var sum float64
	for i := k; i <= n; i++ {
		lgI, _ := math.Lgamma(float64(i + 1))
		lgNI, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgN - lgI - lgNI + float64(i)*lnP + float64(n-i)*lnQ)
	}
	return math.Min(sum, 1)
}
