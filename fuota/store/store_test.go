package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// The real Redis server shared by the tests of this package, started on first
// use and stopped by TestMain.
var redisServer struct {
	once sync.Once
	cmd  *exec.Cmd
	addr string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if redisServer.cmd != nil {
		redisServer.cmd.Process.Kill()
		redisServer.cmd.Wait()
	}
	os.Exit(code)
}

func startRedis() (*exec.Cmd, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr != nil {
			return nil, "", err
		}
		bin = "/usr/bin/redis-server"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + port
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return cmd, addr, nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, "", fmt.Errorf("redis-server on %s did not answer: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// realRedis returns the address of the test Redis server, skipping the test
// when redis-server is not installed (failing under CI).
func realRedis(t *testing.T) string {
	t.Helper()
	redisServer.once.Do(func() { redisServer.cmd, redisServer.addr, redisServer.err = startRedis() })
	if redisServer.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("real Redis needed under CI: %v", redisServer.err)
		}
		t.Skipf("redis-server not available (install the redis-server package): %v", redisServer.err)
	}
	return redisServer.addr
}

// backend opens stores on one kind of Redis.
type backend struct {
	name string
	// open returns a store of its own: a new embedded server, or a key prefix
	// of its own on the shared real server.
	open func(t *testing.T, cfg Config) *Store
	// advance lets d pass for the TTLs.
	advance func(s *Store, d time.Duration)
}

var backends = []backend{
	{
		name: "memory",
		open: func(t *testing.T, cfg Config) *Store {
			cfg.Addr = Memory
			return openStore(t, cfg)
		},
		advance: func(s *Store, d time.Duration) { s.mem.FastForward(d) },
	},
	{
		name: "redis-server",
		open: func(t *testing.T, cfg Config) *Store {
			cfg.Addr = realRedis(t)
			cfg.Prefix = testPrefix(t)
			return openStore(t, cfg)
		},
		advance: func(_ *Store, d time.Duration) { time.Sleep(d) },
	},
}

var prefixes atomic.Int64

// testPrefix returns a key prefix no other test, nor a repeated run of the
// same test (go test -count), uses on the shared server.
func testPrefix(t *testing.T) string {
	return fmt.Sprintf("test:%d:%s:", prefixes.Add(1), t.Name())
}

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEach runs f against every backend.
func forEach(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

func eui(n int) lorawan.EUI64 {
	return lorawan.EUI64{0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, byte(n >> 8), byte(n)}
}

func wantConflict(t *testing.T, err error, devEUI *lorawan.EUI64, expected, actual int64) {
	t.Helper()
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want a ConflictError", err)
	}
	if (ce.DevEUI == nil) != (devEUI == nil) || devEUI != nil && *ce.DevEUI != *devEUI ||
		ce.Expected != expected || ce.Actual != actual {
		t.Fatalf("conflict = %+v, want device %v expected %d actual %d", ce, devEUI, expected, actual)
	}
}

