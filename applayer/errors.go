package applayer

import (
	"errors"
	"fmt"
)

// ErrTruncated is wrapped by every error about a command shorter than its layout.
var ErrTruncated = errors.New("truncated")

// DecodeError reports a command that could not be decoded: which package, which
// command, at which byte of the frame, and why.
type DecodeError struct {
	Package string
	Command string
	CID     byte
	// Offset is the byte of the frame where the command (its CID) starts, or for
	// an over-long single command the first trailing byte.
	Offset int
	Err    error
}

func (e *DecodeError) Error() string {
	prefix := ""
	if e.Package != "" {
		prefix = e.Package + ": "
	}
	return fmt.Sprintf("%s%s (CID 0x%02x) at byte %d: %v", prefix, e.Command, e.CID, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// UnknownCommandError reports a CID that the package does not define for the
// direction and version. Decoding stops there: without the command's layout the
// rest of the frame cannot be delimited.
type UnknownCommandError struct {
	Package string
	CID     byte
	Dir     Direction
	Version uint8
	Offset  int
}

func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("%s: unknown %v CID 0x%02x for package version %d at byte %d",
		e.Package, e.Dir, e.CID, e.Version, e.Offset)
}

// FieldError reports a field whose value a command cannot carry. Field is the
// snake_case name used in JSON, so that the message names what a user wrote.
type FieldError struct {
	Command string
	Field   string
	Reason  string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Command, e.Field, e.Reason)
}

// CheckMax returns a *FieldError when v > max.
func CheckMax(command, field string, v, max uint64) error {
	if v > max {
		return &FieldError{Command: command, Field: field, Reason: fmt.Sprintf("%d out of range (max %d)", v, max)}
	}
	return nil
}

// Need returns an error wrapping ErrTruncated when b holds fewer than n payload
// bytes.
func Need(b []byte, n int) error {
	if len(b) < n {
		return fmt.Errorf("%w: payload needs %d bytes, frame has %d after the CID", ErrTruncated, n, len(b))
	}
	return nil
}
