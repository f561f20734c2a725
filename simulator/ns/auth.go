package ns

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authorize checks the API key of a call as ChirpStack does (api/auth/mod.rs
// and validator.rs), with its messages:
//
//   - no "authorization" metadata: "no authorization provided";
//   - not "Bearer <token>": "authorization metadata must be in format
//     'Bearer <TOKEN>" (sic, ChirpStack's unbalanced quote);
//   - a token that is not a configured key: what jsonwebtoken says of it,
//     "InvalidSignature" for something shaped like a JWT, "InvalidToken"
//     otherwise.
//
// All are codes.Unauthenticated. ChirpStack checks the key after it has
// parsed the ids of the request, so a malformed id there wins over a missing
// key; here the key is checked first, for every method.
func (s *Server) authorize(ctx context.Context, method string) error {
	if !strings.HasPrefix(method, "/api.") {
		return nil // not one of ours, if g serves other services too
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "no authorization provided")
	}
	token, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return status.Error(codes.Unauthenticated, "authorization metadata must be in format 'Bearer <TOKEN>")
	}
	match := 0
	for _, k := range s.cfg.APIKeys {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(k))
	}
	if match == 1 {
		return nil
	}
	if strings.Count(token, ".") == 2 {
		return status.Error(codes.Unauthenticated, "InvalidSignature")
	}
	return status.Error(codes.Unauthenticated, "InvalidToken")
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
