// Package dutycycle keeps the airtime ledger of one gateway sub-band and decides
// when a frame may go on air under the two enforcement styles gateways use
// (shared/RADIO.md §4.2):
//
//   - SlidingWindow, as ChirpStack Concentratord and TTS do it: within any window of
//     one hour the airtime may not exceed d·1h. A frame is refused if the window
//     ending at its end would exceed the budget, or if it would push an already
//     scheduled later frame over it. Bursts are allowed.
//   - OffTime, as LoRa Basics Station and the end-device rule do it: after a frame
//     of airtime A the band is blocked until start + A/d. No bursts.
//
// The same ledger serves the server's pacer (never offer a frame the gateway will
// refuse) and the simulated gateway (refuse what a real one refuses), so the two
// cannot disagree.
package dutycycle

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Model is a duty-cycle enforcement style.
type Model uint8

const (
	// SlidingWindow limits the airtime in every window of Window length.
	SlidingWindow Model = iota + 1
	// OffTime blocks the band for A/d after the start of each frame of airtime A.
	OffTime
)

func (m Model) String() string {
	switch m {
	case SlidingWindow:
		return "sliding-window"
	case OffTime:
		return "off-time"
	}
	return fmt.Sprintf("Model(%d)", uint8(m))
}

// ParseModel reads a model name as String writes it; "concentratord" and
// "basic-station" are accepted as the gateways that use each.
func ParseModel(s string) (Model, error) {
	switch s {
	case "sliding-window", "window", "concentratord":
		return SlidingWindow, nil
	case "off-time", "blocking", "basic-station":
		return OffTime, nil
	}
	return 0, fmt.Errorf("duty-cycle model %q: want sliding-window (concentratord) or off-time (basic-station)", s)
}

// DefaultWindow is the ETSI observation period used by Concentratord and TTS.
const DefaultWindow = time.Hour

// ErrOverflow is returned for a frame the sub-band's duty cycle does not allow;
// ChirpStack reports it as DUTY_CYCLE_OVERFLOW.
var ErrOverflow = errors.New("duty cycle overflow")

// Frame is one transmission recorded in a ledger.
type Frame struct {
	Start   time.Time
	Airtime time.Duration
}

// End is when the frame leaves the air.
func (f Frame) End() time.Time { return f.Start.Add(f.Airtime) }

// Ledger is the airtime record of one sub-band of one gateway. The zero value is
// not usable; create one with New.
type Ledger struct {
	model  Model
	limit  float64       // duty cycle d, 0 < d ≤ 1
	window time.Duration // SlidingWindow observation period
	budget time.Duration // window · d
	frames []Frame       // sorted by Start
}

// New returns an empty ledger. limit is the duty cycle d (0.1 for 10 %); 1 means
// no regulatory limit. window is the SlidingWindow observation period (0 means
// DefaultWindow); OffTime ignores it.
func New(model Model, limit float64, window time.Duration) (*Ledger, error) {
	if model != SlidingWindow && model != OffTime {
		return nil, fmt.Errorf("dutycycle: model: %v is not a model", model)
	}
	if !(limit > 0 && limit <= 1) {
		return nil, fmt.Errorf("dutycycle: limit: %v not in (0, 1]", limit)
	}
	if window == 0 {
		window = DefaultWindow
	}
	if window < 0 {
		return nil, fmt.Errorf("dutycycle: window: %v is negative", window)
	}
	return &Ledger{
		model:  model,
		limit:  limit,
		window: window,
		budget: time.Duration(math.Floor(float64(window) * limit)),
	}, nil
}

// Model returns the enforcement style.
func (l *Ledger) Model() Model { return l.model }

// Limit returns the duty cycle d.
func (l *Ledger) Limit() float64 { return l.limit }

// Clone returns an independent copy of the ledger, for trying a schedule
// without recording it.
func (l *Ledger) Clone() *Ledger {
	c := *l
	c.frames = l.Frames()
	return &c
}

// Frames returns a copy of the recorded frames, oldest first.
func (l *Ledger) Frames() []Frame { return append([]Frame(nil), l.frames...) }

// offTime is how long a frame of airtime a blocks the band, counted from its start.
func (l *Ledger) offTime(a time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(a) / l.limit))
}