func TestDeploymentCAS(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		steps := []struct {
			name    string
			id      string
			put     Put
			want    int64 // new version, 0 when a conflict is expected
			current int64 // stored version reported by the conflict
		}{
			{"create", "d1", Put{State: "running", Data: []byte("a"), ExpectVersion: 0}, 1, 0},
			{"create twice", "d1", Put{State: "running", Data: []byte("x"), ExpectVersion: 0}, 0, 1},
			{"update", "d1", Put{State: "running", Data: []byte("b"), ExpectVersion: 1}, 2, 0},
			{"stale update", "d1", Put{State: "done", Data: []byte("x"), ExpectVersion: 1}, 0, 2},
			{"update missing", "d2", Put{State: "running", ExpectVersion: 3}, 0, 0},
			{"create other", "d2", Put{State: "paused", Data: []byte("c")}, 1, 0},
			{"create third", "d0", Put{State: "done", Data: []byte{}}, 1, 0},
		}
		for _, st := range steps {
			v, err := s.PutDeployment(ctx, st.id, st.put)
			if st.want == 0 {
				wantConflict(t, err, nil, st.put.ExpectVersion, st.current)
				continue
			}
			if err != nil || v != st.want {
				t.Fatalf("%s: PutDeployment = %d, %v, want %d", st.name, v, err, st.want)
			}
		}
		got, err := s.GetDeployment(ctx, "d1")
		if err != nil || got.State != "running" || string(got.Data) != "b" || got.Version != 2 {
			t.Fatalf("GetDeployment = %+v, %v", got, err)
		}
		lists := []struct {
			states []string
			want   []string
		}{
			{nil, []string{"d0", "d1", "d2"}},
			{[]string{"running", "paused"}, []string{"d1", "d2"}},
			{[]string{"done"}, []string{"d0"}},
			{[]string{"cancelled"}, nil},
		}
		for _, l := range lists {
			ds, err := s.ListDeployments(ctx, l.states...)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			if !slices.Equal(ids, l.want) {
				t.Errorf("ListDeployments(%q) = %q, want %q", l.states, ids, l.want)
			}
		}
		if _, err := s.PutDevice(ctx, "d1", eui(1), Put{}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDeployment(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{
			func() error { _, err := s.GetDeployment(ctx, "d1"); return err }(),
			func() error { _, err := s.GetDevice(ctx, "d1", eui(1)); return err }(),
			s.DeleteDeployment(ctx, "d1"),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("after delete: err = %v, want ErrNotFound", err)
			}
		}
		if ds, _ := s.ListDeployments(ctx); len(ds) != 2 {
			t.Errorf("after delete: %d deployments listed, want 2", len(ds))
		}
	})
}

func TestDeviceCAS(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		for _, n := range []int{3, 1, 2} {
			if v, err := s.PutDevice(ctx, "dep", eui(n), Put{State: "setup", Data: []byte{byte(n)}}); err != nil || v != 1 {
				t.Fatalf("PutDevice(%d) = %d, %v", n, v, err)
			}
		}
		if v, err := s.PutDevice(ctx, "dep", eui(2), Put{State: "multicast", ExpectVersion: 1}); err != nil || v != 2 {
			t.Fatalf("update = %d, %v", v, err)
		}
		e := eui(2)
		_, err := s.PutDevice(ctx, "dep", eui(2), Put{ExpectVersion: 1})
		wantConflict(t, err, &e, 1, 2)

		devs, err := s.ListDevices(ctx, "dep")
		if err != nil {
			t.Fatal(err)
		}
		want := []Device{
			{eui(1), "setup", []byte{1}, 1},
			{eui(2), "multicast", []byte{}, 2},
			{eui(3), "setup", []byte{3}, 1},
		}
		if len(devs) != len(want) {
			t.Fatalf("ListDevices = %+v", devs)
		}
		for i := range want {
			if devs[i].DevEUI != want[i].DevEUI || devs[i].State != want[i].State ||
				string(devs[i].Data) != string(want[i].Data) || devs[i].Version != want[i].Version {
				t.Errorf("device %d = %+v, want %+v", i, devs[i], want[i])
			}
		}
		if _, err := s.GetDevice(ctx, "dep", eui(9)); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDevice of unknown device: %v, want ErrNotFound", err)
		}
	})
}

func TestApplyAtomic(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		setup := Tx{
			Deployment: &Put{State: "running", Data: []byte("dep1")},
			Devices: []DevicePut{
				{eui(1), Put{State: "a", Data: []byte("dev1")}},
				{eui(2), Put{State: "a", Data: []byte("dev2")}},
			},
		}
		if _, err := s.Apply(ctx, "dep", setup); err != nil {
			t.Fatal(err)
		}
		bad := Tx{
			Deployment: &Put{State: "running", Data: []byte("dep2"), ExpectVersion: 1},
			Devices: []DevicePut{
				{eui(1), Put{State: "b", Data: []byte("dev1b"), ExpectVersion: 1}},
				{eui(2), Put{State: "b", Data: []byte("dev2b"), ExpectVersion: 7}},
				{eui(3), Put{State: "b", Data: []byte("dev3b")}},
			},
			Log:            []LogEntry{{Kind: "setup", Message: "must not appear"}},
			IdempotencyKey: "uplink-1",
		}
		e := eui(2)
		_, err := s.Apply(ctx, "dep", bad)
		wantConflict(t, err, &e, 7, 1)

		d, err := s.GetDeployment(ctx, "dep")
		if err != nil || string(d.Data) != "dep1" || d.Version != 1 {
			t.Errorf("deployment after failed Apply = %+v, %v", d, err)
		}
		devs, err := s.ListDevices(ctx, "dep")
		if err != nil || len(devs) != 2 {
			t.Fatalf("devices after failed Apply = %+v, %v", devs, err)
		}
		for _, dv := range devs {
			if dv.Version != 1 || dv.State != "a" {
				t.Errorf("device after failed Apply = %+v", dv)
			}
		}
		if l, err := s.Log(ctx, "dep", "", 10); err != nil || len(l) != 0 {
			t.Errorf("log after failed Apply = %+v, %v", l, err)
		}

		// The failed attempt must not have consumed the idempotency key.
		bad.Devices[1].ExpectVersion = 1
		res, err := s.Apply(ctx, "dep", bad)
		if err != nil || res.Replayed || res.DeploymentVersion != 2 ||
			!slices.Equal(res.DeviceVersions, []int64{2, 2, 1}) || len(res.LogIDs) != 1 {
			t.Fatalf("corrected Apply = %+v, %v", res, err)
		}
	})
}

