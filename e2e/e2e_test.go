package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
	"github.com/lorafuota/lorafuota/internal/testserver"
)

// timeScale is how many times as fast as the wall clock both `sim serve` and
// `serve` run.
//
// ChirpStack sends class C unicasts on RX2, EU868 DR0 at 869.525 MHz, whose
// 10 % duty cycle the engine respects: each request of ~1.5 s on air is
// followed by ~13 s of silence, and a campaign of two devices (about 15
// requests each, setup to version check) takes about eight minutes. A region
// without duty cycle would not get it under the budget either: the engine's
// reboot grace alone is a minute. So the test keeps EU868 and the engine's
// defaults and speeds time up instead, in both processes by the same factor
// from the same origin (`--time-scale K --time-origin T`), so that they agree
// on every instant: the GPS time of McClassCSessionReq, the class C session
// window the devices open, and the slots the multicast is paced into. Only
// what lies outside the clocks — the network between the processes, Redis —
// keeps wall time, and at ×10 its milliseconds stay far below the seconds
// every exchange allows.
const timeScale = 10

// The simulated field: one Concentratord gateway that refuses frames over the
// duty cycle, so a pacing error shows as a refusal rather than passing
// silently, and two class C devices on firmware 1.0.0.
const scenarioTOML = `
region = "EU868"

[network]
class_c_margin = "5s"

[[tenants]]
name = "e2e"

[[applications]]
name = "fuota"

[[device_profiles]]
name = "class-c"
mac_version = "1.0.4"
supports_class_c = true

[[gateways]]
id = "0016c001f0000001"
name = "gw-1"
model = "concentratord"
enforce_dc = true

[[devices]]
count = 2
dev_eui_base = "70b3d57ed0000001"
class = "C"
firmware = "1.0.0"
`

const (
	simAPIKey = "e2e-chirpstack-api-key"
	apiToken  = "e2e-api-token-0123456789"
	// newVersion is the image's version as TS006 reports it: 2.0.0.
	newVersion = 2 << 24
)

