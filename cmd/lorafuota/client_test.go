package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

// testToken is the bearer token the fake server wants, unless told otherwise.
const testToken = "s3cret"

// fakeServer is a DeploymentService that records what it receives and
// answers from canned responses.
type fakeServer struct {
	lorafuotapb.UnimplementedDeploymentServiceServer

	token string // the bearer token every call needs; "" for none
	err   error  // returned by every call when set

	plan     *lorafuotapb.PlanResponse
	created  *lorafuotapb.CreateDeploymentResponse
	status   *lorafuotapb.DeploymentStatus   // GetDeployment, Cancel, Start
	phases   []string                        // GetDeployment's phase, call by call (the last repeats)
	watch    []*lorafuotapb.DeploymentStatus // WatchDeployment's stream
	list     *lorafuotapb.ListDeploymentsResponse
	logs     [][]*lorafuotapb.LogEntry            // each GetDeployment call reveals the next batch
	logPage  int                                  // most entries GetLogs returns (0: all)
	invPages []*lorafuotapb.ListInventoryResponse // by cursor: page i answers cursor i

	mu       sync.Mutex
	requests []proto.Message // every request, in order
	auth     []string        // the authorization header of every call
	gets     int
}

func (f *fakeServer) record(req proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, proto.Clone(req))
}

// received returns the requests of type T, in order.
func received[T proto.Message](f *fakeServer) []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []T
	for _, r := range f.requests {
		if m, ok := r.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeServer) Plan(_ context.Context, req *lorafuotapb.PlanRequest) (*lorafuotapb.PlanResponse, error) {
	f.record(req)
	return f.plan, f.err
}

func (f *fakeServer) CreateDeployment(_ context.Context, req *lorafuotapb.CreateDeploymentRequest) (*lorafuotapb.CreateDeploymentResponse, error) {
	f.record(req)
	return f.created, f.err
}

func (f *fakeServer) StartDeployment(_ context.Context, req *lorafuotapb.StartDeploymentRequest) (*lorafuotapb.DeploymentStatus, error) {
	f.record(req)
	return f.status, f.err
}

func (f *fakeServer) GetDeployment(_ context.Context, req *lorafuotapb.GetDeploymentRequest) (*lorafuotapb.DeploymentStatus, error) {
	f.record(req)
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := proto.Clone(f.status).(*lorafuotapb.DeploymentStatus)
	if len(f.phases) > 0 {
		st.Phase = f.phases[min(f.gets, len(f.phases)-1)]
	}
	f.gets++
	return st, nil
}

func (f *fakeServer) ListDeployments(_ context.Context, req *lorafuotapb.ListDeploymentsRequest) (*lorafuotapb.ListDeploymentsResponse, error) {
	f.record(req)
	return f.list, f.err
}

func (f *fakeServer) CancelDeployment(_ context.Context, req *lorafuotapb.CancelDeploymentRequest) (*lorafuotapb.DeploymentStatus, error) {
	f.record(req)
	return f.status, f.err
}

func (f *fakeServer) WatchDeployment(req *lorafuotapb.WatchDeploymentRequest, stream grpc.ServerStreamingServer[lorafuotapb.DeploymentStatus]) error {
	f.record(req)
	if f.err != nil {
		return f.err
	}
	for _, st := range f.watch {
		if err := stream.Send(st); err != nil {
			return err
		}
	}
	return nil
}

// GetLogs serves the entries revealed so far after req.After, at most
// logPage and req.Limit of them.
func (f *fakeServer) GetLogs(_ context.Context, req *lorafuotapb.GetLogsRequest) (*lorafuotapb.GetLogsResponse, error) {
	f.record(req)
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var visible []*lorafuotapb.LogEntry
	for i := 0; i < len(f.logs) && i <= max(f.gets-1, 0); i++ {
		visible = append(visible, f.logs[i]...)
	}
	start := 0
	if req.GetAfter() != "" {
		start = len(visible)
		for i, e := range visible {
			if e.GetId() == req.GetAfter() {
				start = i + 1
			}
		}
	}
	out := visible[start:]
	if f.logPage > 0 && len(out) > f.logPage {
		out = out[:f.logPage]
	}
	if req.GetLimit() > 0 && len(out) > int(req.GetLimit()) {
		out = out[:req.GetLimit()]
	}
	return &lorafuotapb.GetLogsResponse{Entries: out}, nil
}

