package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func TestRenderBar(t *testing.T) {
	tests := []struct {
		p     *lorafuotapb.PhaseProgress
		width int
		want  string
	}{
		{&lorafuotapb.PhaseProgress{Name: "setup", Done: 3, Total: 3, State: "done"}, 10,
			"setup      [##########] 100% 3/3 done"},
		{&lorafuotapb.PhaseProgress{Name: "multicast", Done: 120, Total: 348, State: "running"}, 10,
			"multicast  [###.......]  34% 120/348 running"},
		{&lorafuotapb.PhaseProgress{Name: "multicast", Done: 347, Total: 348, State: "running"}, 30,
			"multicast  [#############################.]  99% 347/348 running"},
		{&lorafuotapb.PhaseProgress{Name: "completion", Done: 0, Total: 100, State: "pending"}, 10,
			"completion [..........]   0% 0/100 pending"},
		// No total: full once done, empty before.
		{&lorafuotapb.PhaseProgress{Name: "session", State: "done"}, 4, "session    [####] 100% 0/0 done"},
		{&lorafuotapb.PhaseProgress{Name: "session", State: "running"}, 4, "session    [....]   0% 0/0 running"},
		// More done than the total is drawn full, and says so.
		{&lorafuotapb.PhaseProgress{Name: "setup", Done: 12, Total: 10, State: "done"}, 5, "setup      [#####] 100% 12/10 done"},
		// Counts near the top of uint64 do not overflow.
		{&lorafuotapb.PhaseProgress{Name: "x", Done: 1 << 63, Total: 1<<64 - 1, State: "running"}, 10,
			"x          [#####.....]  50% 9223372036854775808/18446744073709551615 running"},
	}
	for _, tt := range tests {
		if got := renderBar(tt.p, tt.width); got != tt.want {
			t.Errorf("renderBar(%v, %d)\n got %q\nwant %q", tt.p, tt.width, got, tt.want)
		}
	}
}

