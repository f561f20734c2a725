package fragmentation

import (
	"errors"
	"reflect"
	"testing"
)

func TestCurve(t *testing.T) {
	cfg := CurveConfig{NbFrag: 300, Redundancy: 300, LossRates: []float64{0, 0.1, 0.3}, Trials: 150, Seed: 7}
	pts, err := Curve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pts[0].SuccessRate != 1 || pts[0].MeanExtra != 0 {
		t.Errorf("no loss: %+v", pts[0])
	}
	// With ample redundancy the overhead is intrinsic to the code: about
	// 1.6 fragments on average (shared/PROTOCOLS.md §1.5).
	for _, pt := range pts[1:] {
		if pt.SuccessRate != 1 || pt.MeanExtra < 1 || pt.MeanExtra > 2.5 || pt.MaxExtra > 20 {
			t.Errorf("loss %v: %+v", pt.LossRate, pt)
		}
	}
	again, err := Curve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pts, again) {
		t.Error("same seed, different curve")
	}
	// A point does not depend on the others in the list.
	cfg.LossRates = []float64{0}
	one, err := Curve(cfg)
	if err != nil || one[0] != pts[0] {
		t.Errorf("single point %+v, %v; want %+v", one, err, pts[0])
	}
}

func TestCurveCliff(t *testing.T) {
	// 10 % redundancy cannot carry 20 % loss; MaxLost 20 cannot hold the
	// 30 lost fragments of 10 % loss either.
	pts, err := Curve(CurveConfig{NbFrag: 300, Redundancy: 30, Matrix: MatrixV2, LossRates: []float64{0.2}, Trials: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pts[0].Successes != 0 || pts[0].TooManyLost != 0 {
		t.Errorf("20%% loss, 10%% redundancy: %+v", pts[0])
	}
	pts, err = Curve(CurveConfig{NbFrag: 300, Redundancy: 100, MaxLost: 20, LossRates: []float64{0.1}, Trials: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pts[0].TooManyLost == 0 || pts[0].TooManyLost+pts[0].Successes != 40 {
		t.Errorf("MaxLost 20 at 10%% loss: %+v", pts[0])
	}
}

func TestCurveRefuses(t *testing.T) {
	for _, cfg := range []CurveConfig{
		{NbFrag: 0, Trials: 1},
		{NbFrag: 10, Redundancy: 16380, Trials: 1},
		{NbFrag: 10, Trials: 0},
		{NbFrag: 10, Trials: 1, LossRates: []float64{1.5}},
		{NbFrag: 10, Trials: 1, MaxLost: -1},
	} {
		if _, err := Curve(cfg); !errors.Is(err, ErrFECParameter) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
