package fuota

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/multicast"
	"github.com/lorafuota/lorafuota/region"
)

// PlanRequest is what a campaign is planned from. The zero value of each optional
// field means "choose for me".
type PlanRequest struct {
	// ImageSize is the size in bytes of the data block to send (the signed image).
	ImageSize int
	Region    region.Name
	// DR is the multicast data rate.
	DR int
	// FragmentSize is the TS004 FragSize; 0 takes the largest the DR carries.
	FragmentSize int
	// Redundancy is the number of parity fragments per data block; 0 sizes it
	// from ExpectedLoss.
	Redundancy int
	// ExpectedLoss is the probability that a device misses a multicast frame.
	ExpectedLoss float64
	// Devices is the number of devices in the campaign (default 1).
	Devices int
	// Target is the probability that every device receives enough fragments
	// (default 0.99).
	Target float64
	// FrequencyHz is the multicast frequency; 0 takes the region's RX2 frequency.
	FrequencyHz uint32
	// DutyCycleModel is how the gateways enforce the duty cycle (default
	// SlidingWindow, as ChirpStack Concentratord). It also picks the sub-band
	// table: the regulatory one for SlidingWindow, Basic Station's own mapping
	// for OffTime (which puts 865–868 MHz at 0.1 %, RADIO.md §4.2).
	DutyCycleModel dutycycle.Model
	// Margin is the least spacing the network server keeps between multicast
	// items (ChirpStack's multicast_class_c_margin); 0 for none.
	Margin time.Duration
	// FrameGap is the least idle time a gateway leaves between two frames
	// (0: DefaultFrameGap).
	FrameGap time.Duration
	// Gateways is how many gateways carry the group (0 means 1): in
	// ChirpStack's DELAY mode each sends a frame one Margin after the one
	// before, so the frames are G margins apart.
	Gateways int
	// MaxLost is the devices' Lmax, the most uncoded fragments they can afford
	// to lose; 0 when unknown.
	MaxLost int
}

// DefaultFrameGap is the gap Concentratord leaves between back-to-back
// downlinks (its JIT queue's 42.5 ms, shared/RADIO.md §4.2); it matters where no
// duty cycle spaces the frames (US915).
const DefaultFrameGap = 42500 * time.Microsecond

// MaxBlocks bounds the data blocks of one campaign: each costs a unicast
// FragSessionSetupReq per device and its own session, so a plan needing more is
// refused rather than handed to the radio.
const MaxBlocks = 64

// minBlockFragments is the smallest block the planner splits into: below 20
// fragments the code costs about 10 % extra (TS004 Annex A).
const minBlockFragments = 20

// BlockPlan is one data block with its own fragmentation session.
type BlockPlan struct {
	// Offset and Size locate the block in the image.
	Offset, Size int
	NbFrag       int
	Padding      int
	Redundancy   int
	// Frames is NbFrag + Redundancy.
	Frames int
	// Duration is the block's expected transmission time at the sub-band's
	// steady duty-cycle rate.
	Duration time.Duration
	// TimeOut is the class C SessionTimeOut a session carrying the whole
	// block would need (2^TimeOut s); 15 when the block spans sessions.
	TimeOut uint8
}

// SessionPlan is one class C session: a run of consecutive frames of the
// campaign (in block order), as many as the longest session, 2^15 s, carries
// at the steady duty-cycle rate. A data block longer than that spans several
// sessions; the device's fragmentation session simply continues.
type SessionPlan struct {
	// FirstFrame indexes the campaign's frames, block after block.
	FirstFrame, Frames int
	Duration           time.Duration
	TimeOut            uint8
}

// Plan is a campaign's radio plan, computed before anything is sent.
type Plan struct {
	Request      PlanRequest
	FragmentSize int
	FrameAirtime time.Duration
	Blocks       []BlockPlan
	Sessions     []SessionPlan
	// Frames and Airtime total all blocks.
	Frames  int
	Airtime time.Duration
	// FrequencyHz is the multicast frequency.
	FrequencyHz uint32
	SubBand     region.SubBand
	// DutyCycle is the sub-band's limit d (1 when unlimited).
	DutyCycle float64
	// FrameSpacing is the least time between two frame starts: the airtime plus
	// the gateway's gap, or the network server's margin if longer.
	FrameSpacing time.Duration
	// LowerBound is the shortest time the frames can take under the duty-cycle
	// model and the spacing.
	LowerBound time.Duration
	// Binding names what sets LowerBound: "duty cycle", "margin" or "airtime".
	Binding  string
	Warnings []string
}

// sessionSlack is added to a block's expected duration before it is rounded up
// to a power-of-two session, for the start offset and scheduling jitter.
const sessionSlack = 30 * time.Second

