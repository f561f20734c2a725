package flash

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error a Flash or Region returns wraps exactly one of
// them, so callers test with errors.Is.
var (
	// ErrPowerCut is returned by the operation an armed cut interrupts and by
	// every operation on a flash that is powered off.
	ErrPowerCut = errors.New("power cut")
	// ErrOutOfRange reports an access outside the flash or a Region.
	ErrOutOfRange = errors.New("out of range")
	// ErrAlignment reports a program or erase that is not aligned to the
	// program unit or to an erase unit.
	ErrAlignment = errors.New("misaligned")
	// ErrPageBoundary reports a NOR page program that crosses a page boundary
	// while page wrap emulation is off (the default).
	ErrPageBoundary = errors.New("crosses page boundary")
	// ErrRewrite reports a program the rewrite policy forbids (Strict, ECC64,
	// LimitedRewrite).
	ErrRewrite = errors.New("rewrite not allowed")
	// ErrWornOut reports an erase of a sector that has reached its endurance.
	ErrWornOut = errors.New("worn out")
)

// OpError describes a failed Read, Program or Erase: the operation, the range
// the caller asked for (absolute flash offsets) and the cause.
type OpError struct {
	Op   string // "read", "program" or "erase"
	Off  int
	Size int
	Err  error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("flash: %s [%#x, +%#x): %v", e.Op, e.Off, e.Size, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }
