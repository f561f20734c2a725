package device_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// TestStagingStrictFlash decodes an image straight into the staging slot of
// each flash model in strict mode, which fails any second program of a
// location: fragments arrive shuffled, with losses, in sizes that do and do
// not fill whole program units.
func TestStagingStrictFlash(t *testing.T) {
	type layout struct {
		name    string
		opts    rigOptions
		scratch bool // a dedicated scratch region on external flash
	}
	layouts := []layout{
		{name: "nor", opts: rigOptions{layout: boot.ExternalSwap, part: boot.PartNRF52840}},
		{name: "nor/scratch-region", opts: rigOptions{layout: boot.ExternalSwap, part: boot.PartSTM32WL}, scratch: true},
		{name: "stm32wl", opts: rigOptions{part: boot.PartSTM32WL}},
		{name: "nrf52840", opts: rigOptions{part: boot.PartNRF52840}},
	}
	for _, l := range layouts {
		for _, fs := range []int{64, 50, 33} {
			t.Run(fmt.Sprintf("%s/fragsize-%d", l.name, fs), func(t *testing.T) {
				opts := l.opts
				opts.scratch = l.scratch
				r := newRig(t, opts)
				img := r.image(2, 2, r.key)
				req, padded := r.setupReq(img, 0, fs, 1)
				r.setup(req)
				frags := r.encode(padded, fs, len(padded)/fs/2)
				order := rand.New(rand.NewPCG(uint64(fs), 3)).Perm(len(frags))
				lost := 0
				for i, k := range order {
					if i%6 == 5 {
						lost++
						continue
					}
					_ = r.down(fragmentation.DefaultFPort, frag(0, k+1, frags[k]))
				}
				info, _ := r.dev.FragSession(0)
				if !info.Done || info.Err != nil {
					t.Fatalf("session %+v (lost %d of %d)", info, lost, len(frags))
				}
				if v := r.dev.LastVerification(); v.Status != fwmanagement.UpImageValid {
					t.Fatalf("verification %+v", v)
				}
				staged := make([]byte, len(img))
				must(t, r.boot.Staging().Read(0, staged))
				if !bytes.Equal(staged, img) {
					t.Fatal("staged bytes differ from the image")
				}
				unit := r.boot.Staging().Flash().ProgramUnit()
				if reserved := info.RAM.UnitBuffers / (unit + 4); info.UnitBuffersPeak > reserved {
					t.Fatalf("%d units buffered at once, %d reserved", info.UnitBuffersPeak, reserved)
				}
				if fs%unit != 0 && info.UnitBuffersPeak == 0 {
					t.Fatal("shuffled rows never shared a buffered unit")
				}
				if (fs%unit == 0) != (info.RAM.UnitBuffers == 0) {
					t.Fatalf("FragSize %d, unit %d: %d bytes of unit buffers", fs, unit, info.RAM.UnitBuffers)
				}
			})
		}
	}
}

// TestRAMBudget: the device sizes Lmax to its RAM budget, or refuses a
// session whose Lmax does not fit.
func TestRAMBudget(t *testing.T) {
	for _, tc := range []struct {
		name           string
		budget, lmax   int
		fs             int
		accepted       bool
		wantLmax       int // 0: any within budget
		wantUnitBuffer bool
	}{
		{name: "derived Lmax", budget: 1500, fs: 48, accepted: true},
		{name: "derived Lmax with unit buffers", budget: 1500, fs: 50, accepted: true, wantUnitBuffer: true},
		{name: "Lmax 40 fits", budget: 1500, lmax: 40, fs: 48, accepted: true, wantLmax: 40},
		{name: "Lmax 120 does not", budget: 1500, lmax: 120, fs: 48},
		{name: "no budget", fs: 48, accepted: true, wantLmax: 160},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{part: boot.PartSTM32WL, tweak: func(c *device.Config) {
				c.RAMBudget, c.MaxLost = tc.budget, tc.lmax
			}})
			req, _ := r.setupReq(make([]byte, 160*tc.fs), 0, tc.fs, 1)
			must(t, r.down(fragmentation.DefaultFPort, req))
			ans := one[*fragmentation.FragSessionSetupAns](r, fragmentation.DefaultFPort, 10*time.Second)
			if ans.Accepted() != tc.accepted || ans.NotEnoughMemory == tc.accepted {
				t.Fatalf("FragSessionSetupAns %+v (%v), want accepted %v", ans, r.dev.LastSetupError(), tc.accepted)
			}
			if !tc.accepted {
				if err := r.dev.LastSetupError(); !strings.Contains(err.Error(), "RAM") {
					t.Fatalf("refusal %v does not name the RAM", err)
				}
				return
			}
			info, _ := r.dev.FragSession(0)
			ram := info.RAM
			if tc.budget > 0 && ram.Total > tc.budget {
				t.Fatalf("RAM %+v over the %d-byte budget", ram, tc.budget)
			}
			if ram.Total != ram.DecoderTotal+ram.UnitBuffers || ram.DecoderTotal == 0 {
				t.Fatalf("RAM %+v does not add up", ram)
			}
			if tc.wantLmax > 0 && info.MaxLost != tc.wantLmax {
				t.Fatalf("Lmax %d, want %d", info.MaxLost, tc.wantLmax)
			}
			if tc.wantLmax == 0 && (info.MaxLost < 10 || info.MaxLost >= 160) {
				t.Fatalf("derived Lmax %d", info.MaxLost)
			}
			if (ram.UnitBuffers > 0) != tc.wantUnitBuffer {
				t.Fatalf("unit buffers %d bytes", ram.UnitBuffers)
			}
		})
	}
}