// NewPlan checks a request and plans the campaign, or says which field makes it
// impossible and why.
func NewPlan(req PlanRequest) (*Plan, error) {
	if req.Devices == 0 {
		req.Devices = 1
	}
	if req.Target == 0 {
		req.Target = 0.99
	}
	if req.DutyCycleModel == 0 {
		req.DutyCycleModel = dutycycle.SlidingWindow
	}
	switch {
	case req.ImageSize <= 0:
		return nil, fmt.Errorf("image_size %d: must be positive", req.ImageSize)
	case req.Devices < 0:
		return nil, fmt.Errorf("devices %d: must not be negative", req.Devices)
	case !(req.Target > 0 && req.Target < 1):
		return nil, fmt.Errorf("target %v: must be in (0, 1)", req.Target)
	case !(req.ExpectedLoss >= 0 && req.ExpectedLoss < 1):
		return nil, fmt.Errorf("expected_loss %v: must be in [0, 1)", req.ExpectedLoss)
	case req.Redundancy < 0:
		return nil, fmt.Errorf("redundancy %d: must not be negative", req.Redundancy)
	case req.Margin < 0:
		return nil, fmt.Errorf("margin %v: must not be negative", req.Margin)
	case req.FrameGap < 0:
		return nil, fmt.Errorf("frame_gap %v: must not be negative", req.FrameGap)
	case req.Gateways < 0:
		return nil, fmt.Errorf("gateways %d: must not be negative", req.Gateways)
	}
	req.Gateways = max(req.Gateways, 1)
	if req.FrameGap == 0 {
		req.FrameGap = DefaultFrameGap
	}
	reg, err := region.Get(req.Region)
	if err != nil {
		return nil, fmt.Errorf("region: %w", err)
	}
	maxF, err := reg.MaxFragmentSize(req.DR, region.PayloadOptions{})
	if err != nil {
		return nil, fmt.Errorf("dr %d: %w", req.DR, err)
	}
	fragSize := req.FragmentSize
	switch {
	case fragSize == 0:
		fragSize = maxF
	case fragSize < 0 || fragSize > maxF:
		return nil, fmt.Errorf("fragment_size %d: %s DR%d carries at most %d bytes per fragment (max FRMPayload − 3)",
			fragSize, reg.Name(), req.DR, maxF)
	}
	toa, err := reg.DownlinkToA(req.DR, region.DataFragmentPHYLen(fragSize))
	if err != nil {
		return nil, fmt.Errorf("dr %d: %w", req.DR, err)
	}
	freq := req.FrequencyHz
	if freq == 0 {
		freq = reg.RX2().FrequencyHz
	}
	if err := multicast.ValidateDLFrequency(freq); err != nil {
		return nil, fmt.Errorf("frequency %d Hz: %w", freq, err)
	}
	sb, d, err := subBandOf(reg, req.DutyCycleModel, freq)
	if err != nil {
		return nil, err
	}

	p := &Plan{Request: req, FragmentSize: fragSize, FrameAirtime: toa, FrequencyHz: freq, SubBand: sb, DutyCycle: d,
		FrameSpacing: max(toa+req.FrameGap, time.Duration(req.Gateways)*req.Margin)}
	if err := p.splitBlocks(); err != nil {
		return nil, err
	}
	for _, b := range p.Blocks {
		p.Frames += b.Frames
	}
	if err := p.splitSessions(); err != nil {
		return nil, err
	}
	p.Airtime = time.Duration(p.Frames) * toa
	if p.LowerBound, err = dutycycle.MinDuration(req.DutyCycleModel, d, 0, p.Frames, toa, p.FrameSpacing); err != nil {
		return nil, fmt.Errorf("image_size %d: %w", req.ImageSize, err)
	}
	p.Binding = p.binding()
	p.warn()
	return p, nil
}

// splitBlocks cuts the image into the fewest data blocks whose fragment count
// fits TS004's 14-bit counter and whose transmission fits one class C session.
func (p *Plan) splitBlocks() error {
	req := p.Request
	total := (req.ImageSize + p.FragmentSize - 1) / p.FragmentSize
	if total < 2 && req.ExpectedLoss > 0 || total < 2 && req.Redundancy > 0 {
		// With one fragment every parity row is empty (⌊M/2⌋ = 0 columns,
		// PROTOCOLS.md §1.3): parity would be zeros.
		return fmt.Errorf("fragment_size %d: the %d-byte image is one fragment, and parity of a one-fragment block carries nothing; use a smaller fragment_size",
			p.FragmentSize, req.ImageSize)
	}
	maxBlocks := min(MaxBlocks, max(1, total/minBlockFragments))
	var lastErr error
	for k := 1; k <= maxBlocks; k++ {
		blocks, err := p.tryBlocks(k)
		if err == nil {
			p.Blocks = blocks
			return nil
		}
		lastErr = err
		if !errors.Is(err, errBlockTooLarge) {
			return err
		}
	}
	return fmt.Errorf("image_size %d: does not fit %d data blocks of at least %d fragments (at most %d blocks per campaign): %w",
		req.ImageSize, maxBlocks, min(minBlockFragments, total), MaxBlocks, lastErr)
}

