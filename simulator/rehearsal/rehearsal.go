// Package rehearsal runs the multicast transfer of a campaign plan against a
// population of devices with seeded frame loss, in virtual time: the fragments are
// FEC-encoded, paced with a duty-cycle ledger, scheduled on a simulated gateway
// (simulator/gateway: its own sub-band tables, duty-cycle enforcement and JIT
// rules, so a pacing mistake shows as a refusal), and pushed into one TS004
// decoder per device and data block. It measures what the plan promised: how long
// the transfer takes against the lower bound, and how many devices end with the
// exact image.
//
// It is the radio-and-FEC core of `lorafuota demo` until the full simulated
// network (ChirpStack API, class A/B/C delivery, device app layer, bootloader)
// drives the demo end to end.
package rehearsal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	chirpgw "github.com/chirpstack/chirpstack/api/go/v4/gw"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/gateway"
)

// Config is one rehearsal.
type Config struct {
	Plan *fuota.Plan
	// Image is the data block the plan was made for (len = Plan.Request.ImageSize).
	Image []byte
	// Matrix is the parity generator the devices speak (v1 or v2 of TS004).
	Matrix fragmentation.Matrix
	// Loss is the probability that a device misses a frame, independently per
	// device and frame.
	Loss float64
	// MaxLost is the devices' Lmax (0: NbFrag, never refuses).
	MaxLost int
	// Start is the virtual time the first fragment may go on air.
	Start time.Time
	// Verify, if set, checks each reassembled image as the device would (e.g. its
	// signature) after the byte-for-byte comparison.
	Verify func(image []byte) error
	// Rand returns the random stream of a named component, so that each device's
	// losses replay from the seed whatever else changes.
	Rand func(name string) *rand.Rand
}

// Device is one device's outcome.
type Device struct {
	// Completed is set when every block decoded to exactly the image bytes and
	// the image verified.
	Completed bool
	// CompletedAt is the 1-based count of sent frames after which the device had
	// every block (0 if it never completed).
	CompletedAt int
	// Received counts the frames the device heard.
	Received int
	// Err says why a device did not complete.
	Err error
}

// Result is what a rehearsal measured.
type Result struct {
	Devices []Device
	// FramesSent counts the DataFragment frames put on air.
	FramesSent int
	// FramesNeeded is the fewest of the sent frames (a prefix) after which every
	// device that completed could have decoded: the oracle a perfect feedback
	// loop would have stopped at.
	FramesNeeded int
	// Airtime is the total time on air.
	Airtime time.Duration
	// Duration runs from the first frame's start to the last frame's end.
	Duration time.Duration
	// Rejections counts frames the simulated gateway refused, by tx-ack status.
	Rejections int
	// RejectionsByStatus breaks Rejections down by the gateway's tx-ack status.
	RejectionsByStatus map[string]int
	// SessionOverruns counts frames that end after their block's class C
	// session (first frame + 2^TimeOut s) has closed.
	SessionOverruns int
	// First and Last are the first frame's start and the last frame's end.
	First, Last time.Time
}

type frame struct {
	block, n int // block index, 1-based fragment counter
	payload  []byte
}

// Run rehearses the transfer.
func Run(cfg Config) (*Result, error) {
	p := cfg.Plan
	if p == nil {
		return nil, errors.New("rehearsal: no plan")
	}
	if len(cfg.Image) != p.Request.ImageSize {
		return nil, fmt.Errorf("rehearsal: image of %d bytes, plan made for %d", len(cfg.Image), p.Request.ImageSize)
	}
	if !(cfg.Loss >= 0 && cfg.Loss <= 1) {
		return nil, fmt.Errorf("rehearsal: loss %v not in [0, 1]", cfg.Loss)
	}
	if cfg.Rand == nil {
		return nil, errors.New("rehearsal: no random source")
	}
	frames, err := encode(cfg)
	if err != nil {
		return nil, err
	}
	res := &Result{FramesSent: len(frames), Airtime: time.Duration(len(frames)) * p.FrameAirtime}
	if err := pace(cfg, frames, res); err != nil {
		return nil, err
	}
	devices := max(p.Request.Devices, 1)
	res.Devices = make([]Device, devices)
	for i := range res.Devices {
		res.Devices[i] = receive(cfg, frames, cfg.Rand(fmt.Sprintf("device/%d", i)))
		if d := res.Devices[i]; d.Completed && d.CompletedAt > res.FramesNeeded {
			res.FramesNeeded = d.CompletedAt
		}
	}
	return res, nil
}

// encode turns every block of the plan into its DataFragment payloads, in the
// order they are sent: block by block, uncoded then parity.
func encode(cfg Config) ([]frame, error) {
	p := cfg.Plan
	var frames []frame
	for bi, b := range p.Blocks {
		data, _ := fragmentation.Pad(cfg.Image[b.Offset:b.Offset+b.Size], p.FragmentSize)
		frags, err := fragmentation.Encode(data, p.FragmentSize, b.Redundancy, fragmentation.WithMatrix(cfg.Matrix))
		if err != nil {
			return nil, fmt.Errorf("rehearsal: block %d: %w", bi, err)
		}
		for i, f := range frags {
			frames = append(frames, frame{block: bi, n: i + 1, payload: f})
		}
	}
	return frames, nil
}

// pace schedules the frames with the pacer's ledger and hands each to a
// simulated gateway at its slot, counting what the gateway refuses and what
// falls outside its block's session.
func pace(cfg Config, frames []frame, res *Result) error {
	p := cfg.Plan
	pacer, err := dutycycle.New(p.Request.DutyCycleModel, p.DutyCycle, 0)
	if err != nil {
		return fmt.Errorf("rehearsal: pacer: %w", err)
	}
	reg, err := region.Get(p.Request.Region)
	if err != nil {
		return fmt.Errorf("rehearsal: %w", err)
	}
	clk := clock.NewVirtual(cfg.Start.Add(-time.Minute))
	gw, err := gateway.New(gateway.Config{Region: p.Request.Region, Model: p.Request.DutyCycleModel, EnforceDC: true}, clk, nil)
	if err != nil {
		return fmt.Errorf("rehearsal: gateway: %w", err)
	}
	phy := make([]byte, region.DataFragmentPHYLen(p.FragmentSize))
	power := reg.DownlinkTXPowerDBm(p.FrequencyHz)

	t := cfg.Start
	var sessionEnd time.Time
	for i, f := range frames {
		s, err := pacer.Earliest(t, p.FrameAirtime)
		if err != nil {
			return fmt.Errorf("rehearsal: frame %d: %w", i+1, err)
		}
		if err := pacer.Add(s, p.FrameAirtime); err != nil {
			return fmt.Errorf("rehearsal: frame %d: pacer refused its own slot: %w", i+1, err)
		}
		// Hand the frame to the gateway a second ahead, as a network server
		// would, and let the gateway send what it queued before.
		clk.RunUntil(s.Add(-time.Second))
		status := gw.Schedule(gateway.TxRequest{
			ID: uint32(i + 1), Frequency: p.FrequencyHz, DR: p.Request.DR, PowerDBm: power,
			PHYPayload: phy, Timing: gateway.AtTime, At: s,
		})
		if status != chirpgw.TxAckStatus_OK {
			res.Rejections++
			if res.RejectionsByStatus == nil {
				res.RejectionsByStatus = map[string]int{}
			}
			name := status.String()
			if status == gateway.NoAck {
				name = "NO_ACK" // Basic Station drops what it cannot send, silently
			}
			res.RejectionsByStatus[name]++
		}
		if f.n == 1 {
			sessionEnd = s.Add(time.Duration(1<<p.Blocks[f.block].TimeOut) * time.Second)
		}
		end := s.Add(p.FrameAirtime)
		if end.After(sessionEnd) {
			res.SessionOverruns++
		}
		if i == 0 {
			res.First = s
		}
		res.Last = end
		t = s.Add(p.FrameSpacing)
		if i%1024 == 0 {
			pacer.Prune(s) // keep the ledger to what can still matter
		}
	}
	clk.RunUntil(res.Last.Add(time.Second))
	res.Duration = res.Last.Sub(res.First)
	return nil
}

// receive plays one device: it hears each frame with probability 1 − loss and
// feeds its decoders, and checks the reassembled image byte for byte.
func receive(cfg Config, frames []frame, r *rand.Rand) Device {
	p := cfg.Plan
	decoders := make([]*fragmentation.Decoder, len(p.Blocks))
	for i, b := range p.Blocks {
		d, err := fragmentation.NewDecoder(fragmentation.DecoderConfig{
			NbFrag: b.NbFrag, FragSize: p.FragmentSize, Padding: b.Padding, Matrix: cfg.Matrix, MaxLost: cfg.MaxLost,
		})
		if err != nil {
			return Device{Err: fmt.Errorf("block %d: %w", i, err)}
		}
		decoders[i] = d
	}
	var dev Device
	remaining := len(decoders)
	for i, f := range frames {
		if r.Float64() < cfg.Loss {
			continue
		}
		dev.Received++
		d := decoders[f.block]
		if d.Done() {
			continue
		}
		done, err := d.Push(f.n, f.payload)
		if err != nil {
			// Every frame is genuine here: any refusal (Lmax exceeded, a store
			// failure) ends the device's session, as on a real device.
			dev.Err = fmt.Errorf("block %d, fragment %d: %w", f.block, f.n, err)
			return dev
		}
		if done {
			remaining--
			if remaining == 0 {
				dev.CompletedAt = i + 1
				break
			}
		}
	}
	if remaining > 0 {
		dev.Err = fmt.Errorf("%d of %d blocks incomplete when the transfer ended", remaining, len(decoders))
		return dev
	}
	img := make([]byte, 0, len(cfg.Image))
	for i, d := range decoders {
		data, err := d.Data()
		if err != nil {
			dev.Err = fmt.Errorf("block %d: %w", i, err)
			return dev
		}
		img = append(img, data...)
	}
	if !bytes.Equal(img, cfg.Image) {
		dev.Err = errors.New("reassembled image differs from the one sent")
		return dev
	}
	if cfg.Verify != nil {
		if err := cfg.Verify(img); err != nil {
			dev.Err = fmt.Errorf("verify: %w", err)
			return dev
		}
	}
	dev.Completed = true
	return dev
}