func TestApplyIdempotent(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const ttl = 500 * time.Millisecond
		s := b.open(t, Config{IdempotencyTTL: ttl})
		tx := Tx{
			Deployment:     &Put{State: "running", Data: []byte("x")},
			Devices:        []DevicePut{{eui(1), Put{State: "setup"}}},
			Log:            []LogEntry{{Kind: "k", Message: "one"}, {Kind: "k", Message: "two"}},
			IdempotencyKey: "dedup-42",
		}
		first, err := s.Apply(ctx, "dep", tx)
		if err != nil || first.Replayed {
			t.Fatalf("first Apply = %+v, %v", first, err)
		}
		again, err := s.Apply(ctx, "dep", tx)
		if err != nil || !again.Replayed || again.DeploymentVersion != first.DeploymentVersion ||
			!slices.Equal(again.DeviceVersions, first.DeviceVersions) || !slices.Equal(again.LogIDs, first.LogIDs) {
			t.Fatalf("replayed Apply = %+v, %v; first %+v", again, err, first)
		}
		if d, _ := s.GetDeployment(ctx, "dep"); d.Version != 1 {
			t.Errorf("deployment version after replay = %d, want 1", d.Version)
		}
		if l, _ := s.Log(ctx, "dep", "", 10); len(l) != 2 {
			t.Errorf("log after replay has %d entries, want 2", len(l))
		}
		// After the key expired, the replay is judged by its versions.
		b.advance(s, ttl+100*time.Millisecond)
		_, err = s.Apply(ctx, "dep", tx)
		wantConflict(t, err, nil, 0, 1)
	})
}

func TestLog(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{LogCap: 10})
		at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
		dev := eui(7)
		first := LogEntry{Time: at, DevEUI: &dev, Kind: "FragSessionSetupAns", Message: "accepted",
			Fields: map[string]string{"session_cnt": "3", "frag_index": "0"}}
		ids, err := s.AppendLog(ctx, "dep", first)
		if err != nil || len(ids) != 1 {
			t.Fatalf("AppendLog = %q, %v", ids, err)
		}
		got, err := s.Log(ctx, "dep", "", 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("Log = %+v, %v", got, err)
		}
		g := got[0]
		if g.ID != ids[0] || !g.Time.Equal(at) || g.DevEUI == nil || *g.DevEUI != dev || g.Kind != first.Kind ||
			g.Message != first.Message || len(g.Fields) != 2 || g.Fields["session_cnt"] != "3" {
			t.Errorf("entry read back = %+v, want %+v", g, first)
		}

		const total = 400
		for i := 1; i < total; i += 50 {
			var batch []LogEntry
			for j := i; j < min(i+50, total); j++ {
				batch = append(batch, LogEntry{Kind: "k", Message: strconv.Itoa(j)})
			}
			if _, err := s.AppendLog(ctx, "dep", batch...); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.Log(ctx, "dep", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		// MAXLEN ~ trims whole stream nodes (100 entries by default on Redis),
		// so the log holds at least the cap and far fewer than were added.
		if len(all) < 10 || len(all) > 200 {
			t.Errorf("log holds %d entries with cap 10 after %d appends", len(all), total)
		}
		if last := all[len(all)-1].Message; last != strconv.Itoa(total-1) {
			t.Errorf("newest entry = %q, want %d", last, total-1)
		}
		page, err := s.Log(ctx, "dep", all[len(all)-4].ID, 2)
		if err != nil || len(page) != 2 || page[0].ID != all[len(all)-3].ID || page[1].ID != all[len(all)-2].ID {
			t.Errorf("page after %s = %+v, %v", all[len(all)-4].ID, page, err)
		}
		if _, err := s.Log(ctx, "dep", "", 0); err == nil {
			t.Error("Log with limit 0: no error")
		}
	})
}