var errBlockTooLarge = errors.New("data block too large")

// maxTimeOut is the largest class C SessionTimeOut (2^15 s).
const maxTimeOut = 15

// splitSessions cuts the campaign's frames into class C sessions of at most
// 2^15 s each at the steady duty-cycle rate, slack included.
func (p *Plan) splitSessions() error {
	limit := time.Duration(1<<maxTimeOut)*time.Second - sessionSlack
	first := 0
	for first < p.Frames {
		// The most frames that fit, by bisection on the monotone duration.
		lo, hi := 1, p.Frames-first
		for lo < hi {
			mid := (lo + hi + 1) / 2
			d, err := dutycycle.MinDuration(dutycycle.OffTime, p.DutyCycle, 0, mid, p.FrameAirtime, p.FrameSpacing)
			if err != nil {
				return err
			}
			if d <= limit {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		d, err := dutycycle.MinDuration(dutycycle.OffTime, p.DutyCycle, 0, lo, p.FrameAirtime, p.FrameSpacing)
		if err != nil {
			return err
		}
		if d > limit {
			return fmt.Errorf("dr %d: one %v frame takes longer than a class C session at duty cycle %v", p.Request.DR, p.FrameAirtime, p.DutyCycle)
		}
		t, err := multicast.ClassCTimeOut(uint64((d + sessionSlack + time.Second - 1) / time.Second))
		if err != nil {
			return err
		}
		p.Sessions = append(p.Sessions, SessionPlan{FirstFrame: first, Frames: lo, Duration: d, TimeOut: t})
		first += lo
	}
	return nil
}

// perDeviceFailure is the failure probability each device may have in each of k
// blocks so that all devices get all blocks with probability ≥ Target (union
// bound).
func (p *Plan) perDeviceFailure(k int) float64 {
	return (1 - p.Request.Target) / float64(p.Request.Devices*k)
}

// sizeRedundancy sizes a block's parity: half of the failure budget for missing
// too many frames, half for the code needing more than its overhead.
func (p *Plan) sizeRedundancy(nb, k, limit int) (int, error) {
	eps := p.perDeviceFailure(k)
	return SizeRedundancy(nb, p.Request.ExpectedLoss, 1-eps/2, DecodeOverheadFor(eps/2), limit)
}

func (p *Plan) tryBlocks(k int) ([]BlockPlan, error) {
	req := p.Request
	blockSize := (req.ImageSize + k - 1) / k
	// Whole fragments per block, so only the last block carries padding.
	blockSize = (blockSize + p.FragmentSize - 1) / p.FragmentSize * p.FragmentSize
	var blocks []BlockPlan
	for off := 0; off < req.ImageSize; off += blockSize {
		size := min(blockSize, req.ImageSize-off)
		nb := (size + p.FragmentSize - 1) / p.FragmentSize
		r := req.Redundancy
		if r == 0 && req.ExpectedLoss > 0 {
			var err error
			if r, err = p.sizeRedundancy(nb, k, fragmentation.MaxFragmentCounter); err != nil {
				return nil, fmt.Errorf("%w: %w", errBlockTooLarge, err)
			}
		}
		if nb+r > fragmentation.MaxFragmentCounter {
			return nil, fmt.Errorf("%w: nb_frag %d + redundancy %d exceeds the 14-bit fragment counter (%d)",
				errBlockTooLarge, nb, r, fragmentation.MaxFragmentCounter)
		}
		// Size the session at the steady duty-cycle rate: an earlier block may have
		// used the sliding window's burst budget.
		dur, err := dutycycle.MinDuration(dutycycle.OffTime, p.DutyCycle, 0, nb+r, p.FrameAirtime, p.FrameSpacing)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBlockTooLarge, err)
		}
		timeOut, err := multicast.ClassCTimeOut(uint64((dur + sessionSlack + time.Second - 1) / time.Second))
		if err != nil {
			timeOut = maxTimeOut // the block spans sessions (splitSessions)
		}
		blocks = append(blocks, BlockPlan{
			Offset: off, Size: size, NbFrag: nb, Padding: nb*p.FragmentSize - size,
			Redundancy: r, Frames: nb + r, Duration: dur, TimeOut: timeOut,
		})
	}
	return blocks, nil
}