func (f *fakeServer) ListInventory(_ context.Context, req *lorafuotapb.ListInventoryRequest) (*lorafuotapb.ListInventoryResponse, error) {
	f.record(req)
	if f.err != nil {
		return nil, f.err
	}
	if req.GetCursor() >= uint64(len(f.invPages)) {
		return nil, status.Errorf(codes.InvalidArgument, "cursor %d", req.GetCursor())
	}
	return f.invPages[req.GetCursor()], nil
}

// authorize records the authorization header and checks it against f.token.
func (f *fakeServer) authorize(ctx context.Context) error {
	var got string
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		got = md.Get("authorization")[0]
	}
	f.mu.Lock()
	f.auth = append(f.auth, got)
	f.mu.Unlock()
	if f.token != "" && got != "Bearer "+f.token {
		return status.Error(codes.Unauthenticated, "missing or wrong bearer token")
	}
	return nil
}

func (f *fakeServer) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.auth...)
}

// serve serves f on a loopback port and returns its address; with creds,
// over TLS.
func serve(t *testing.T, f *fakeServer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts,
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := f.authorize(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := f.authorize(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
	srv := grpc.NewServer(opts...)
	lorafuotapb.RegisterDeploymentServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// newFake returns a fake server wanting testToken, serving it, and the
// connection flags that reach it.
func newFake(t *testing.T) (*fakeServer, []string) {
	t.Helper()
	f := &fakeServer{token: testToken}
	addr := serve(t, f)
	return f, []string{"--server", addr, "--token", testToken, "--timeout", "5s"}
}

// cmdArgs joins a command, the connection flags and more flags.
func cmdArgs(cmd []string, conn []string, more ...string) []string {
	return append(append(append([]string{}, cmd...), conn...), more...)
}

func ts(sec int64) *timestamppb.Timestamp {
	return timestamppb.New(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second))
}

// samplePlan is a plan as the server would return it.
func samplePlan() *lorafuotapb.Plan {
	return &lorafuotapb.Plan{
		Region: "EU868", Dr: 5, FrequencyHz: 869525000, FragmentSize: 232,
		FrameAirtime: durationpb.New(399 * time.Millisecond),
		Blocks: []*lorafuotapb.BlockPlan{
			{Offset: 0, Size: 65536, NbFrag: 283, Redundancy: 65, Duration: durationpb.New(1389 * time.Second), SessionTimeout: 11},
		},
		Frames: 348, Airtime: durationpb.New(138852 * time.Millisecond), DutyCycle: 0.1,
		LowerBound: durationpb.New(1735 * time.Second), Binding: "duty cycle",
		Warnings: []string{"block 0: something to know"},
	}
}

// sampleStatus is a deployment in its multicast phase.
func sampleStatus() *lorafuotapb.DeploymentStatus {
	return &lorafuotapb.DeploymentStatus{
		Id: "dep-1", Name: "night rollout", Phase: "multicast", CreatedAt: ts(0), UpdatedAt: ts(600),
		Plan: samplePlan(), DevicesTotal: 3, Updated: 1, Received: 0, Failed: 1, Canceled: 0, Pending: 1,
		FragmentsSent: 120, FragmentsPlanned: 348, SessionStart: ts(300),
		Phases: []*lorafuotapb.PhaseProgress{
			{Name: "setup", Done: 3, Total: 3, State: "done"},
			{Name: "session", Done: 1, Total: 1, State: "done"},
			{Name: "multicast", Done: 120, Total: 348, State: "running"},
			{Name: "completion", Done: 0, Total: 3, State: "pending"},
		},
		DeviceStatuses: []*lorafuotapb.DeviceStatus{
			{DevEui: "70b3d57ed0000001", Step: "done", Outcome: "updated", FirmwareVersion: 2},
			{DevEui: "70b3d57ed0000002", Step: "status", Outcome: "failed", Reason: "MIC error", FirmwareVersion: 1},
			{DevEui: "70b3d57ed0000003", Step: "multicast"},
		},
	}
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name     string
		env      string // LORAFUOTA_TOKEN
		flags    []string
		wantAuth string
		wantErr  string // "" for success
	}{
		{"flag", "", []string{"--token", testToken}, "Bearer " + testToken, ""},
		{"environment", testToken, nil, "Bearer " + testToken, ""},
		{"flag over environment", "other", []string{"--token", testToken}, "Bearer " + testToken, ""},
		{"missing", "", nil, "", "GetDeployment: Unauthenticated: missing or wrong bearer token (no token given: pass --token or set LORAFUOTA_TOKEN)"},
		{"wrong", "", []string{"--token", "nope"}, "Bearer nope", "GetDeployment: Unauthenticated: missing or wrong bearer token (check --token or LORAFUOTA_TOKEN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envToken, tt.env)
			f := &fakeServer{token: testToken, status: sampleStatus()}
			addr := serve(t, f)
			_, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1"}, []string{"--server", addr}, tt.flags...)...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("status.Code(err) = %v, want Unauthenticated", status.Code(err))
				}
			}
			if got := f.authHeaders(); len(got) != 1 || got[0] != tt.wantAuth {
				t.Errorf("authorization headers %q, want [%q]", got, tt.wantAuth)
			}
		})
	}
}