func TestSessionCnt(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		dev := eui(1)
		if _, ok, err := s.PeekSessionCnt(ctx, dev, 0); ok || err != nil {
			t.Fatalf("Peek before use = %v, %v", ok, err)
		}
		const workers, each = 8, 40
		var mu sync.Mutex
		seen := make(map[uint16]bool)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range each {
					n, err := s.NextSessionCnt(ctx, dev, 0)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if seen[n] {
						errs <- fmt.Errorf("SessionCnt %d handed out twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for n := range uint16(workers * each) {
			if !seen[n] {
				t.Fatalf("SessionCnt %d never handed out; values are not dense from 0", n)
			}
		}
		if last, ok, err := s.PeekSessionCnt(ctx, dev, 0); !ok || err != nil || last != workers*each-1 {
			t.Errorf("Peek = %d, %v, %v, want %d", last, ok, err, workers*each-1)
		}
		// Counters are per FragIndex.
		if n, err := s.NextSessionCnt(ctx, dev, 1); err != nil || n != 0 {
			t.Errorf("first SessionCnt of FragIndex 1 = %d, %v", n, err)
		}
		// Marking never moves back, and the limit is 65535.
		for _, used := range []uint16{65534, 100} {
			if err := s.MarkSessionCntUsed(ctx, dev, 1, used); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.NextSessionCnt(ctx, dev, 1); err != nil || n != 65535 {
			t.Fatalf("SessionCnt after marking 65534 = %d, %v", n, err)
		}
		_, err := s.NextSessionCnt(ctx, dev, 1)
		if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), dev.String()) ||
			!strings.Contains(err.Error(), "FragIndex 1") {
			t.Errorf("SessionCnt past 65535: %v", err)
		}
		if _, err := s.NextSessionCnt(ctx, dev, 4); err == nil {
			t.Error("FragIndex 4 accepted")
		}
	})
}

func TestMcAddr(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		pool := McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0xf8}, Max: lorawan.DevAddr{0xfc, 0, 1, 0x07}} // 16 addresses across a byte boundary
		const owners = 20
		addrs := make([]lorawan.DevAddr, owners)
		errs := make([]error, owners)
		var wg sync.WaitGroup
		for i := range owners {
			wg.Go(func() { addrs[i], errs[i] = s.AllocateMcAddr(ctx, pool, "dep-"+strconv.Itoa(i)) })
		}
		wg.Wait()
		got := make(map[lorawan.DevAddr]string)
		exhausted := 0
		for i, err := range errs {
			owner := "dep-" + strconv.Itoa(i)
			switch {
			case errors.Is(err, ErrExhausted):
				exhausted++
			case err != nil:
				t.Fatal(err)
			default:
				a := addrUint(addrs[i])
				if a < addrUint(pool.Min) || a > addrUint(pool.Max) {
					t.Errorf("%s outside pool %s", addrs[i], pool)
				}
				if prev, dup := got[addrs[i]]; dup {
					t.Errorf("%s allocated to %s and %s", addrs[i], prev, owner)
				}
				got[addrs[i]] = owner
			}
		}
		if len(got) != 16 || exhausted != owners-16 {
			t.Fatalf("%d allocated, %d exhausted; want 16 and %d", len(got), exhausted, owners-16)
		}
		var held lorawan.DevAddr
		var holder string
		for a, o := range got {
			held, holder = a, o
			break
		}
		if a, err := s.AllocateMcAddr(ctx, pool, holder); err != nil || a != held {
			t.Errorf("repeated allocation for %s = %s, %v, want %s", holder, a, err, held)
		}
		if o, err := s.McAddrOwner(ctx, held); err != nil || o != holder {
			t.Errorf("McAddrOwner = %q, %v, want %q", o, err, holder)
		}
		if err := s.ReleaseMcAddr(ctx, held, "someone-else"); err == nil {
			t.Error("release by another owner accepted")
		}
		for range 2 { // a repeated release is not an error
			if err := s.ReleaseMcAddr(ctx, held, holder); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.McAddrOwner(ctx, held); !errors.Is(err, ErrNotFound) {
			t.Errorf("owner of released address: %v", err)
		}
		if a, err := s.AllocateMcAddr(ctx, pool, "late"); err != nil || a != held {
			t.Errorf("allocation after release = %s, %v, want %s", a, err, held)
		}
		if _, err := s.AllocateMcAddr(ctx, McAddrPool{Min: pool.Max, Max: pool.Min}, "x"); err == nil {
			t.Error("inverted pool accepted")
		}
	})
}

