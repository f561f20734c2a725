package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The kinds of the Manager's errors; test them with errors.Is. The APIs
// answer them with the matching gRPC code.
var (
	// ErrInvalid: the request cannot work; the message names the field and
	// the reason.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: no such deployment.
	ErrNotFound = errors.New("not found")
	// ErrFailedPrecondition: not in this state (started, running, a device
	// busy in another deployment, run by another server).
	ErrFailedPrecondition = errors.New("failed precondition")
)

// kindError is an error of one of the kinds above, with its own message and
// maybe a cause.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *kindError) Is(target error) bool { return target == e.kind }

func (e *kindError) Unwrap() error { return e.cause }

// invalid says that field is wrong and why.
func invalid(field, format string, args ...any) error {
	return &kindError{kind: ErrInvalid, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// invalidErr says that field is wrong because of err.
func invalidErr(field string, err error) error {
	return &kindError{kind: ErrInvalid, msg: field, cause: err}
}

func notFound(id string) error {
	return &kindError{kind: ErrNotFound, msg: fmt.Sprintf("deployment %q: not found", id)}
}

func precondition(format string, args ...any) error {
	return &kindError{kind: ErrFailedPrecondition, msg: fmt.Sprintf(format, args...)}
}

// grpcError answers err with the gRPC code of its kind; any other error,
// a failure of ChirpStack's API among them, is Internal.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrFailedPrecondition):
		code = codes.FailedPrecondition
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}