// TestCampaignAcrossProcesses is issue 6's "done when": a campaign across
// processes, each as an operator runs it. `lorafuota sim serve` simulates
// the field behind ChirpStack's gRPC API and publishes its events to a real
// mosquitto; `lorafuota serve` keeps its state in a real Redis; the CLI
// signs an image with a key the simulated bootloaders trust, deploys it with
// `deploy --wait`, and reads the outcome with `status` and `inventory`. Every
// device must be updated, as the server says and as the simulated devices
// boot; then the server must stop cleanly on SIGTERM and a new one must find
// the finished deployment in Redis.
func TestCampaignAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds lorafuota and runs a campaign of about a minute")
	}
	start := time.Now()
	devEUIs := []string{"70b3d57ed0000001", "70b3d57ed0000002"} // the scenario's
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()

	redis := testserver.Redis(t)
	mqtt := testserver.Mosquitto(t)
	bin := buildLorafuota(t)
	t.Logf("build: %v", time.Since(start).Round(time.Millisecond))
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }

	// The signing key: the simulated devices trust it, the image is signed
	// with it.
	cli(ctx, t, bin, "image", "keygen", "--type", "ed25519", "-o", path("signing.pem"))
	payload := make([]byte, 300)
	_, _ = rand.Read(payload)
	write(t, path("app.bin"), payload)
	cli(ctx, t, bin, "image", "sign", "--key", path("signing.pem"), "--version", "2.0.0",
		"--security-counter", "2", path("app.bin"), path("app.signed.bin"))
	write(t, path("scenario.toml"), []byte(scenarioTOML))

	origin := time.Now().UTC().Format(time.RFC3339Nano)
	scale := fmt.Sprint(timeScale)
	sim := startProcess(t, "sim serve", bin, "sim", "serve", "--scenario", path("scenario.toml"),
		"--grpc", "127.0.0.1:0", "--api-key", simAPIKey, "--mqtt", mqtt.URL(),
		"--signing-key", path("signing.pem"), "--time-scale", scale, "--time-origin", origin)
	simAddr := sim.waitLine("listening on ", 30*time.Second)

	conf := cli(ctx, t, bin, "config")
	for _, kv := range [][2]string{
		{"grpc_listen", `"127.0.0.1:0"`},
		{"http_listen", `"127.0.0.1:0"`},
		{"api_tokens", fmt.Sprintf("[%q]", apiToken)},
		{"api", fmt.Sprintf("%q", simAddr)},
		{"api_key", fmt.Sprintf("%q", simAPIKey)},
		{"server", fmt.Sprintf("%q", mqtt.URL())},
		{"addr", fmt.Sprintf("%q", redis.Addr)},
	} {
		conf = setKey(t, conf, kv[0], kv[1])
	}
	write(t, path("lorafuota.toml"), []byte(conf))
	cli(ctx, t, bin, "config", "--check", path("lorafuota.toml"))
	serveArgs := []string{"serve", "--config", path("lorafuota.toml"), "--time-scale", scale, "--time-origin", origin}
	srv := startProcess(t, "serve", bin, serveArgs...)
	grpcAddr := srv.waitLine("grpc listening on ", 30*time.Second)
	httpAddr := srv.waitLine("http listening on ", 5*time.Second)
	if body := httpGet(ctx, t, "http://"+httpAddr+"/healthz"); strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %q", body)
	}

	// ChirpStack reaches a class C device only through a gateway that heard
	// it; each device sends a first frame within seconds of power-on.
	for _, eui := range devEUIs {
		sim.waitLog(regexp.MustCompile(`msg="ns uplink" dev_eui=`+eui), 30*time.Second)
	}
	client := []string{"--server", grpcAddr, "--token", apiToken}

	args := append([]string{"deploy", path("app.signed.bin"), "--wait", "--json", "--name", "e2e"}, client...)
	for _, eui := range devEUIs {
		args = append(args, "--device", eui)
	}
	out := cli(ctx, t, bin, args...)
	lines := nonEmptyLines(out)
	if len(lines) < 2 {
		t.Fatalf("deploy --wait --json printed %d lines, want the creation and the statuses:\n%s", len(lines), out)
	}
	var created lorafuotapb.CreateDeploymentResponse
	unmarshal(t, lines[0], &created)
	id := created.GetId()
	if id == "" || created.GetPlan().GetFrames() == 0 {
		t.Fatalf("creation: %s", lines[0])
	}
	var last lorafuotapb.DeploymentStatus
	unmarshal(t, lines[len(lines)-1], &last)
	if last.GetId() != id || last.GetPhase() != "done" || last.GetUpdated() != uint32(len(devEUIs)) {
		t.Fatalf("last status of the watch: %s", lines[len(lines)-1])
	}

	// The server's view: every device updated, running the new version.
	var st lorafuotapb.DeploymentStatus
	unmarshal(t, cli(ctx, t, bin, append([]string{"status", id, "--json", "--devices"}, client...)...), &st)
	checkDone(t, &st, created.GetPlan().GetFrames(), devEUIs)

	inv := map[string]uint32{}
	for _, line := range nonEmptyLines(cli(ctx, t, bin, append([]string{"inventory", "--json"}, client...)...)) {
		var e lorafuotapb.InventoryEntry
		unmarshal(t, line, &e)
		inv[e.GetDevEui()] = e.GetFirmwareVersion()
	}
	for _, eui := range devEUIs {
		if v, ok := inv[eui]; !ok || v != newVersion {
			t.Errorf("inventory: %s has firmware %#x (listed: %v), want %#x", eui, v, ok, newVersion)
		}
	}

	metrics := httpGet(ctx, t, "http://"+httpAddr+"/metrics")
	for metric, want := range map[string]string{
		`lorafuota_device_verdicts_total{outcome="updated"}`:                           fmt.Sprint(len(devEUIs)),
		`lorafuota_device_verdicts_total{outcome="failed"}`:                            "0",
		`lorafuota_fragments_sent_total`:                                               fmt.Sprint(st.GetFragmentsSent()),
		`lorafuota_enqueue_errors_total`:                                               "0",
		`lorafuota_runner_errors_total`:                                                "0",
		`lorafuota_integration_events_dropped_total{reason="malformed",source="mqtt"}`: "0",
	} {
		if got := metricValue(metrics, metric); got != want {
			t.Errorf("/metrics: %s = %q, want %s", metric, got, want)
		}
	}

	// The field's view: each simulated device booted the new image, and
	// the gateway refused nothing.
	simLog := sim.stderr.String()
	for _, eui := range devEUIs {
		re := regexp.MustCompile(`msg="device booted" dev_eui=` + eui + ` .*firmware=2\.0\.0\b`)
		if !re.MatchString(simLog) {
			t.Errorf("sim serve: no %q line for %s", re, eui)
		}
	}
	for _, bad := range []string{`msg="device bricked"`, "level=ERROR"} {
		if strings.Contains(simLog, bad) {
			t.Errorf("sim serve logged %s", bad)
		}
	}
	sent := 0
	for _, m := range regexp.MustCompile(`(?m)^.*downlink.* status=(\w+).*$`).FindAllStringSubmatch(simLog, -1) {
		sent++
		if m[1] != "OK" {
			t.Errorf("sim serve: a downlink refused: %s", m[0])
		}
	}
	if sent == 0 {
		t.Error("sim serve logged no downlink with its tx status")
	}
	if strings.Contains(srv.stderr.String(), "level=ERROR") {
		t.Error("serve logged an error")
	}

	// SIGTERM stops the server cleanly, and a new one finds the finished
	// deployment in Redis.
	if err := srv.stop(15 * time.Second); err != nil {
		t.Fatalf("serve on SIGTERM: %v", err)
	}
	again := startProcess(t, "serve (again)", bin, serveArgs...)
	client[1] = again.waitLine("grpc listening on ", 30*time.Second)
	var st2 lorafuotapb.DeploymentStatus
	unmarshal(t, cli(ctx, t, bin, append([]string{"status", id, "--json", "--devices"}, client...)...), &st2)
	checkDone(t, &st2, created.GetPlan().GetFrames(), devEUIs)
	verdicts := map[string]string{}
	for _, line := range nonEmptyLines(cli(ctx, t, bin, append([]string{"logs", id, "--json"}, client...)...)) {
		var e lorafuotapb.LogEntry
		unmarshal(t, line, &e)
		if e.GetKind() == "verdict" {
			verdicts[e.GetDevEui()] = e.GetFields()["outcome"]
		}
	}
	for _, eui := range devEUIs {
		if verdicts[eui] != "updated" {
			t.Errorf("logs: verdicts %v, want %s updated", verdicts, eui)
		}
	}
	if err := again.stop(15 * time.Second); err != nil {
		t.Errorf("serve (again) on SIGTERM: %v", err)
	}
	if err := sim.stop(15 * time.Second); err != nil {
		t.Errorf("sim serve on SIGTERM: %v", err)
	}
	t.Logf("total: %v", time.Since(start).Round(time.Millisecond))
}