func TestLease(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		const ttl = 400 * time.Millisecond
		steps := []struct {
			op, owner string
			want      bool
		}{
			{"acquire", "replica-a", true},
			{"acquire", "replica-b", false},
			{"acquire", "replica-a", true}, // re-acquiring one's own lease
			{"renew", "replica-a", true},
			{"renew", "replica-b", false},
			{"expire", "", false},
			{"acquire", "replica-b", true}, // takeover after the owner died
			{"renew", "replica-a", false},
			{"release", "replica-a", false}, // not the owner: no effect
			{"acquire", "replica-a", false},
			{"release", "replica-b", false},
			{"acquire", "replica-a", true},
		}
		for i, st := range steps {
			var ok bool
			var err error
			switch st.op {
			case "acquire":
				ok, err = s.AcquireLease(ctx, "dep", st.owner, ttl)
			case "renew":
				ok, err = s.RenewLease(ctx, "dep", st.owner, ttl)
			case "release":
				err = s.ReleaseLease(ctx, "dep", st.owner)
			case "expire":
				b.advance(s, ttl+100*time.Millisecond)
			}
			if err != nil || ok != st.want {
				t.Fatalf("step %d %s %s = %v, %v, want %v", i, st.op, st.owner, ok, err, st.want)
			}
		}
		if o, err := s.LeaseOwner(ctx, "dep"); err != nil || o != "replica-a" {
			t.Errorf("LeaseOwner = %q, %v", o, err)
		}
	})
}

