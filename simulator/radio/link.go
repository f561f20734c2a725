package radio

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Position is a point on the simulated plane, in metres.
type Position struct {
	X, Y float64
}

// Distance returns the distance between p and q in metres.
func (p Position) Distance(q Position) float64 { return math.Hypot(p.X-q.X, p.Y-q.Y) }

// Okumura–Hata, urban small/medium city, 868 MHz, 30 m base station, 1.5 m
// mobile: 69.55 + 26.16·log10(868) − 13.82·log10(30) − a(1.5) = 126.0 dB at
// 1 km, and 44.9 − 6.55·log10(30) = 35.2 dB per decade.
const (
	HataRefDB       = 126.0
	HataRefDistance = 1000.0 // metres
	HataExponent    = 3.52
)

// DefaultNoiseFigureDB is the receiver noise figure of the noise floor.
const DefaultNoiseFigureDB = 6.0

// DefaultSigmaDB is the per-frame fade of links made from positions.
const DefaultSigmaDB = 4.0

// PathLoss is a log-distance path-loss model. The zero value stands for
// HataUrban where a Config takes one.
type PathLoss struct {
	RefDB       float64 // loss at RefDistance, dB
	RefDistance float64 // metres
	Exponent    float64 // n: 10·n dB per decade of distance
}

// HataUrban returns the default model, Okumura–Hata urban at 868 MHz.
func HataUrban() PathLoss {
	return PathLoss{RefDB: HataRefDB, RefDistance: HataRefDistance, Exponent: HataExponent}
}

func (p PathLoss) validate() error {
	if !(p.RefDistance > 0) || !(p.Exponent > 0) || math.IsNaN(p.RefDB) || math.IsInf(p.RefDB, 0) {
		return fmt.Errorf("path loss %+v: want a finite RefDB and positive RefDistance and Exponent", p)
	}
	return nil
}

// DB returns the path loss over distance metres at freqHz. Distances below
// 1 m count as 1 m, and the loss is never below free space, where the
// log-distance fit would extrapolate to nonsense.
func (p PathLoss) DB(distance float64, freqHz uint32) float64 {
	d := max(distance, 1)
	return max(p.RefDB+10*p.Exponent*math.Log10(d/p.RefDistance), FreeSpaceDB(d, freqHz))
}

// FreeSpaceDB returns the free-space path loss over distance metres at freqHz.
func FreeSpaceDB(distance float64, freqHz uint32) float64 {
	return 20*math.Log10(distance) + 20*math.Log10(float64(freqHz)/1e6) - 27.55
}

// NoiseFloorDBm returns the thermal noise over bandwidthHz plus the
// receiver's noise figure: −174 dBm/Hz + 10·log10(BW) + NF.
func NoiseFloorDBm(bandwidthHz int, noiseFigureDB float64) float64 {
	return -174 + 10*math.Log10(float64(bandwidthHz)) + noiseFigureDB
}

// DemodFloorDB returns the lowest SNR at which a LoRa frame of spreading
// factor sf can be demodulated: −7.5 dB at SF7, 2.5 dB lower per SF step,
// −20 dB at SF12.
func DemodFloorDB(sf int) float64 { return -7.5 - 2.5*float64(sf-7) }

// Loss is a link's loss model: Bernoulli, GilbertElliott or LinkBudget.
type Loss interface {
	// newState validates the model and returns the per-link state that
	// decides frame after frame.
	newState() (lossState, error)
}

// lossState decides the fate of the next frame on one link.
type lossState interface {
	// next draws from r whether a frame with mean SNR margin marginDB is
	// lost, and the fade (dB) to add to its reported RSSI and SNR.
	next(r *rand.Rand, marginDB float64) (lost bool, fadeDB float64)
}

func probability(name string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("%s %v not in [0, 1]", name, p)
	}
	return nil
}

// Bernoulli loses each frame independently with probability P.
type Bernoulli struct {
	P float64
}

func (b Bernoulli) newState() (lossState, error) {
	if err := probability("Bernoulli P", b.P); err != nil {
		return nil, err
	}
	return b, nil
}

func (b Bernoulli) next(r *rand.Rand, _ float64) (bool, float64) {
	return r.Float64() < b.P, 0
}

// GilbertElliott is the two-state bursty loss model: a frame meeting the
// good state is lost with LossGood, one meeting the bad state with LossBad;
// after each frame the state flips with PGoodToBad or PBadToGood.
type GilbertElliott struct {
	PGoodToBad, PBadToGood float64
	LossGood, LossBad      float64
}

func (g GilbertElliott) newState() (lossState, error) {
	err := errors.Join(
		probability("GilbertElliott PGoodToBad", g.PGoodToBad),
		probability("GilbertElliott PBadToGood", g.PBadToGood),
		probability("GilbertElliott LossGood", g.LossGood),
		probability("GilbertElliott LossBad", g.LossBad))
	if err != nil {
		return nil, err
	}
	return &geState{model: g}, nil
}

type geState struct {
	model GilbertElliott
	bad   bool
}

func (s *geState) next(r *rand.Rand, _ float64) (bool, float64) {
	// Two draws per frame whatever the state, so that a link's stream
	// stays aligned frame for frame across parameter changes.
	loss, flip := r.Float64(), r.Float64()
	var lost bool
	if s.bad {
		lost = loss < s.model.LossBad
		s.bad = flip >= s.model.PBadToGood
	} else {
		lost = loss < s.model.LossGood
		s.bad = flip < s.model.PGoodToBad
	}
	return lost, 0
}

// LinkBudget loses a frame whose SNR, the link's mean plus a Gaussian fade
// of SigmaDB, falls below the demodulation floor of its spreading factor.
// SigmaDB 0 makes the threshold hard.
type LinkBudget struct {
	SigmaDB float64
}

func (l LinkBudget) newState() (lossState, error) {
	if !(l.SigmaDB >= 0) || math.IsInf(l.SigmaDB, 0) {
		return nil, fmt.Errorf("LinkBudget SigmaDB %v: want a finite value ≥ 0", l.SigmaDB)
	}
	return l, nil
}

func (l LinkBudget) next(r *rand.Rand, marginDB float64) (bool, float64) {
	var fade float64
	if l.SigmaDB > 0 {
		fade = r.NormFloat64() * l.SigmaDB
	}
	return marginDB+fade < 0, fade
}

// LossProbability returns the share of frames a LinkBudget link with mean
// margin marginDB and fade sigmaDB loses: Φ(−m/σ).
func LossProbability(marginDB, sigmaDB float64) float64 {
	if sigmaDB <= 0 {
		if marginDB < 0 {
			return 1
		}
		return 0
	}
	return 0.5 * math.Erfc(marginDB/(sigmaDB*math.Sqrt2))
}

// Link configures one device × gateway pair.
type Link struct {
	// Loss decides which frames the link loses; nil loses none.
	Loss Loss
	// PathLossDB is the mean path loss of the link. Zero means: from the
	// distance between the two ends under the medium's PathLoss, which
	// then need positions.
	PathLossDB float64
}

// Budget is the mean link budget of a pair for one data rate and power.
type Budget struct {
	Distance   float64 // metres; 0 if either end has no position
	PathLossDB float64
	RSSI       float64 // dBm
	SNR        float64 // dB
	MarginDB   float64 // SNR above the demodulation floor
}
