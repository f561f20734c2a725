package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

// writeFile writes content to a new file in a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func deployFake(t *testing.T) (*fakeServer, []string) {
	f, conn := newFake(t)
	f.plan = &lorafuotapb.PlanResponse{Plan: samplePlan()}
	f.created = &lorafuotapb.CreateDeploymentResponse{Id: "dep-1", Plan: samplePlan()}
	return f, conn
}

func TestDeployRequest(t *testing.T) {
	image := writeFile(t, "app.bin", "\x3d\xb8\xf3\x96 signed image")
	devFile := writeFile(t, "fleet.csv", `# the north site
70B3D57ED0000001,c,1.0.3

70b3d57ed0000002, A , 1.1
  0x70b3d57ed0000003
`)
	tests := []struct {
		name  string
		flags []string
		want  *lorafuotapb.CreateDeploymentRequest // Image is filled in
	}{
		{"devices", []string{"--device", "70b3d57ed0000001", "--device", "70B3D57ED0000002,B"},
			&lorafuotapb.CreateDeploymentRequest{
				Devices: []*lorafuotapb.DeviceSpec{{DevEui: "70b3d57ed0000001"}, {DevEui: "70b3d57ed0000002", Class: "B"}},
				Options: &lorafuotapb.CampaignOptions{},
			}},
		{"devices file", []string{"--devices-file", devFile, "--name", "north"},
			&lorafuotapb.CreateDeploymentRequest{
				Name: "north",
				Devices: []*lorafuotapb.DeviceSpec{
					{DevEui: "70b3d57ed0000001", Class: "C", MacVersion: "1.0.3"},
					{DevEui: "70b3d57ed0000002", Class: "A", MacVersion: "1.1"},
					{DevEui: "70b3d57ed0000003"},
				},
				Options: &lorafuotapb.CampaignOptions{},
			}},
		{"application", []string{"--application", "app-7", "--profile", "prof-2", "--tag", "site=north", "--tag", "ring=beta", "--auto", "--no-start"},
			&lorafuotapb.CreateDeploymentRequest{
				Selector: &lorafuotapb.DeviceSelector{ApplicationId: "app-7", DeviceProfileId: "prof-2",
					Tags: map[string]string{"site": "north", "ring": "beta"}},
				Options: &lorafuotapb.CampaignOptions{}, Auto: true, Start: proto.Bool(false),
			}},
		{"every option", []string{"--device", "70b3d57ed0000001",
			"--region", "eu868", "--dr", "0", "--frequency", "869525000", "--fragment-size", "200", "--redundancy", "40",
			"--expected-loss", "0.15", "--target", "0.999", "--class", "b", "--duty-cycle-model", "basic-station",
			"--ns-margin", "5s", "--mc-group-id", "3", "--firmware-version", "7",
			"--gateway", "0016C001F0000001", "--gateway", "0016c001f0000002",
			"--retry-count", "4", "--retry-timeout", "1m", "--setup-timeout", "2h", "--block-ack-delay", "7", "--reboot-delay", "30s",
			"--reboot-grace", "45s", "--status-delay", "20s", "--confirm-by-reset"},
			&lorafuotapb.CreateDeploymentRequest{
				Devices: []*lorafuotapb.DeviceSpec{{DevEui: "70b3d57ed0000001"}},
				Options: &lorafuotapb.CampaignOptions{
					Region: "EU868", Dr: proto.Uint32(0), FrequencyHz: 869525000, FragmentSize: 200, Redundancy: 40,
					ExpectedLoss: 0.15, Target: 0.999, Class: "B", DutyCycleModel: "off-time",
					NsMargin: durationpb.New(5 * time.Second), McGroupId: 3, FirmwareVersion: 7,
					GatewayIds: []string{"0016c001f0000001", "0016c001f0000002"},
					RetryCount: 4, RetryTimeout: durationpb.New(time.Minute), SetupTimeout: durationpb.New(2 * time.Hour),
					BlockAckDelay: 7, RebootDelay: durationpb.New(30 * time.Second),
					RebootGrace: durationpb.New(45 * time.Second), StatusDelay: durationpb.New(20 * time.Second),
					ConfirmByReset: true,
				},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := deployFake(t)
			out, _, err := execute(t, "", cmdArgs([]string{"deploy", image}, conn, tt.flags...)...)
			if err != nil {
				t.Fatalf("err %v\n%s", err, out)
			}
			got := received[*lorafuotapb.CreateDeploymentRequest](f)
			if len(got) != 1 {
				t.Fatalf("%d CreateDeployment calls, want 1", len(got))
			}
			want := proto.Clone(tt.want).(*lorafuotapb.CreateDeploymentRequest)
			want.Image = []byte("\x3d\xb8\xf3\x96 signed image")
			if !proto.Equal(got[0], want) {
				t.Errorf("request\n%v\nwant\n%v", got[0], want)
			}
			for _, s := range []string{"deployment dep-1 created", "nb_frag 283 + redundancy 65 = 348 frames", "EU868 DR5"} {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			if tt.want.Start != nil && !strings.Contains(out, "lorafuota start dep-1") {
				t.Errorf("--no-start output does not say how to start:\n%s", out)
			}
		})
	}
}

func TestDeployDevicesFromStdin(t *testing.T) {
	f, conn := deployFake(t)
	image := writeFile(t, "app.bin", "image")
	_, _, err := execute(t, "70b3d57ed0000009\n", cmdArgs([]string{"deploy", image, "--devices-file", "-"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	got := received[*lorafuotapb.CreateDeploymentRequest](f)
	if len(got) != 1 || len(got[0].Devices) != 1 || got[0].Devices[0].DevEui != "70b3d57ed0000009" {
		t.Errorf("requests %v", got)
	}
}

func TestDeployPlanOnly(t *testing.T) {
	image := writeFile(t, "app.bin", strings.Repeat("x", 1000))
	f, conn := deployFake(t)
	out, _, err := execute(t, "", cmdArgs([]string{"deploy", image, "--plan-only", "--device", "70b3d57ed0000001",
		"--device", "70b3d57ed0000002", "--dr", "3", "--region", "EU868"}, conn)...)
	if err != nil {
		t.Fatalf("err %v\n%s", err, out)
	}
	if n := len(received[*lorafuotapb.CreateDeploymentRequest](f)); n != 0 {
		t.Errorf("--plan-only made %d CreateDeployment calls", n)
	}
	got := received[*lorafuotapb.PlanRequest](f)
	want := &lorafuotapb.PlanRequest{ImageSize: 1000, Devices: 2,
		Options: &lorafuotapb.CampaignOptions{Region: "EU868", Dr: proto.Uint32(3)}}
	if len(got) != 1 || !proto.Equal(got[0], want) {
		t.Errorf("Plan requests %v, want [%v]", got, want)
	}
	if !strings.Contains(out, "lower bound    28m55s (bound by duty cycle)") {
		t.Errorf("output lacks the plan:\n%s", out)
	}

	out, _, err = execute(t, "", cmdArgs([]string{"deploy", image, "--plan-only", "--json", "--device", "70b3d57ed0000001"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	var resp lorafuotapb.PlanResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("not protojson: %v\n%s", err, out)
	}
	if !proto.Equal(&resp, f.plan) {
		t.Errorf("--json gave %v, want %v", &resp, f.plan)
	}
}

func TestDeployErrors(t *testing.T) {
	image := writeFile(t, "app.bin", "image")
	empty := writeFile(t, "empty.bin", "")
	dupFile := writeFile(t, "dup.csv", "70b3d57ed0000001\n# x\n70B3D57ED0000001\n")
	badFile := writeFile(t, "bad.csv", "70b3d57ed0000001\n70b3d57ed000000\n")
	badClass := writeFile(t, "class.csv", "70b3d57ed0000001,D\n")
	badMAC := writeFile(t, "mac.csv", "70b3d57ed0000001,C,1.2\n")
	noDevices := writeFile(t, "none.csv", "# nobody\n\n")
	dev := []string{"--device", "70b3d57ed0000001"}
	tests := []struct {
		name  string
		image string
		flags []string
		want  string
	}{
		{"image missing", filepath.Join(t.TempDir(), "none.bin"), dev, "IMAGE: open "},
		{"image empty", empty, dev, "IMAGE " + empty + ": empty file"},
		{"no devices", image, nil, "no devices: give --device, --devices-file or --application"},
		{"two sources", image, append([]string{"--application", "a"}, dev...), "--device and --application: give only one"},
		{"bad EUI", image, []string{"--device", "70b3d57ed00001"}, `--device "70b3d57ed00001": EUI "70b3d57ed00001": want 16 hex digits`},
		{"not hex", image, []string{"--device", "70b3d57ed000000g"}, `--device "70b3d57ed000000g": EUI`},
		{"bad device class", image, []string{"--device", "70b3d57ed0000001,Z"}, `--device "70b3d57ed0000001,Z": class "Z": want A, B or C`},
		{"too many fields", image, []string{"--device", "70b3d57ed0000001,C,1.0.3,x"}, "want EUI[,class[,mac_version]]"},
		{"device twice", image, []string{"--device", "70b3d57ed0000001", "--device", "0x70B3D57ED0000001"}, "device 70b3d57ed0000001 given twice"},
		{"file duplicate", image, []string{"--devices-file", dupFile}, "--devices-file " + dupFile + " line 3: device 70b3d57ed0000001 already on line 1"},
		{"file bad EUI", image, []string{"--devices-file", badFile}, "--devices-file " + badFile + " line 2: EUI"},
		{"file bad class", image, []string{"--devices-file", badClass}, "line 1: class \"D\""},
		{"file bad mac", image, []string{"--devices-file", badMAC}, `line 1: mac_version "1.2": want 1.0.x or 1.1`},
		{"file empty", image, []string{"--devices-file", noDevices}, "--devices-file " + noDevices + ": no devices in the file"},
		{"file missing", image, []string{"--devices-file", filepath.Join(t.TempDir(), "x")}, "--devices-file: open "},
		{"profile without application", image, append([]string{"--profile", "p"}, dev...), "--profile: only with --application"},
		{"tag without application", image, append([]string{"--tag", "a=b"}, dev...), "--tag: only with --application"},
		{"tag without value", image, []string{"--application", "a", "--tag", "site"}, `--tag "site": want key=value`},
		{"tag twice", image, []string{"--application", "a", "--tag", "s=1", "--tag", "s=2"}, `--tag "s=2": key "s" given twice`},
		{"region", image, append([]string{"--region", "XX"}, dev...), "--region: region \"XX\""},
		{"dr negative", image, append([]string{"--dr", "-1"}, dev...), "--dr -1: must be 0..15"},
		{"dr too high", image, append([]string{"--dr", "16"}, dev...), "--dr 16: must be 0..15"},
		{"dr not in region", image, append([]string{"--region", "EU868", "--dr", "12"}, dev...), "--dr 12: EU868 DR12"},
		{"dr uplink only", image, append([]string{"--region", "EU868", "--dr", "8"}, dev...), "--dr 8: EU868 DR8"},
		{"loss 1", image, append([]string{"--expected-loss", "1"}, dev...), "--expected-loss 1: must be in [0, 1)"},
		{"loss negative", image, append([]string{"--expected-loss", "-0.1"}, dev...), "--expected-loss -0.1: must be in [0, 1)"},
		{"loss NaN", image, append([]string{"--expected-loss", "NaN"}, dev...), "--expected-loss NaN: must be in [0, 1)"},
		{"target", image, append([]string{"--target", "1"}, dev...), "--target 1:"},
		{"fragment size", image, append([]string{"--fragment-size", "256"}, dev...), "--fragment-size 256: must be 1..255"},
		{"class", image, append([]string{"--class", "A"}, dev...), `--class "A": want C or B`},
		{"model", image, append([]string{"--duty-cycle-model", "etsi"}, dev...), "--duty-cycle-model: "},
		{"mc group", image, append([]string{"--mc-group-id", "4"}, dev...), "--mc-group-id 4: must be 0..3"},
		{"mc group negative", image, append([]string{"--mc-group-id", "-1"}, dev...), `"--mc-group-id"`},
		{"ack delay", image, append([]string{"--block-ack-delay", "8"}, dev...), "--block-ack-delay 8: must be 0..7"},
		{"negative duration", image, append([]string{"--retry-timeout", "-1s"}, dev...), "--retry-timeout -1s: must not be negative"},
		{"gateway", image, append([]string{"--gateway", "gw1"}, dev...), `--gateway: EUI "gw1"`},
		{"gateway twice", image, append([]string{"--gateway", "0016c001f0000001", "--gateway", "0016C001F0000001"}, dev...), "--gateway 0016c001f0000001: given twice"},
		{"plan-only wait", image, append([]string{"--plan-only", "--wait"}, dev...), "--plan-only and --wait"},
		{"plan-only auto", image, append([]string{"--plan-only", "--auto"}, dev...), "--plan-only and --auto"},
		{"no-start wait", image, append([]string{"--no-start", "--wait"}, dev...), "--no-start and --wait"},
		{"no image", "", dev, "accepts 1 arg(s), received 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := deployFake(t)
			a := []string{"deploy"}
			if tt.image != "" {
				a = append(a, tt.image)
			}
			out, _, err := execute(t, "", cmdArgs(a, conn, tt.flags...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q\n%s", err, tt.want, out)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.requests) != 0 {
				t.Errorf("bad flags reached the server: %v", f.requests)
			}
		})
	}
}

func TestDeployWait(t *testing.T) {
	image := writeFile(t, "app.bin", "image")
	done := sampleStatus()
	done.Phase, done.Updated, done.Failed, done.Pending, done.FragmentsSent = "done", 3, 0, 0, 348
	tests := []struct {
		name    string
		last    *lorafuotapb.DeploymentStatus
		json    bool
		wantErr string
	}{
		{"all updated", done, false, ""},
		{"json", done, true, ""},
		{"one failed", func() *lorafuotapb.DeploymentStatus {
			s := proto.Clone(done).(*lorafuotapb.DeploymentStatus)
			s.Updated, s.Failed = 2, 1
			return s
		}(), false, "deployment dep-1: 1 of 3 devices failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := deployFake(t)
			f.watch = []*lorafuotapb.DeploymentStatus{sampleStatus(), tt.last}
			flags := []string{"--wait", "--device", "70b3d57ed0000001"}
			if tt.json {
				flags = append(flags, "--json")
			}
			out, _, err := execute(t, "", cmdArgs([]string{"deploy", image}, conn, flags...)...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("err %v, want %q\n%s", err, tt.wantErr, out)
			}
			w := received[*lorafuotapb.WatchDeploymentRequest](f)
			if len(w) != 1 || w[0].GetId() != "dep-1" {
				t.Errorf("watch requests %v, want one for dep-1", w)
			}
			if tt.json {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 3 {
					t.Fatalf("--wait --json printed %d lines, want 3 (response, 2 statuses):\n%s", len(lines), out)
				}
				var resp lorafuotapb.CreateDeploymentResponse
				if err := protojson.Unmarshal([]byte(lines[0]), &resp); err != nil || resp.GetId() != "dep-1" {
					t.Errorf("first line %q: %v", lines[0], err)
				}
				var st lorafuotapb.DeploymentStatus
				if err := protojson.Unmarshal([]byte(lines[2]), &st); err != nil || !proto.Equal(&st, tt.last) {
					t.Errorf("last line %q: %v", lines[2], err)
				}
				return
			}
			for _, s := range []string{"deployment dep-1 created, started", "dep-1 (night rollout): multicast, 1/3 updated",
				"dep-1 (night rollout): done, ", "fragments sent/planned"} {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestWritePlan(t *testing.T) {
	var b bytes.Buffer
	if err := writePlan(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	want := `image          65536 bytes in 1 data block(s)
radio          EU868 DR5, 869525000 Hz, duty cycle 10%
fragments      232 bytes each, 399ms on air per frame
block 0        65536 bytes: nb_frag 283 + redundancy 65 = 348 frames, 23m9s, session 2^11 s
airtime        2m18.852s for 348 frames
lower bound    28m55s (bound by duty cycle)
warning        block 0: something to know
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := writePlan(&b, nil); err != nil || !strings.Contains(b.String(), "none returned") {
		t.Errorf("nil plan: %v %q", err, b.String())
	}
}
