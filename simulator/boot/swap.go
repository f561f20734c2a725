package boot

import (
	"errors"
	"fmt"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// swapStatus is the progress of an ExternalSwap swap, kept in the NVM area
// (key keySwapStatus). It is written after each step completes, so a boot
// that finds it resumes with the step after the last one recorded; every
// step rewrites its destination from a source the step does not touch, so
// doing it again is harmless.
type swapStatus struct {
	Phase uint8    // phaseIdle, phaseSwap or phaseFinish
	Type  SwapType // SwapTest, SwapPerm or SwapRevert
	Step  uint8    // steps of Unit done, 0 to 2
	Units uint16   // swap units to exchange
	Unit  uint16   // the unit in progress
}

const (
	phaseIdle uint8 = iota
	phaseSwap
	phaseFinish
)

// bootSwap is the ExternalSwap boot: resume, or decide by the trailers
// (DEVICE.md §6.2), swap if needed, then verify and run the primary slot.
func (b *Bootloader) bootSwap() (Result, error) {
	pri, sec := b.slots[0], b.slots[1]
	stored := b.store.SecurityCounter(0)
	var (
		typ      = SwapNone
		resumed  bool
		rejected error
	)
	if v, ok := b.store.Get(keySwapStatus); ok {
		// A record this bootloader cannot have written (another format,
		// a phase, type, unit or step it does not know) describes no swap
		// it could resume: decide by the trailers instead, and let
		// verification judge the primary slot rather than refuse to boot
		// for ever.
		if st, ok := decodeStatus(v); ok && st.Phase != phaseIdle && b.resumable(st) {
			// The type comes from the record, not from the trailers,
			// which a half-done swap has mixed up (§6.3).
			typ, resumed = st.Type, true
			if err := b.swap(st); err != nil {
				return Result{}, err
			}
		}
	}
	if !resumed {
		pt, err := pri.trailer()
		if err != nil {
			return Result{}, fmt.Errorf("boot: %w", err)
		}
		st, err := sec.trailer()
		if err != nil {
			return Result{}, fmt.Errorf("boot: %w", err)
		}
		switch {
		case st.Magic == Set && st.ImageOK == Set:
			typ = SwapPerm
		case st.Magic == Set:
			typ = SwapTest
		case pt.Magic == Set && pt.CopyDone != Unset && pt.ImageOK != Set:
			typ = SwapRevert
		}
		if typ == SwapRevert && b.cfg.MaxTestBoots > 1 {
			v, err := b.verify(pri.area, stored)
			if err == nil {
				more, err := b.moreTestBoots(v.digest)
				if err != nil {
					return Result{}, err
				}
				if more {
					typ = SwapNone
				}
			} else if !errors.Is(err, ErrInvalidImage) {
				return Result{}, fmt.Errorf("boot: %w", err)
			}
		}
		if typ != SwapNone {
			v, err := b.verify(sec.area, stored)
			if err != nil {
				if !errors.Is(err, ErrInvalidImage) {
					return Result{}, fmt.Errorf("boot: %w", err)
				}
				rejected = err
				if typ == SwapRevert {
					// Nothing valid to go back to: keep the image on
					// test rather than brick, as MCUboot marks the
					// primary OK when the secondary fails.
					// A unit a cut left programmed refuses the
					// flag: the image then stays on test, reverted
					// again (and kept again) at each boot.
					if pt.ImageOK == Unset {
						if err := pri.writeFlag(fImageOK); err != nil && !errors.Is(err, flash.ErrRewrite) {
							return Result{}, fmt.Errorf("boot: %w", err)
						}
					}
				} else if err := sec.eraseTrailer(); err != nil {
					// Cancel the request so it is not tried again.
					return Result{}, fmt.Errorf("boot: %w", err)
				}
				typ = SwapNone
			} else {
				plen, err := b.imageLen(pri.area)
				if err != nil {
					return Result{}, fmt.Errorf("boot: %w", err)
				}
				if typ == SwapTest {
					if err := b.startTest(); err != nil {
						return Result{}, err
					}
				}
				n := (max(plen, v.size) + b.unit - 1) / b.unit
				st := swapStatus{Phase: phaseSwap, Type: typ, Units: uint16(n)}
				if err := b.putStatus(st); err != nil {
					return Result{}, err
				}
				if err := b.swap(st); err != nil {
					return Result{}, err
				}
			}
		}
	}

	v, err := b.verify(pri.area, stored)
	if err != nil {
		if errors.Is(err, ErrInvalidImage) {
			return Result{}, fmt.Errorf("%w: %w", ErrNoBootableImage, err)
		}
		return Result{}, fmt.Errorf("boot: %w", err)
	}
	pt, err := pri.trailer()
	if err != nil {
		return Result{}, fmt.Errorf("boot: %w", err)
	}
	// Confirmed unless the trailer holds a request not yet confirmed
	// (§6.5: the counter rises only when magic is not Good or image_ok is
	// set).
	test := pt.Magic == Set && pt.ImageOK != Set
	if !test {
		if err := b.raiseSecurityCounter(v.secCnt); err != nil {
			return Result{}, fmt.Errorf("boot: %w", err)
		}
	}
	res := b.result(0, v, test)
	res.Swap, res.Resumed, res.Rejected = typ, resumed, rejected
	return res, nil
}

// swap runs a swap from the state st records to the end. Per unit u:
//
//  1. scratch ← primary[u]
//  2. primary[u] ← secondary[u]
//  3. secondary[u] ← scratch
//
// each an erase and a copy, recorded when done. Then the trailers: the
// primary's rewritten (swap_info, copy_done, image_ok unless on test, magic
// last), the secondary's erased, and the status cleared.
func (b *Bootloader) swap(st swapStatus) error {
	pri, sec := b.slots[0], b.slots[1]
	if int(st.Units)*b.unit > pri.area.Size() {
		return fmt.Errorf("boot: swap status %+v: more units than the slots hold", st)
	}
	for st.Phase == phaseSwap {
		if st.Unit >= st.Units || st.Step > 2 {
			return fmt.Errorf("boot: swap status %+v out of range", st)
		}
		off := int(st.Unit) * b.unit
		var err error
		switch st.Step {
		case 0:
			err = b.move(b.scratch, 0, pri.area, off)
		case 1:
			err = b.move(pri.area, off, sec.area, off)
		case 2:
			err = b.move(sec.area, off, b.scratch, 0)
		}
		if err != nil {
			return fmt.Errorf("boot: swap unit %d step %d: %w", st.Unit, st.Step+1, err)
		}
		if st.Step++; st.Step == 3 {
			st.Step = 0
			if st.Unit++; st.Unit == st.Units {
				st.Phase = phaseFinish
			}
		}
		if err := b.putStatus(st); err != nil {
			return err
		}
	}
	if st.Phase != phaseFinish {
		return fmt.Errorf("boot: swap status %+v: unknown phase", st)
	}
	if err := pri.eraseTrailer(); err != nil {
		return fmt.Errorf("boot: finishing swap: %w", err)
	}
	if err := pri.writeField(fSwapInfo, []byte{byte(st.Type)}); err != nil {
		return fmt.Errorf("boot: finishing swap: %w", err)
	}
	if err := pri.writeFlag(fCopyDone); err != nil {
		return fmt.Errorf("boot: finishing swap: %w", err)
	}
	if st.Type != SwapTest {
		// A permanent image, or the image a revert brought back, is
		// confirmed.
		if err := pri.writeFlag(fImageOK); err != nil {
			return fmt.Errorf("boot: finishing swap: %w", err)
		}
	}
	if err := pri.writeMagic(); err != nil {
		return fmt.Errorf("boot: finishing swap: %w", err)
	}
	if err := sec.eraseTrailer(); err != nil {
		return fmt.Errorf("boot: finishing swap: %w", err)
	}
	return b.putStatus(swapStatus{Phase: phaseIdle})
}

// resumable reports whether st, a swap in progress, is one swap can carry
// on from: a known phase and type, and units and steps within the slots.
func (b *Bootloader) resumable(st swapStatus) bool {
	switch {
	case st.Type != SwapTest && st.Type != SwapPerm && st.Type != SwapRevert:
		return false
	case int(st.Units)*b.unit > b.slots[0].area.Size():
		return false
	case st.Phase == phaseSwap:
		return st.Unit < st.Units && st.Step <= 2
	}
	return st.Phase == phaseFinish
}

func (b *Bootloader) putStatus(st swapStatus) error {
	if err := b.store.Set(keySwapStatus, encodeStatus(st)); err != nil {
		return fmt.Errorf("boot: recording swap status: %w", err)
	}
	if b.onStatus != nil && st.Phase != phaseIdle {
		b.onStatus(b)
	}
	return nil
}

// move erases one swap unit at dst+doff and copies the unit at src+soff
// into it.
func (b *Bootloader) move(dst *flash.Region, doff int, src *flash.Region, soff int) error {
	if len(b.unitBuf) != b.unit {
		b.unitBuf = make([]byte, b.unit)
	}
	if err := src.Read(soff, b.unitBuf); err != nil {
		return err
	}
	if err := dst.Erase(doff, b.unit); err != nil {
		return err
	}
	return b.write(dst, doff, b.unitBuf)
}