func TestServerAddress(t *testing.T) {
	f := &fakeServer{status: sampleStatus()}
	addr := serve(t, f)

	// Nothing listens on a port just closed.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()

	tests := []struct {
		name    string
		env     string // LORAFUOTA_SERVER
		flags   []string
		wantErr string
	}{
		{"flag", "", []string{"--server", addr}, ""},
		{"environment", addr, nil, ""},
		{"flag over environment", closed, []string{"--server", addr}, ""},
		{"nothing there", "", []string{"--server", closed}, "GetDeployment: Unavailable: "},
		{"no port", "", []string{"--server", "localhost"}, `--server "localhost": want host:port`},
		{"timeout", "", []string{"--server", addr, "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{"ca file missing", "", []string{"--server", addr, "--ca-cert", filepath.Join(t.TempDir(), "none.pem")}, "--ca-cert: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envServer, tt.env)
			t.Setenv(envToken, "")
			out, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1"}, tt.flags)...)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out, "dep-1") {
					t.Fatalf("err %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("unavailable hint", func(t *testing.T) {
		_, _, err := execute(t, "", "status", "dep-1", "--server", closed)
		if err == nil || !strings.Contains(err.Error(), "is `lorafuota serve` running at "+closed) {
			t.Errorf("err %v, want the hint naming %s", err, closed)
		}
	})
}

func TestDefaultServer(t *testing.T) {
	t.Setenv(envServer, "")
	cmd := newStatusCmd()
	if got := cmd.Flags().Lookup("server").DefValue; got != defaultServer {
		t.Errorf("--server default %q, want %q", got, defaultServer)
	}
	if got := cmd.Flags().Lookup("token").DefValue; got != "" {
		t.Errorf("--token default %q: the help must not show a token", got)
	}
}

func TestTLS(t *testing.T) {
	certPEM, cert := selfSigned(t)
	f := &fakeServer{status: sampleStatus()}
	addr := serve(t, f, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		flags   []string
		wantErr string
	}{
		{"trusted CA", []string{"--ca-cert", caFile}, ""},
		{"trusted CA and --tls", []string{"--tls", "--ca-cert", caFile}, ""},
		{"system roots", []string{"--tls"}, "GetDeployment: Unavailable: "},
		{"plaintext to a TLS server", nil, "GetDeployment: Unavailable: "},
		{"not PEM", []string{"--ca-cert", notPEM}, "--ca-cert " + notPEM + ": no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1", "--server", addr}, tt.flags)...)
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out, "dep-1") {
					t.Fatalf("err %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// selfSigned returns a certificate for 127.0.0.1, as PEM and for a server.
func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lorafuota test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}

func TestRPCErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  []string
		err  error
		want string
	}{
		{"status", []string{"status", "dep-9"}, status.Error(codes.NotFound, `deployment "dep-9" not found`),
			`GetDeployment: NotFound: deployment "dep-9" not found`},
		{"follow", []string{"status", "dep-9", "--follow"}, status.Error(codes.NotFound, "no such deployment"),
			"WatchDeployment: NotFound: no such deployment"},
		{"list", []string{"list"}, status.Error(codes.Internal, "redis down"), "ListDeployments: Internal: redis down"},
		{"cancel", []string{"cancel", "dep-1"}, status.Error(codes.FailedPrecondition, "already done"),
			"CancelDeployment: FailedPrecondition: already done"},
		{"start", []string{"start", "dep-1"}, status.Error(codes.FailedPrecondition, "already started"),
			"StartDeployment: FailedPrecondition: already started"},
		{"logs", []string{"logs", "dep-1"}, status.Error(codes.NotFound, "no log"), "GetLogs: NotFound: no log"},
		{"inventory", []string{"inventory"}, status.Error(codes.PermissionDenied, "no"), "ListInventory: PermissionDenied: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.err = tt.err
			_, _, err := execute(t, "", cmdArgs(tt.cmd, conn)...)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			var re *rpcError
			if !errors.As(err, &re) || status.Code(err) != status.Code(tt.err) {
				t.Errorf("err %T with code %v: the status is not kept", err, status.Code(err))
			}
		})
	}
}
