package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Auth checks the bearer token of every gRPC call against the configured
// ones.
type Auth struct {
	hashes [][sha256.Size]byte
}

// NewAuth returns an Auth that accepts tokens; it refuses an empty list or
// an empty token.
func NewAuth(tokens []string) (*Auth, error) {
	if len(tokens) == 0 {
		return nil, errors.New("server: auth: no API token")
	}
	a := &Auth{}
	for _, t := range tokens {
		if t == "" {
			return nil, errors.New("server: auth: empty API token")
		}
		a.hashes = append(a.hashes, sha256.Sum256([]byte(t)))
	}
	return a, nil
}

// check returns nil when ctx carries "authorization: Bearer <token>" with
// an accepted token. Hashes are compared in constant time, against every
// token, so the time taken tells nothing of the token sent.
func (a *Auth) check(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return status.Error(codes.Unauthenticated, `authorization: want one "Bearer <token>" header`)
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return status.Error(codes.Unauthenticated, `authorization: want "Bearer <token>"`)
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for _, h := range a.hashes {
		match |= subtle.ConstantTimeCompare(got[:], h[:])
	}
	if match != 1 {
		return status.Error(codes.Unauthenticated, "authorization: unknown token")
	}
	return nil
}

// Unary is the unary server interceptor.
func (a *Auth) Unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is the stream server interceptor.
func (a *Auth) Stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.check(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}
