package fuota

import (
	"fmt"
	"math"
)

// DecodeOverhead is how many fragments beyond NbFrag a device needs to decode
// with 99 % probability (TS004 v2 Annex A.3; shared/PROTOCOLS.md §1.5 measured
// the same: mean ≈ 1.6, P(≤ 7) ≥ 0.987).
const DecodeOverhead = 7

// SizeRedundancy returns the smallest number of parity fragments R such that a
// device losing each frame independently with probability loss receives at least
// nbFrag + DecodeOverhead of the nbFrag + R frames with probability ≥ perDevice
// (shared/RADIO.md §9.1). limit bounds nbFrag + R; past it the error says so.
func SizeRedundancy(nbFrag int, loss, perDevice float64, limit int) (int, error) {
	switch {
	case nbFrag <= 0:
		return 0, fmt.Errorf("nb_frag %d: must be positive", nbFrag)
	case !(loss >= 0 && loss < 1):
		return 0, fmt.Errorf("expected loss %v: must be in [0, 1)", loss)
	case !(perDevice > 0 && perDevice < 1):
		return 0, fmt.Errorf("per-device success target %v: must be in (0, 1)", perDevice)
	}
	if loss == 0 {
		return 0, nil
	}
	need := nbFrag + DecodeOverhead
	ok := func(r int) bool { return binomialTail(nbFrag+r, need, 1-loss) >= perDevice }
	// The tail grows with R: double to bracket, then bisect.
	hi := DecodeOverhead
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