// checkDone checks a finished deployment's status: every one of devEUIs
// updated to newVersion, every planned fragment sent.
func checkDone(t *testing.T, st *lorafuotapb.DeploymentStatus, frames uint32, devEUIs []string) {
	t.Helper()
	n := uint32(len(devEUIs))
	if st.GetPhase() != "done" || st.GetError() != "" || st.GetDevicesTotal() != n || st.GetUpdated() != n ||
		st.GetFailed() != 0 || st.GetPending() != 0 {
		t.Errorf("status: phase %q, error %q, %d devices, %d updated, %d failed, %d pending; want done, %d updated",
			st.GetPhase(), st.GetError(), st.GetDevicesTotal(), st.GetUpdated(), st.GetFailed(), st.GetPending(), n)
	}
	if st.GetFragmentsSent() == 0 || st.GetFragmentsSent() != st.GetFragmentsPlanned() || st.GetFragmentsPlanned() != frames {
		t.Errorf("status: %d of %d fragments sent, the plan has %d frames", st.GetFragmentsSent(), st.GetFragmentsPlanned(), frames)
	}
	got := map[string]*lorafuotapb.DeviceStatus{}
	for _, d := range st.GetDeviceStatuses() {
		got[d.GetDevEui()] = d
	}
	for _, eui := range devEUIs {
		d := got[eui]
		if d == nil {
			t.Errorf("status: no device %s", eui)
			continue
		}
		if d.GetOutcome() != "updated" || d.GetFirmwareVersion() != newVersion {
			t.Errorf("status: %s outcome %q (%s, step %s), firmware %#x; want updated to %#x",
				eui, d.GetOutcome(), d.GetReason(), d.GetStep(), d.GetFirmwareVersion(), newVersion)
		}
	}
}

func write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func unmarshal(t *testing.T, s string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(s), m); err != nil {
		t.Fatalf("decoding %T from %q: %v", m, s, err)
	}
}

func httpGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v\n%s", url, resp.Status, err, b)
	}
	return string(b)
}

// metricValue returns the value of a sample in Prometheus's text format,
// "" if there is none.
func metricValue(text, sample string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			return v
		}
	}
	return ""
}
