package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildLorafuota builds the lorafuota binary of the module the test runs in
// into a temporary directory and returns its path.
func buildLorafuota(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build lorafuota: %v", err)
	}
	gomod, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "lorafuota")); err != nil {
		t.Fatalf("module root %s has no cmd/lorafuota: %v", root, err)
	}
	bin := filepath.Join(t.TempDir(), "lorafuota")
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/lorafuota")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/lorafuota: %v\n%s", err, out)
	}
	return bin
}

// childEnv is the environment of the processes the test starts: the test's
// own without the LORAFUOTA_ variables, which would override the
// configuration and flags the test gives.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LORAFUOTA_") {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a long-running lorafuota command started by the test. It is
// stopped when the test ends, and its output goes to the test log if the
// test failed.
type process struct {
	t              *testing.T
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	exited         chan struct{}
	err            error // the exit status, once exited is closed
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{t: t, name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if err := p.stop(5 * time.Second); err != nil {
			t.Logf("%s: %v", p.name, err)
		}
		if t.Failed() {
			t.Logf("%s %s\n--- stdout:\n%s--- stderr:\n%s", p.name, strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM, as an operator or a service manager would, and waits
// up to grace for the process to exit before killing it. It returns the exit
// status: nil for a clean exit, an error for a failure or a kill.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("still running %v after SIGTERM; killed", grace)
	}
}

// waitFor polls the process's output until find returns true and returns
// what it found; the test fails if the process exits first or the timeout
// passes.
func (p *process) waitFor(what string, timeout time.Duration, find func(stdout, stderr string) (string, bool)) string {
	p.t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, ok := find(p.stdout.String(), p.stderr.String()); ok {
			return s
		}
		select {
		case <-p.exited:
			if s, ok := find(p.stdout.String(), p.stderr.String()); ok {
				return s
			}
			p.t.Fatalf("%s exited (%v) before %s", p.name, p.err, what)
		case <-deadline:
			p.t.Fatalf("%s: no %s after %v", p.name, what, timeout)
		case <-tick.C:
		}
	}
}

// waitLine waits for a line of standard output starting with prefix and
// returns the rest of it.
func (p *process) waitLine(prefix string, timeout time.Duration) string {
	p.t.Helper()
	return p.waitFor(fmt.Sprintf("%q line", prefix), timeout, func(stdout, _ string) (string, bool) {
		for line := range strings.Lines(stdout) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				return rest, true
			}
		}
		return "", false
	})
}

// waitLog waits for a line of standard error matching re.
func (p *process) waitLog(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	return p.waitFor(fmt.Sprintf("log line matching %s", re), timeout, func(_, stderr string) (string, bool) {
		s := re.FindString(stderr)
		return s, s != ""
	})
}

// cli runs a one-shot lorafuota command to its end and returns its standard
// output; the test fails if it exits non-zero.
func cli(ctx context.Context, t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("lorafuota %s: %v", args[0], time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("lorafuota %s: %v\n--- stdout:\n%s--- stderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// setKey sets key in a TOML text as `lorafuota config` writes it, where every
// key of interest is on a line of its own and appears once.
func setKey(t *testing.T, text, key, value string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
	if n := len(re.FindAllStringIndex(text, -1)); n != 1 {
		t.Fatalf("key %q is on %d lines of the configuration, want 1", key, n)
	}
	return re.ReplaceAllLiteralString(text, key+" = "+value)
}
