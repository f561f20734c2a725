package flash

import (
	"fmt"
	"io"
)

// Region is a window [Offset, Offset+Size) over a Flash: a slot (primary,
// secondary, scratch) or a configuration partition. Its offsets are relative
// to the window. An access reaching outside the window fails with
// ErrOutOfRange before touching the flash; errors from the flash itself are
// wrapped with the region name and keep absolute offsets.
type Region struct {
	f         *Flash
	name      string
	off, size int
}

// NewRegion returns the window [off, off+size) of f.
func NewRegion(f *Flash, name string, off, size int) (*Region, error) {
	if off < 0 || size < 0 || off > f.Size() || size > f.Size()-off {
		return nil, fmt.Errorf("flash: region %q [%#x, +%#x): %w: flash is %#x bytes", name, off, size, ErrOutOfRange, f.Size())
	}
	return &Region{f: f, name: name, off: off, size: size}, nil
}

// On returns the same window over g, typically a snapshot of the flash the
// region was made for.
func (r *Region) On(g *Flash) (*Region, error) { return NewRegion(g, r.name, r.off, r.size) }

// Sub returns the window [off, off+size) of r, for example a trailer.
func (r *Region) Sub(name string, off, size int) (*Region, error) {
	if err := r.check("sub-region", off, size); err != nil {
		return nil, err
	}
	return &Region{f: r.f, name: name, off: r.off + off, size: size}, nil
}

// Name returns the region name.
func (r *Region) Name() string { return r.name }

// Offset returns the absolute offset of the region in its flash.
func (r *Region) Offset() int { return r.off }

// Size returns the region size in bytes.
func (r *Region) Size() int { return r.size }

// Flash returns the underlying flash.
func (r *Region) Flash() *Flash { return r.f }

// Sectors returns the sectors wholly inside the region, with offsets
// relative to it.
func (r *Region) Sectors() []Sector {
	var out []Sector
	for _, s := range r.f.geo.Sectors {
		if s.Off >= r.off && s.Off+s.Size <= r.off+r.size {
			out = append(out, Sector{Off: s.Off - r.off, Size: s.Size})
		}
	}
	return out
}

// Read reads from off within the region.
func (r *Region) Read(off int, p []byte) error {
	if err := r.check("read", off, len(p)); err != nil {
		return err
	}
	return r.wrap(r.f.Read(r.off+off, p))
}

// ReadAt implements io.ReaderAt within the region.
func (r *Region) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(r.size) {
		return 0, r.check("read", int(off), len(p))
	}
	n := min(len(p), r.size-int(off))
	if err := r.Read(int(off), p[:n]); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Program issues one program command at off within the region.
func (r *Region) Program(off int, p []byte) error {
	if err := r.check("program", off, len(p)); err != nil {
		return err
	}
	return r.wrap(r.f.Program(r.off+off, p))
}

// Write programs p at off within the region, split at page boundaries
// (see Flash.Write).
func (r *Region) Write(off int, p []byte) error {
	if err := r.check("write", off, len(p)); err != nil {
		return err
	}
	return r.wrap(r.f.Write(r.off+off, p))
}

// Erase erases [off, off+size) within the region.
func (r *Region) Erase(off, size int) error {
	if err := r.check("erase", off, size); err != nil {
		return err
	}
	return r.wrap(r.f.Erase(r.off+off, size))
}

// EraseAll erases the whole region.
func (r *Region) EraseAll() error { return r.Erase(0, r.size) }

func (r *Region) check(op string, off, n int) error {
	if off < 0 || n < 0 || off > r.size || n > r.size-off {
		return fmt.Errorf("flash: region %q [%#x, +%#x): %s [%#x, +%#x): %w: region is %#x bytes",
			r.name, r.off, r.size, op, off, n, ErrOutOfRange, r.size)
	}
	return nil
}

func (r *Region) wrap(err error) error {
	if err != nil {
		return fmt.Errorf("region %q: %w", r.name, err)
	}
	return nil
}
