package ns

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors wrapped by every error the loader methods and the API return, so a
// caller can test for them with errors.Is whatever ChirpStack's wording.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrInvalid       = errors.New("invalid argument")
	// ErrPrecondition is only returned when a quirk is switched off: an
	// enqueue ChirpStack would have accepted and then silently not sent.
	ErrPrecondition = errors.New("failed precondition")
)

// apiError is an error worded as ChirpStack words it. ChirpStack answers some
// errors with codes.Internal although the caller is at fault: those that
// reach the API through anyhow (everything from the multicast Enqueue path),
// lrwn hex-parsing errors, and raw database errors such as a duplicate key.
// internal marks them; rawMsg is the message ChirpStack gives then, when it
// differs from msg (a PostgreSQL error instead of a storage error).
//
// own marks the errors of the loud alternatives (Quirks): they are this
// simulator's, not ChirpStack's, and always carry their proper code.
type apiError struct {
	kind     error
	msg      string
	internal bool
	rawMsg   string
	own      bool
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.kind }

// notFound is storage::Error::NotFound.
func notFound(id string) error {
	return &apiError{kind: ErrNotFound, msg: fmt.Sprintf("Object does not exist (id: %s)", id)}
}

// invalidArg is a Status::invalid_argument raised by an API handler.
func invalidArg(msg string) error { return &apiError{kind: ErrInvalid, msg: msg} }

// validation is storage::Error::Validation.
func validation(msg string) error {
	return &apiError{kind: ErrInvalid, msg: "Validation error: " + msg}
}

func rawInternal(kind error, msg string) error {
	return &apiError{kind: kind, msg: msg, internal: true}
}

// duplicateKey is what PostgreSQL says when a row is inserted twice; the
// storage layer does not translate it, so the API answers Internal.
func duplicateKey(id, constraint string) error {
	return &apiError{
		kind:     ErrAlreadyExists,
		msg:      fmt.Sprintf("Object already exists (id: %s)", id),
		internal: true,
		rawMsg:   fmt.Sprintf("duplicate key value violates unique constraint %q", constraint),
	}
}

// foreignKey is what PostgreSQL says when a row refers to a missing parent.
func foreignKey(id, table, constraint string) error {
	return &apiError{
		kind:     ErrNotFound,
		msg:      fmt.Sprintf("Object does not exist (id: %s)", id),
		internal: true,
		rawMsg:   fmt.Sprintf("insert or update on table %q violates foreign key constraint %q", table, constraint),
	}
}

// loud is an error of a loud alternative to a ChirpStack quirk.
func loud(kind error, msg string) error { return &apiError{kind: kind, msg: msg, own: true} }

// viaAnyhow marks err as having travelled through an anyhow::Result, which
// ChirpStack's API turns into codes.Internal with the same message.
func viaAnyhow(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.own {
		return err
	}
	c := *ae
	c.internal = true
	return &c
}

// toStatus turns an error of this package into the gRPC status ChirpStack
// would answer, or into the "proper" code when proper is set.
func toStatus(err error, proper bool) error {
	if err == nil {
		return nil
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		return status.Error(codes.Internal, err.Error())
	}
	if ae.internal && !proper {
		msg := ae.rawMsg
		if msg == "" {
			msg = ae.msg
		}
		return status.Error(codes.Internal, msg)
	}
	code := codes.Internal
	switch ae.kind {
	case ErrNotFound:
		code = codes.NotFound
	case ErrAlreadyExists:
		code = codes.AlreadyExists
	case ErrInvalid:
		code = codes.InvalidArgument
	case ErrPrecondition:
		code = codes.FailedPrecondition
	}
	return status.Error(code, ae.msg)
}
