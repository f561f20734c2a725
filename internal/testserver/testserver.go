// Package testserver starts the real servers some tests talk to (mosquitto
// and redis-server) as processes of the test's own on free loopback ports, and
// stops them when the test ends.
//
// Without the binary a test is skipped, except when the environment variable CI
// is set: CI installs the servers (.ci/run), so a skip there would hide a broken
// install step.
package testserver

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a server process started for one test.
type Server struct {
	// Addr is host:port on loopback.
	Addr string

	t     testing.TB
	bin   string
	args  []string
	mu    sync.Mutex
	stop  func()
	local bool // false when Addr names a server given from outside
}

// Mosquitto starts an MQTT broker and returns it; its URL is "tcp://" + Addr.
// Without the binary, LORAFUOTA_TEST_MQTT (a tcp://host:port URL) names a broker
// to use instead.
func Mosquitto(t testing.TB) *Server {
	t.Helper()
	if _, err := find("mosquitto", "/usr/sbin"); err != nil {
		if u := os.Getenv("LORAFUOTA_TEST_MQTT"); u != "" {
			return &Server{Addr: strings.TrimPrefix(u, "tcp://"), t: t}
		}
	}
	// Without a configuration file mosquitto 2 listens on loopback only and
	// lets anonymous clients in.
	return start(t, "mosquitto", "/usr/sbin", "apt-get install mosquitto", func(port string) []string {
		return []string{"-p", port}
	})
}

// Redis starts a Redis server that keeps nothing on disk and returns it; its
// address is Addr.
func Redis(t testing.TB) *Server {
	t.Helper()
	return start(t, "redis-server", "/usr/bin", "apt-get install redis-server", func(port string) []string {
		return []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	})
}

// URL returns the broker URL of an MQTT server.
func (s *Server) URL() string { return "tcp://" + s.Addr }

// Restart stops the server and starts it again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	if !s.local {
		s.t.Fatal("testserver: cannot restart a server given from outside")
	}
	s.mu.Lock()
	s.stop()
	s.mu.Unlock()
	s.run()
}

// find looks name up on PATH, then in dir (Debian puts daemons in /usr/sbin,
// often not on a user's PATH).
func find(name, dir string) (string, error) {
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin, nil
	}
	if p := dir + "/" + name; fileExists(p) {
		return p, nil
	}
	return "", err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func start(t testing.TB, name, dir, install string, args func(port string) []string) *Server {
	t.Helper()
	bin, err := find(name, dir)
	if err != nil {
		msg := "no " + name + " binary (" + install + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	s := &Server{Addr: addr, t: t, bin: bin, args: args(port), local: true}
	s.run()
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stop()
	})
	return s
}

// run starts the process and waits until it accepts connections.
func (s *Server) run() {
	s.t.Helper()
	var out strings.Builder
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	s.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("%s exited: %s", s.bin, out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not listening on %s: %v", s.bin, s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
