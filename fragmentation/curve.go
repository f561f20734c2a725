package fragmentation

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// CurveConfig describes a recovery-curve simulation: a data block of NbFrag
// uncoded fragments sent in order with Redundancy parity fragments, received
// by a Decoder with MaxLost, through a channel that loses each fragment
// independently with the given probability.
type CurveConfig struct {
	NbFrag     int
	Redundancy int // parity fragments sent after the NbFrag uncoded ones
	Matrix     Matrix
	MaxLost    int // the receiving device's Lmax; 0 for no limit
	LossRates  []float64
	Trials     int    // trials per loss rate
	Seed       uint64 // the same seed gives the same curve
}

// CurvePoint is the outcome of the trials at one loss rate.
type CurvePoint struct {
	LossRate  float64
	Trials    int
	Successes int
	// SuccessRate is Successes/Trials.
	SuccessRate float64
	// MeanExtra is the mean, over successful trials, of the fragments
	// received up to completion beyond NbFrag (0 if none succeeded).
	MeanExtra float64
	// MaxExtra is the largest such number.
	MaxExtra int
	// TooManyLost counts the failed trials in which more uncoded fragments
	// were lost than MaxLost, so that coded fragments were dropped.
	TooManyLost int
}

// Curve simulates cfg.Trials sessions per loss rate and reports how many
// complete and how many fragments beyond NbFrag they needed: the curve from
// which to choose the redundancy. It runs the Decoder's own elimination,
// without payloads.
func Curve(cfg CurveConfig) ([]CurvePoint, error) {
	if err := checkSession(cfg.NbFrag, 1, cfg.Redundancy); err != nil {
		return nil, err
	}
	if !cfg.Matrix.valid() {
		return nil, fmt.Errorf("%w: unknown matrix %v", ErrFECParameter, cfg.Matrix)
	}
	if cfg.Trials < 1 {
		return nil, fmt.Errorf("%w: %d trials (want at least 1)", ErrFECParameter, cfg.Trials)
	}
	if cfg.MaxLost < 0 {
		return nil, fmt.Errorf("%w: negative MaxLost %d", ErrFECParameter, cfg.MaxLost)
	}
	for _, p := range cfg.LossRates {
		if !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("%w: loss rate %v out of range 0..1", ErrFECParameter, p)
		}
	}
	points := make([]CurvePoint, len(cfg.LossRates))
	for i, p := range cfg.LossRates {
		// One generator per point, so that a point does not depend on
		// the others in the list.
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		pt := CurvePoint{LossRate: p, Trials: cfg.Trials}
		extra := 0
		for range cfg.Trials {
			ok, x, tooMany, err := curveTrial(cfg, p, rng)
			if err != nil {
				return nil, err
			}
			switch {
			case ok:
				pt.Successes++
				extra += x
				pt.MaxExtra = max(pt.MaxExtra, x)
			case tooMany:
				pt.TooManyLost++
			}
		}
		pt.SuccessRate = float64(pt.Successes) / float64(pt.Trials)
		if pt.Successes > 0 {
			pt.MeanExtra = float64(extra) / float64(pt.Successes)
		}
		points[i] = pt
	}
	return points, nil
}

// curveTrial runs one session and reports whether it completed, with how many
// fragments beyond NbFrag, or whether coded fragments had to be dropped.
func curveTrial(cfg CurveConfig, p float64, rng *rand.Rand) (ok bool, extra int, tooMany bool, err error) {
	d := newDecoder(cfg.NbFrag, cfg.Matrix, cfg.MaxLost)
	d.noData = true
	received := 0
	for n := 1; n <= cfg.NbFrag+cfg.Redundancy; n++ {
		if rng.Float64() < p {
			continue
		}
		received++
		done, err := d.Push(n, nil)
		switch {
		case errors.Is(err, ErrTooManyLost):
			tooMany = true
		case err != nil:
			return false, 0, false, err
		case done:
			return true, received - cfg.NbFrag, false, nil
		}
	}
	return false, 0, tooMany, nil
}