func TestInventory(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t, Config{})
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC)
		dev := eui(1)
		steps := []struct {
			inv  Inventory
			want bool
		}{
			{Inventory{FirmwareVersion: 1, HardwareVersion: 7, SeenAt: t0, Source: "DevVersionAns"}, true},
			{Inventory{FirmwareVersion: 1, HardwareVersion: 7, SeenAt: t0, Source: "DevVersionAns"}, false},
			{Inventory{FirmwareVersion: 0, SeenAt: t0.Add(-time.Nanosecond), Source: "old|report"}, false},
			{Inventory{FirmwareVersion: 2, HardwareVersion: 7, SeenAt: t0.Add(time.Hour), Source: "deploy|x"}, true},
			{Inventory{FirmwareVersion: 1, SeenAt: t0.Add(time.Minute)}, false},
		}
		for i, st := range steps {
			if ok, err := s.PutInventory(ctx, dev, st.inv); err != nil || ok != st.want {
				t.Fatalf("step %d: PutInventory = %v, %v, want %v", i, ok, err, st.want)
			}
		}
		got, err := s.GetInventory(ctx, dev)
		if want := steps[3].inv; err != nil || got != want {
			t.Errorf("GetInventory = %+v, %v, want %+v", got, err, want)
		}
		if _, err := s.GetInventory(ctx, eui(99)); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown device: %v", err)
		}
		for n := 2; n <= 300; n++ {
			if _, err := s.PutInventory(ctx, eui(n), Inventory{FirmwareVersion: uint32(n), SeenAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		seen := make(map[lorawan.EUI64]uint32)
		var cursor uint64
		for {
			page, next, err := s.ListInventory(ctx, cursor, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				seen[e.DevEUI] = e.FirmwareVersion
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		if len(seen) != 300 || seen[eui(1)] != 2 || seen[eui(250)] != 250 {
			t.Errorf("ListInventory saw %d devices (eui1 fw %d, eui250 fw %d)", len(seen), seen[eui(1)], seen[eui(250)])
		}
	})
}

// TestRestart closes the store and opens a new one on the same server, as a
// restarted replica does, and reads everything back.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Addr: realRedis(t), Prefix: testPrefix(t), IdempotencyTTL: time.Minute}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tx := Tx{
		Deployment:     &Put{State: "running", Data: []byte("campaign")},
		Devices:        []DevicePut{{eui(1), Put{State: "setup", Data: []byte("d1")}}},
		Log:            []LogEntry{{Kind: "created", Message: "deployment created"}},
		IdempotencyKey: "create-dep",
	}
	first, err := s.Apply(ctx, "dep", tx)
	if err != nil {
		t.Fatal(err)
	}
	cnt, err := s.NextSessionCnt(ctx, eui(1), 2)
	if err != nil {
		t.Fatal(err)
	}
	pool := McAddrPool{Min: lorawan.DevAddr{0xfc, 0, 0, 0}, Max: lorawan.DevAddr{0xfc, 0, 0, 0xff}}
	addr, err := s.AllocateMcAddr(ctx, pool, "dep")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcquireLease(ctx, "dep", "replica-a", time.Minute); !ok || err != nil {
		t.Fatalf("AcquireLease = %v, %v", ok, err)
	}
	inv := Inventory{FirmwareVersion: 3, HardwareVersion: 1, SeenAt: time.Unix(1700000000, 5).UTC(), Source: "DevVersionAns"}
	if _, err := s.PutInventory(ctx, eui(1), inv); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, cfg)
	if ds, err := s.ListDeployments(ctx, "running"); err != nil || len(ds) != 1 || ds[0].ID != "dep" ||
		string(ds[0].Data) != "campaign" || ds[0].Version != 1 {
		t.Errorf("running deployments after restart = %+v, %v", ds, err)
	}
	if devs, err := s.ListDevices(ctx, "dep"); err != nil || len(devs) != 1 || string(devs[0].Data) != "d1" {
		t.Errorf("devices after restart = %+v, %v", devs, err)
	}
	if l, err := s.Log(ctx, "dep", "", 10); err != nil || len(l) != 1 || l[0].ID != first.LogIDs[0] {
		t.Errorf("log after restart = %+v, %v", l, err)
	}
	if again, err := s.Apply(ctx, "dep", tx); err != nil || !again.Replayed || again.LogIDs[0] != first.LogIDs[0] {
		t.Errorf("replay after restart = %+v, %v", again, err)
	}
	if n, err := s.NextSessionCnt(ctx, eui(1), 2); err != nil || n != cnt+1 {
		t.Errorf("SessionCnt after restart = %d, %v, want %d", n, err, cnt+1)
	}
	if a, err := s.AllocateMcAddr(ctx, pool, "dep"); err != nil || a != addr {
		t.Errorf("McAddr after restart = %s, %v, want %s", a, err, addr)
	}
	if o, err := s.LeaseOwner(ctx, "dep"); err != nil || o != "replica-a" {
		t.Errorf("lease after restart = %q, %v", o, err)
	}
	if got, err := s.GetInventory(ctx, eui(1)); err != nil || got != inv {
		t.Errorf("inventory after restart = %+v, %v, want %+v", got, err, inv)
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{},
		{Addr: Memory, Prefix: "a{b}:"},
		{Addr: Memory, LogCap: -1},
		{Addr: "127.0.0.1:1"}, // nothing listens on port 1
	} {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		s, err := Open(ctx, cfg)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	s := openStore(t, Config{Addr: Memory})
	for _, id := range []string{"", "a{b}", "has space", strings.Repeat("x", 129)} {
		if _, err := s.PutDeployment(ctx, id, Put{}); err == nil {
			t.Errorf("deployment id %q accepted", id)
		}
	}
	_, err := s.Apply(ctx, "dep", Tx{Devices: []DevicePut{{DevEUI: eui(1)}, {DevEUI: eui(1)}}})
	if err == nil || !strings.Contains(err.Error(), eui(1).String()) {
		t.Errorf("device written twice: %v", err)
	}
}
