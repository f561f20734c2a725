package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

// defaultServer is where the client commands look for `lorafuota serve` when
// neither --server nor LORAFUOTA_SERVER says otherwise: the gRPC address of
// the server's default configuration (server.grpc_listen).
const defaultServer = "127.0.0.1:8070"

// Environment variables the client commands read for their connection flags.
const (
	envServer = "LORAFUOTA_SERVER"
	envToken  = "LORAFUOTA_TOKEN"
)

// maxMessageSize bounds what the client sends (an image) and receives (a
// status with every device) in one message; gRPC's default is 4 MiB.
const maxMessageSize = 64 << 20

// clientFlags are the connection flags of every command that talks to a
// lorafuota server.
type clientFlags struct {
	server, token, caCert string
	tls                   bool
	timeout               time.Duration
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	// The environment is read when the command runs, not here, so that --help
	// never prints a token.
	fl.StringVar(&f.server, "server", defaultServer, "address of the lorafuota server, host:port; $"+envServer+" when set")
	fl.StringVar(&f.token, "token", "", "bearer token of the server (default $"+envToken+")")
	fl.BoolVar(&f.tls, "tls", false, "connect with TLS (the system's roots, or --ca-cert)")
	fl.StringVar(&f.caCert, "ca-cert", "", "PEM file of the CA that signed the server's certificate (implies --tls)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each call to the server")
}

// resolve fills the flags left unset from the environment.
func (f *clientFlags) resolve(cmd *cobra.Command) {
	if !cmd.Flags().Changed("server") {
		if v := os.Getenv(envServer); v != "" {
			f.server = v
		}
	}
	if !cmd.Flags().Changed("token") {
		f.token = os.Getenv(envToken)
	}
}

// client is a connection to a lorafuota server.
type client struct {
	lorafuotapb.DeploymentServiceClient
	conn  *grpc.ClientConn
	flags *clientFlags
}

// dial checks the connection flags and connects; the connection is made lazily,
// so a server that is not there shows up as the first call's Unavailable.
func (f *clientFlags) dial(cmd *cobra.Command) (*client, error) {
	f.resolve(cmd)
	if err := checkServerAddress(f.server); err != nil {
		return nil, fmt.Errorf("--server %q: %w", f.server, err)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: must be positive", f.timeout)
	}
	transport := insecure.NewCredentials()
	if f.tls || f.caCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if f.caCert != "" {
			pem, err := os.ReadFile(f.caCert)
			if err != nil {
				return nil, fmt.Errorf("--ca-cert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in the file", f.caCert)
			}
			cfg.RootCAs = pool
		}
		transport = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
	}
	if f.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(f.token)))
	}
	conn, err := grpc.NewClient(f.server, opts...)
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", f.server, err)
	}
	return &client{DeploymentServiceClient: lorafuotapb.NewDeploymentServiceClient(conn), conn: conn, flags: f}, nil
}

// checkServerAddress accepts host:port, or a gRPC target with a scheme
// (dns:///host:port, unix:/path).
func checkServerAddress(addr string) error {
	if addr == "" {
		return errors.New("empty")
	}
	if strings.Contains(addr, ":///") || strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "" || port == "" {
		return errors.New("want host:port")
	}
	return nil
}

func (c *client) Close() error { return c.conn.Close() }

// call returns a context bounded by --timeout for one unary call.
func (c *client) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.flags.timeout)
}

// fail turns the error of a call to op into one a user can read:
// "op: code: message", with a hint for the codes a flag can fix.
func (c *client) fail(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	e := &rpcError{op: op, st: st, err: err}
	switch st.Code() {
	case codes.Unauthenticated:
		if c.flags.token == "" {
			e.hint = "no token given: pass --token or set " + envToken
		} else {
			e.hint = "check --token or " + envToken
		}
	case codes.Unavailable:
		e.hint = "is `lorafuota serve` running at " + c.flags.server + "? set --server or " + envServer
	}
	return e
}

// rpcError is a failed call to the server.
type rpcError struct {
	op   string
	st   *status.Status
	hint string
	err  error
}

func (e *rpcError) Error() string {
	s := fmt.Sprintf("%s: %s: %s", e.op, e.st.Code(), e.st.Message())
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

func (e *rpcError) Unwrap() error { return e.err }

// GRPCStatus lets status.Code and status.FromError see through the wrapping.
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// bearerToken sends `authorization: Bearer <token>` with every call. It is
// allowed without TLS, for a server on loopback.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// writeProto writes m as protojson with the .proto field names: indented, or
// on one line (one object per line, for streams).
func writeProto(w io.Writer, m proto.Message, oneLine bool) error {
	opts := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}
	if !oneLine {
		opts.Multiline, opts.Indent = true, "  "
	}
	b, err := opts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// deploymentID is the ID argument of the commands that take one.
func deploymentID(args []string) (string, error) {
	id := strings.TrimSpace(args[0])
	if id == "" {
		return "", errors.New("ID: empty deployment id")
	}
	return id, nil
}