// Check reports whether a frame of airtime a may start at start, without
// recording it. It returns an error wrapping ErrOverflow when the duty cycle does
// not allow it.
func (l *Ledger) Check(start time.Time, a time.Duration) error {
	if a <= 0 {
		return fmt.Errorf("dutycycle: airtime %v is not positive", a)
	}
	switch l.model {
	case OffTime:
		return l.checkOffTime(start, a)
	default:
		return l.checkWindow(start, a)
	}
}

// Add records a frame if the duty cycle allows it; otherwise it returns an error
// wrapping ErrOverflow and records nothing.
func (l *Ledger) Add(start time.Time, a time.Duration) error {
	if err := l.Check(start, a); err != nil {
		return err
	}
	f := Frame{Start: start, Airtime: a}
	i := sort.Search(len(l.frames), func(i int) bool { return l.frames[i].Start.After(start) })
	l.frames = append(l.frames, Frame{})
	copy(l.frames[i+1:], l.frames[i:])
	l.frames[i] = f
	return nil
}

func (l *Ledger) checkOffTime(start time.Time, a time.Duration) error {
	for _, f := range l.frames {
		switch {
		case !f.Start.After(start):
			if free := f.Start.Add(l.offTime(f.Airtime)); start.Before(free) {
				return fmt.Errorf("%w: band blocked until %s by the frame at %s (off-time %v)",
					ErrOverflow, free.Format(time.RFC3339Nano), f.Start.Format(time.RFC3339Nano), l.offTime(f.Airtime))
			}
		default:
			if free := start.Add(l.offTime(a)); f.Start.Before(free) {
				return fmt.Errorf("%w: would block the band until %s, past the frame scheduled at %s",
					ErrOverflow, free.Format(time.RFC3339Nano), f.Start.Format(time.RFC3339Nano))
			}
		}
	}
	return nil
}

// usedIn returns the airtime of the recorded frames (plus extra, if not nil)
// inside the window (end−window, end].
func (l *Ledger) usedIn(end time.Time, extra *Frame) time.Duration {
	from := end.Add(-l.window)
	var used time.Duration
	add := func(f Frame) {
		s, e := f.Start, f.End()
		if s.Before(from) {
			s = from
		}
		if e.After(end) {
			e = end
		}
		if e.After(s) {
			used += e.Sub(s)
		}
	}
	for _, f := range l.frames {
		add(f)
	}
	if extra != nil {
		add(*extra)
	}
	return used
}