func (p *Plan) binding() string {
	n := time.Duration(p.Frames)
	switch {
	case p.Frames == 0:
		return "airtime"
	case p.LowerBound <= max(n-1, 0)*(p.FrameAirtime+p.Request.FrameGap)+p.FrameAirtime:
		return "airtime"
	case p.FrameSpacing > p.FrameAirtime+p.Request.FrameGap && p.LowerBound == (n-1)*p.FrameSpacing+p.FrameAirtime:
		return "margin"
	default:
		return "duty cycle"
	}
}

func (p *Plan) warn() {
	req := p.Request
	if req.Redundancy == 0 && req.ExpectedLoss == 0 {
		p.Warnings = append(p.Warnings, "no parity fragments: with neither redundancy nor expected_loss given, a device that misses one frame cannot finish")
	}
	k := len(p.Blocks)
	for i, b := range p.Blocks {
		if b.NbFrag < minBlockFragments {
			p.Warnings = append(p.Warnings, fmt.Sprintf("block %d has %d fragments: below %d the code costs about 10 %% extra (TS004 Annex A)", i, b.NbFrag, minBlockFragments))
		}
		if req.MaxLost > 0 && req.ExpectedLoss > 0 {
			m := float64(b.NbFrag)
			lost := m*req.ExpectedLoss + 2.3*math.Sqrt(m*req.ExpectedLoss*(1-req.ExpectedLoss))
			if lost > float64(req.MaxLost) {
				p.Warnings = append(p.Warnings, fmt.Sprintf("block %d: devices may lose %.0f uncoded fragments, more than their Lmax %d, and abort", i, lost, req.MaxLost))
			}
		}
		if req.ExpectedLoss > 0 && req.Redundancy > 0 {
			if need, err := p.sizeRedundancy(b.NbFrag, k, math.MaxInt32); err == nil && need > b.Redundancy {
				p.Warnings = append(p.Warnings, fmt.Sprintf("block %d: redundancy %d is below the %d that %.0f %% loss needs for a %.0f %% target", i, b.Redundancy, need, req.ExpectedLoss*100, req.Target*100))
			}
		}
	}
}

// String renders the plan for people.
func (p *Plan) String() string {
	var b strings.Builder
	req := p.Request
	fmt.Fprintf(&b, "image          %d bytes in %d data block(s)\n", req.ImageSize, len(p.Blocks))
	fmt.Fprintf(&b, "radio          %s DR%d, %d Hz, sub-band %s (duty cycle %s), %v model\n",
		req.Region, req.DR, p.FrequencyHz, p.SubBand.Name, p.SubBand.DutyCycle, req.DutyCycleModel)
	fmt.Fprintf(&b, "fragments      %d bytes each, %v on air per frame\n", p.FragmentSize, p.FrameAirtime)
	for i, bl := range p.Blocks {
		fmt.Fprintf(&b, "block %d        %d bytes: nb_frag %d + redundancy %d = %d frames, padding %d\n",
			i, bl.Size, bl.NbFrag, bl.Redundancy, bl.Frames, bl.Padding)
	}
	for i, se := range p.Sessions {
		fmt.Fprintf(&b, "session %d      frames %d to %d, %v at the steady rate, class C 2^%d s\n",
			i, se.FirstFrame, se.FirstFrame+se.Frames-1, se.Duration.Round(time.Second), se.TimeOut)
	}
	fmt.Fprintf(&b, "airtime        %v for %d frames\n", p.Airtime.Round(time.Millisecond), p.Frames)
	fmt.Fprintf(&b, "lower bound    %v (bound by %s)\n", p.LowerBound.Round(time.Second), p.Binding)
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning        %s\n", w)
	}
	return b.String()
}

// enforcementOf is the sub-band table a duty-cycle model goes with: the
// regulatory one for SlidingWindow, Basic Station's own mapping for OffTime.
func enforcementOf(m dutycycle.Model) region.Enforcement {
	if m == dutycycle.OffTime {
		return region.BasicStation
	}
	return region.Regulatory
}

// subBandOf returns the sub-band of freq under model's table and its duty
// cycle d (1 when unlimited).
func subBandOf(reg *region.Region, model dutycycle.Model, freq uint32) (region.SubBand, float64, error) {
	bands, err := reg.SubBands(enforcementOf(model))
	if err != nil {
		return region.SubBand{}, 0, fmt.Errorf("duty-cycle model %v: %w", model, err)
	}
	sb, err := bands.Lookup(freq)
	if err != nil {
		return region.SubBand{}, 0, fmt.Errorf("frequency %d Hz: %w", freq, err)
	}
	if sb.DutyCycle.Unlimited() {
		return sb, 1, nil
	}
	return sb, sb.DutyCycle.Fraction(), nil
}
