package boot

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/lorafuota/lorafuota/simulator/flash"
)

// bank is a DualBank candidate.
type bank struct {
	i       int
	v       *verified
	tr      Trailer
	seq     uint32
	test    bool // runs unconfirmed
	pending bool // its first boot: copy_done still to be written
}

// bootDualBank picks the bank to run (see the package documentation):
// among the banks whose image verifies, the one with the highest sequence
// number that is confirmed, pending or still allowed test boots. A bank
// that was booted on test and not confirmed is invalidated: that is the
// revert.
func (b *Bootloader) bootDualBank() (Result, error) {
	var (
		rejected error
		reverted bool
	)
	// At most two rounds: a bank whose copy_done cannot be written is
	// invalidated and the choice made again.
	for range 2 {
		best, rej, rev, err := b.chooseBank()
		if err != nil {
			return Result{}, err
		}
		rejected, reverted = cmp.Or(rejected, rej), reverted || rev
		if best == nil {
			break
		}
		s := b.slots[best.i]
		res := b.result(best.i, best.v, best.test)
		res.Rejected = rejected
		if reverted {
			res.Swap = SwapRevert
		}
		if best.pending {
			if best.test {
				if err := b.startTest(); err != nil {
					return Result{}, err
				}
			}
			// Record the first boot: from now on a reset without
			// confirmation abandons the bank.
			if err := s.writeFlag(fCopyDone); err != nil {
				if !errors.Is(err, flash.ErrRewrite) {
					return Result{}, fmt.Errorf("boot: %w", err)
				}
				// The flag's unit reads erased but a cut left it
				// programmed: an earlier boot chose this bank and was
				// marking it tried. Tried it is.
				if best.test {
					if err := invalidate(s); err != nil {
						return Result{}, err
					}
					reverted = true
					continue
				}
			}
			res.Swap = SwapTest
			if !best.test {
				res.Swap = SwapPerm
			}
		}
		if !best.test {
			if err := b.raiseSecurityCounter(best.v.secCnt); err != nil {
				return Result{}, fmt.Errorf("boot: %w", err)
			}
		}
		b.runSeq = best.seq
		return res, nil
	}
	return Result{}, fmt.Errorf("%w: neither bank verifies", ErrNoBootableImage)
}

// chooseBank reads and verifies both banks and returns the one to run, nil
// if none; on the way it cancels pending images that fail verification and
// invalidates the bank of an unconfirmed test image.
func (b *Bootloader) chooseBank() (best *bank, rejected error, reverted bool, err error) {
	stored := b.store.SecurityCounter(0)
	for i, s := range b.slots {
		tr, err := s.trailer()
		if err != nil {
			return nil, nil, false, fmt.Errorf("boot: %w", err)
		}
		v, err := b.verify(s.area, stored)
		if err != nil {
			if !errors.Is(err, ErrInvalidImage) {
				return nil, nil, false, fmt.Errorf("boot: %w", err)
			}
			if tr.Magic == Set && tr.CopyDone == Unset {
				// A pending image that fails: cancel the request so it
				// is not tried again, as MCUboot erases it.
				rejected = err
				if err := s.eraseTrailer(); err != nil {
					return nil, nil, false, fmt.Errorf("boot: %w", err)
				}
			}
			continue
		}
		c := &bank{i: i, v: v, tr: tr}
		switch {
		case tr.Magic != Set:
			// No trailer, or a request a cut tore: an image written by
			// a programmer, or staged and never quite requested. It runs
			// only if nothing else does.
		case tr.ImageOK == Set:
			c.seq = tr.Seq
			c.pending = tr.CopyDone == Unset
		case tr.CopyDone == Unset:
			c.seq, c.test, c.pending = tr.Seq, true, true
		default:
			// Booted on test before and never confirmed.
			more, err := b.moreTestBoots(v.digest)
			if err != nil {
				return nil, nil, false, err
			}
			if !more {
				if err := invalidate(s); err != nil {
					return nil, nil, false, err
				}
				reverted = true
				continue
			}
			c.seq, c.test = tr.Seq, true
		}
		if best == nil || c.seq > best.seq || c.seq == best.seq && best.tr.Magic != Set && c.tr.Magic == Set {
			best = c
		}
	}
	return best, rejected, reverted, nil
}