func (l *Ledger) checkWindow(start time.Time, a time.Duration) error {
	nf := Frame{Start: start, Airtime: a}
	// The airtime in a sliding window peaks when the window ends at the end of a
	// frame, so checking those ends (the new frame's and every later one's) is
	// enough.
	check := func(end time.Time) error {
		if used := l.usedIn(end, &nf); used > l.budget {
			return fmt.Errorf("%w: %v of airtime in the %v window ending %s, budget %v",
				ErrOverflow, used, l.window, end.Format(time.RFC3339Nano), l.budget)
		}
		return nil
	}
	if err := check(nf.End()); err != nil {
		return err
	}
	for _, f := range l.frames {
		if f.End().After(nf.End()) {
			if err := check(f.End()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Earliest returns the earliest start at or after t at which a frame of airtime a
// is allowed, assuming it goes after every recorded frame (one transmitter:
// t earlier than the end of the last recorded frame is moved to that end).
func (l *Ledger) Earliest(t time.Time, a time.Duration) (time.Time, error) {
	if a <= 0 {
		return time.Time{}, fmt.Errorf("dutycycle: airtime %v is not positive", a)
	}
	if l.model == SlidingWindow && a > l.budget {
		return time.Time{}, fmt.Errorf("%w: a frame of %v exceeds the whole %v budget", ErrOverflow, a, l.budget)
	}
	if n := len(l.frames); n > 0 {
		if last := l.frames[n-1].End(); t.Before(last) {
			t = last
		}
	}
	if l.model == OffTime {
		for _, f := range l.frames {
			if free := f.Start.Add(l.offTime(f.Airtime)); t.Before(free) {
				t = free
			}
		}
		return t, nil
	}
	return l.earliestWindow(t, a), nil
}

// earliestWindow finds the first s ≥ t with used(s+a−W, s+a] + a ≤ budget. With
// s past every recorded frame, used falls as s grows, linearly while the window's
// start crosses a frame and flat in between, so walking the breakpoints and
// solving the linear piece gives the exact answer.
func (l *Ledger) earliestWindow(t time.Time, a time.Duration) time.Time {
	used := func(s time.Time) time.Duration { return l.usedIn(s.Add(a), nil) }
	if used(t)+a <= l.budget {
		return t
	}
	// Breakpoints: s where the window start s+a−W meets a frame's start or end.
	lead := l.window - a
	var bps []time.Time
	for _, f := range l.frames {
		for _, edge := range []time.Time{f.Start, f.End()} {
			if bp := edge.Add(lead); bp.After(t) {
				bps = append(bps, bp)
			}
		}
	}
	sort.Slice(bps, func(i, j int) bool { return bps[i].Before(bps[j]) })
	prev, prevUsed := t, used(t)
	for _, bp := range bps {
		u := used(bp)
		if u+a <= l.budget {
			// Between prev and bp, used falls linearly from prevUsed to u.
			excess := prevUsed + a - l.budget
			drop := prevUsed - u
			if drop <= 0 {
				return bp
			}
			span := bp.Sub(prev)
			step := time.Duration(math.Ceil(float64(excess) * float64(span) / float64(drop)))
			if s := prev.Add(step); s.Before(bp) {
				return s
			}
			return bp
		}
		prev, prevUsed = bp, u
	}
	// Every frame has left the window.
	return prev
}

// Used returns the airtime on air in the window of the ledger's length ending at
// t (for OffTime, the same one-hour accounting as SlidingWindow, for reports).
func (l *Ledger) Used(t time.Time) time.Duration { return l.usedIn(t, nil) }

// Headroom returns how much more airtime the window ending at t could take.
func (l *Ledger) Headroom(t time.Time) time.Duration {
	if h := l.budget - l.Used(t); h > 0 {
		return h
	}
	return 0
}

// Prune forgets frames that can no longer affect any decision at or after t.
func (l *Ledger) Prune(t time.Time) {
	keep := l.frames[:0]
	for _, f := range l.frames {
		if f.End().Add(l.window).After(t) || f.Start.Add(l.offTime(f.Airtime)).After(t) {
			keep = append(keep, f)
		}
	}
	l.frames = keep
}

// MinDuration is the shortest time from the start of the first to the end of the
// last of n frames of airtime a each under the model, with starts at least
// spacing apart (a network server's fixed margin, or airtime plus the gateway's
// gap between frames; 0 for none). It is the lower bound a pacer is measured
// against (shared/RADIO.md §5.1); for SlidingWindow it is the continuous bound
// W·k + (A − B·k), k = ⌈A/B⌉ − 1, which discrete frames can approach but not
// beat. A duration too long for time.Duration (about 292 years) is an error.
func MinDuration(model Model, limit float64, window time.Duration, n int, a, spacing time.Duration) (time.Duration, error) {
	l, err := New(model, limit, window)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, nil
	}
	if a <= 0 || spacing < 0 {
		return 0, fmt.Errorf("dutycycle: airtime %v and spacing %v: airtime must be positive, spacing not negative", a, spacing)
	}
	// Work in float seconds, then check the result fits a Duration: n·a/d
	// overflows int64 nanoseconds for long campaigns in 0.1 % bands.
	step := max(a, spacing).Seconds()
	secs := float64(n-1)*step + a.Seconds()
	switch model {
	case OffTime:
		secs = max(secs, float64(n-1)*max(l.offTime(a).Seconds(), step)+a.Seconds())
	default:
		if l.budget <= 0 {
			return 0, fmt.Errorf("dutycycle: window %v at limit %v leaves no budget", l.window, limit)
		}
		total, budget := float64(n)*a.Seconds(), l.budget.Seconds()
		byDuty := total
		if total > budget {
			k := math.Ceil(total/budget) - 1
			byDuty = k*l.window.Seconds() + total - k*budget
		}
		// With the spacing: m+1 frames never start within W − a of each
		// other (all m+1 would lie in one window), so frame q·m+1 starts at
		// least q·(W − a) after the first, and the r−1 after it are spaced.
		if m := int(math.Floor(budget / a.Seconds())); m > 0 && n > m {
			q := (n - 1) / m
			r := n - q*m
			bySpacing := float64(q)*(l.window.Seconds()-a.Seconds()) + float64(r-1)*step + a.Seconds()
			byDuty = max(byDuty, bySpacing)
		}
		secs = max(secs, byDuty)
	}
	if secs >= float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("dutycycle: %d frames of %v at %v take %.3g s, beyond what a time.Duration holds", n, a, limit, secs)
	}
	// Round to the nanosecond: the inputs are whole nanoseconds.
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}
