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
	// keep: booted on test and not confirmed, but no other bank verifies,
	// so it runs again rather than brick, confirmed if image_ok can be
	// written, as MCUboot marks the primary OK when the secondary fails.
	keep bool
}

// bootDualBank picks the bank to run (see the package documentation):
// among the banks whose image verifies, the one with the highest sequence
// number that is confirmed, pending or still allowed test boots. A bank
// that was booted on test and not confirmed is invalidated, that is the
// revert, unless no other bank verifies: then it is kept.
func (b *Bootloader) bootDualBank() (Result, error) {
	var (
		rejected error
		reverted bool
	)
	// At most two rounds: a bank whose copy_done cannot be written is
	// invalidated and the choice made again.
	for range 2 {
		best, valid, rej, rev, err := b.chooseBank()
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
			switch err := s.writeFlag(fCopyDone); {
			case err == nil:
				res.Swap = SwapTest
				if !best.test {
					res.Swap = SwapPerm
				}
			case !errors.Is(err, flash.ErrRewrite):
				return Result{}, fmt.Errorf("boot: %w", err)
			case best.test && valid > 1:
				// The flag's unit reads erased but a cut left it
				// programmed: an earlier boot chose this bank and was
				// marking it tried. Tried it is.
				if err := invalidate(s); err != nil {
					return Result{}, err
				}
				reverted = true
				continue
			default:
				// Tried, as above, so this boot installs nothing: a
				// permanent image just runs, a test image with
				// nothing to go back to is kept.
				best.keep = best.test
			}
		}
		if best.keep && best.tr.ImageOK == Unset {
			// A unit a cut left programmed refuses the flag: the
			// image then stays on test, kept again at each boot.
			switch err := s.writeFlag(fImageOK); {
			case err == nil:
				best.test = false
			case !errors.Is(err, flash.ErrRewrite):
				return Result{}, fmt.Errorf("boot: %w", err)
			}
			res.Test = best.test
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
// if none, and how many banks verify and are still there to run; on the way
// it cancels pending images that fail verification and invalidates the bank
// of an unconfirmed test image when the other bank verifies.
func (b *Bootloader) chooseBank() (best *bank, valid int, rejected error, reverted bool, err error) {
	stored := b.store.SecurityCounter(0)
	var cands []*bank
	for i, s := range b.slots {
		tr, err := s.trailer()
		if err != nil {
			return nil, 0, nil, false, fmt.Errorf("boot: %w", err)
		}
		v, err := b.verify(s.area, stored)
		if err != nil {
			if !errors.Is(err, ErrInvalidImage) {
				return nil, 0, nil, false, fmt.Errorf("boot: %w", err)
			}
			if tr.Magic == Set && tr.CopyDone == Unset {
				// A pending image that fails: cancel the request so it
				// is not tried again, as MCUboot erases it.
				rejected = err
				if err := s.eraseTrailer(); err != nil {
					return nil, 0, nil, false, fmt.Errorf("boot: %w", err)
				}
			}
			continue
		}
		cands = append(cands, &bank{i: i, v: v, tr: tr})
	}
	valid = len(cands)
	for _, c := range cands {
		tr := c.tr
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
			more, err := b.moreTestBoots(c.v.digest)
			if err != nil {
				return nil, 0, nil, false, err
			}
			if !more && valid > 1 {
				if err := invalidate(b.slots[c.i]); err != nil {
					return nil, 0, nil, false, err
				}
				reverted = true
				valid--
				continue
			}
			c.seq, c.test, c.keep = tr.Seq, true, !more
		}
		if best == nil || c.seq > best.seq || c.seq == best.seq && best.tr.Magic != Set && c.tr.Magic == Set {
			best = c
		}
	}
	return best, valid, rejected, reverted, nil
}