func TestLiveView(t *testing.T) {
	var b bytes.Buffer
	v := &liveView{w: &b}
	st := sampleStatus()
	if err := v.draw(st); err != nil {
		t.Fatal(err)
	}
	first := b.String()
	if strings.Contains(first, "\x1b[") {
		t.Errorf("the first draw moves the cursor: %q", first)
	}
	if n := strings.Count(first, "\n"); n != 5 {
		t.Errorf("first draw has %d lines, want 5 (headline and 4 bars):\n%s", n, first)
	}
	b.Reset()
	st.Phases[2].Done = 348
	if err := v.draw(st); err != nil {
		t.Fatal(err)
	}
	want := "\x1b[5A\r\x1b[J" + statusHeadline(st) + "\n" +
		"setup      [##############################] 100% 3/3 done\n" +
		"session    [##############################] 100% 1/1 done\n" +
		"multicast  [##############################] 100% 348/348 running\n" +
		"completion [..............................]   0% 0/3 pending\n"
	if b.String() != want {
		t.Errorf("redraw\n got %q\nwant %q", b.String(), want)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		devices bool
		want    []string
		wantNot []string
	}{
		{"summary", nil, false, []string{
			"deployment     dep-1", "name           night rollout", "phase          multicast",
			"created        2026-11-25T10:00:00Z", "last change    2026-11-25T10:10:00Z", "session start  2026-11-25T10:05:00Z",
			"multicast  [##########....................]  34% 120/348 running",
			"\n\ndevices  updated  received  failed  canceled  skipped  pending  fragments sent/planned\n" +
				"      3        1         0       1         0        0        1                 120/348\n",
		}, []string{"DEV_EUI"}},
		{"devices", []string{"--devices"}, true, []string{
			"DEV_EUI           STEP       OUTCOME  REASON     FIRMWARE",
			"70b3d57ed0000002  status     failed   MIC error  1",
			"70b3d57ed0000003  multicast  -        -          -",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.status = sampleStatus()
			out, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1"}, conn, tt.flags...)...)
			if err != nil {
				t.Fatalf("err %v\n%s", err, out)
			}
			want := &lorafuotapb.GetDeploymentRequest{Id: "dep-1", Devices: tt.devices}
			if got := received[*lorafuotapb.GetDeploymentRequest](f); len(got) != 1 || !proto.Equal(got[0], want) {
				t.Errorf("requests %v, want [%v]", got, want)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	f, conn := newFake(t)
	f.status = sampleStatus()
	out, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1", "--json", "--devices"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	var st lorafuotapb.DeploymentStatus
	if err := protojson.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("not protojson: %v\n%s", err, out)
	}
	if !proto.Equal(&st, f.status) {
		t.Errorf("parsed back\n%v\nwant\n%v", &st, f.status)
	}
	// Zero counts are printed, for scripts, with the .proto names.
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	if fields["canceled"] != 0.0 || fields["devices_total"] != 3.0 {
		t.Errorf("canceled %v, devices_total %v: zero or snake_case fields missing:\n%s", fields["canceled"], fields["devices_total"], out)
	}
}

func TestStatusFollow(t *testing.T) {
	running := sampleStatus()
	running.DeviceStatuses = nil
	done := sampleStatus()
	done.Phase, done.Updated, done.Failed, done.Pending = "done", 3, 0, 0
	done.Phases[2].Done, done.Phases[2].State = 348, "done"
	withFailure := proto.Clone(done).(*lorafuotapb.DeploymentStatus)
	withFailure.Updated, withFailure.Failed = 2, 1
	canceled := proto.Clone(running).(*lorafuotapb.DeploymentStatus)
	canceled.Phase = "canceled"
	broken := proto.Clone(done).(*lorafuotapb.DeploymentStatus)
	broken.Error = "chirpstack: permission denied"

	tests := []struct {
		name    string
		stream  []*lorafuotapb.DeploymentStatus
		flags   []string
		want    []string
		wantErr string
	}{
		{"done", []*lorafuotapb.DeploymentStatus{running, done}, nil, []string{
			"dep-1 (night rollout): multicast, 1/3 updated, 1 failed, 120/348 fragments; setup 3/3 done; session 1/1 done; multicast 120/348 running; completion 0/3 pending\n" +
				"dep-1 (night rollout): done, 3/3 updated, 0 failed, 120/348 fragments; setup 3/3 done; session 1/1 done; multicast 348/348 done; completion 0/3 pending\n",
			"fragments sent/planned",
		}, ""},
		{"devices", []*lorafuotapb.DeploymentStatus{done}, []string{"--devices"}, []string{"DEV_EUI", "70b3d57ed0000002  status"}, ""},
		{"failed device", []*lorafuotapb.DeploymentStatus{running, withFailure}, nil, nil, "deployment dep-1: 1 of 3 devices failed"},
		{"canceled", []*lorafuotapb.DeploymentStatus{canceled}, nil, nil, "deployment dep-1 was canceled"},
		{"runner error", []*lorafuotapb.DeploymentStatus{broken}, nil, nil, "deployment dep-1: chirpstack: permission denied"},
		{"ended early", []*lorafuotapb.DeploymentStatus{running}, nil, nil, `deployment dep-1: the server ended the watch in phase "multicast", before the end`},
		{"empty stream", nil, nil, nil, "WatchDeployment: the server ended the watch of dep-1 without a status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.watch = tt.stream
			out, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1", "--follow"}, conn, tt.flags...)...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("err %v, want %q\n%s", err, tt.wantErr, out)
			}
			want := &lorafuotapb.WatchDeploymentRequest{Id: "dep-1", Devices: len(tt.flags) > 0}
			if got := received[*lorafuotapb.WatchDeploymentRequest](f); len(got) != 1 || !proto.Equal(got[0], want) {
				t.Errorf("requests %v, want [%v]", got, want)
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("cursor movements in output that is not a terminal: %q", out)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestStatusFollowJSON(t *testing.T) {
	f, conn := newFake(t)
	done := sampleStatus()
	done.Phase, done.Failed = "done", 0
	f.watch = []*lorafuotapb.DeploymentStatus{sampleStatus(), done}
	out, _, err := execute(t, "", cmdArgs([]string{"status", "dep-1", "--follow", "--json"}, conn)...)
	if err != nil {
		t.Fatalf("err %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(f.watch) {
		t.Fatalf("%d lines, want one per status (%d):\n%s", len(lines), len(f.watch), out)
	}
	for i, l := range lines {
		var st lorafuotapb.DeploymentStatus
		if err := protojson.Unmarshal([]byte(l), &st); err != nil {
			t.Fatalf("line %d not protojson: %v\n%s", i, err, l)
		}
		if !proto.Equal(&st, f.watch[i]) {
			t.Errorf("line %d parsed back\n%v\nwant\n%v", i, &st, f.watch[i])
		}
	}
}

func TestStatusArgs(t *testing.T) {
	_, conn := newFake(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "accepts 1 arg(s), received 0"},
		{[]string{"status", " "}, "ID: empty deployment id"},
		{[]string{"cancel", ""}, "ID: empty deployment id"},
		{[]string{"logs", "a", "b"}, "accepts 1 arg(s), received 2"},
	}
	for _, tt := range tests {
		_, _, err := execute(t, "", cmdArgs(tt.args, conn)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.args, err, tt.want)
		}
	}
}
