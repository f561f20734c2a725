package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func logEntry(id, dev, kind, msg string, fields map[string]string) *lorafuotapb.LogEntry {
	return &lorafuotapb.LogEntry{Id: id, Time: ts(int64(len(id))), DevEui: dev, Kind: kind, Message: msg, Fields: fields}
}

func sampleLogs() [][]*lorafuotapb.LogEntry {
	return [][]*lorafuotapb.LogEntry{
		{
			logEntry("1-0", "", "log", "deployment started", nil),
			logEntry("2-0", "70b3d57ed0000001", "log", "FragSessionSetupAns", map[string]string{"status": "ok", "frag_index": "0"}),
			logEntry("3-0", "70b3d57ed0000002", "verdict", "failed", map[string]string{"reason": "MIC error", "empty": ""}),
		},
		{logEntry("4-0", "", "log", "multicast session started", nil)},
		{logEntry("5-0", "", "log", "deployment done", nil)},
	}
}

func TestLogs(t *testing.T) {
	tests := []struct {
		name   string
		page   int // the server's page size
		flags  []string
		want   string
		afters []string // the after of each GetLogs call
		limits []uint32
	}{
		{"all, one page", 0, nil,
			"2026-11-25T10:00:03.000Z  -                 log       deployment started\n" +
				"2026-11-25T10:00:03.000Z  70b3d57ed0000001  log       FragSessionSetupAns frag_index=0 status=ok\n" +
				"2026-11-25T10:00:03.000Z  70b3d57ed0000002  verdict   failed empty=\"\" reason=\"MIC error\"\n",
			[]string{"", "3-0"}, []uint32{0, 0}},
		{"pages of 2", 2, nil, "deployment started", []string{"", "2-0", "3-0"}, []uint32{0, 0, 0}},
		{"after", 0, []string{"--after", "1-0"}, "70b3d57ed0000001", []string{"1-0", "3-0"}, []uint32{0, 0}},
		{"limit", 0, []string{"--limit", "2"}, "FragSessionSetupAns", []string{""}, []uint32{2}},
		{"limit over pages", 1, []string{"--limit", "2"}, "FragSessionSetupAns", []string{"", "1-0"}, []uint32{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.logs, f.logPage = sampleLogs(), tt.page
			out, _, err := execute(t, "", cmdArgs([]string{"logs", "dep-1"}, conn, tt.flags...)...)
			if err != nil {
				t.Fatalf("err %v\n%s", err, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
			if strings.Contains(out, "multicast session started") {
				t.Errorf("printed an entry not yet logged:\n%s", out)
			}
			reqs := received[*lorafuotapb.GetLogsRequest](f)
			var afters []string
			var limits []uint32
			for _, r := range reqs {
				if r.GetId() != "dep-1" {
					t.Errorf("request for %q", r.GetId())
				}
				afters, limits = append(afters, r.GetAfter()), append(limits, r.GetLimit())
			}
			if strings.Join(afters, ",") != strings.Join(tt.afters, ",") || len(limits) != len(tt.limits) {
				t.Fatalf("after %q limit %v, want %q %v", afters, limits, tt.afters, tt.limits)
			}
			for i := range limits {
				if limits[i] != tt.limits[i] {
					t.Errorf("limits %v, want %v", limits, tt.limits)
				}
			}
			if n := len(received[*lorafuotapb.GetDeploymentRequest](f)); n != 0 {
				t.Errorf("%d GetDeployment calls without --follow", n)
			}
		})
	}
}

func TestLogsFollow(t *testing.T) {
	f, conn := newFake(t)
	f.status = sampleStatus()
	f.logs = sampleLogs()
	f.phases = []string{"multicast", "completion", "done"}
	out, _, err := execute(t, "", cmdArgs([]string{"logs", "dep-1", "--follow", "--json", "--poll-interval", "1ms"}, conn)...)
	if err != nil {
		t.Fatalf("err %v\n%s", err, out)
	}
	var want []*lorafuotapb.LogEntry
	for _, b := range f.logs {
		want = append(want, b...)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want every entry once (%d):\n%s", len(lines), len(want), out)
	}
	for i, l := range lines {
		var e lorafuotapb.LogEntry
		if err := protojson.Unmarshal([]byte(l), &e); err != nil || !proto.Equal(&e, want[i]) {
			t.Errorf("line %d: %v: %s, want %v", i, err, l, want[i])
		}
	}
	if n := len(received[*lorafuotapb.GetDeploymentRequest](f)); n != 3 {
		t.Errorf("%d GetDeployment calls, want 3 (until done)", n)
	}
}

func TestLogsFollowCanceled(t *testing.T) {
	f, conn := newFake(t)
	f.status = sampleStatus()
	f.logs = sampleLogs()
	f.phases = []string{"canceled"}
	out, _, err := execute(t, "", cmdArgs([]string{"logs", "dep-1", "--follow", "--poll-interval", "1ms"}, conn)...)
	if err != nil {
		t.Fatalf("err %v\n%s", err, out)
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d lines, want the 3 entries logged before the cancel:\n%s", n, out)
	}
}

func TestLogsErrors(t *testing.T) {
	f, conn := newFake(t)
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--poll-interval", "0s", "--follow"}, "--poll-interval 0s: must be positive"},
		{[]string{"--limit", "x"}, `"--limit"`},
	}
	for _, tt := range tests {
		_, _, err := execute(t, "", cmdArgs([]string{"logs", "dep-1"}, conn, tt.flags...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.flags, err, tt.want)
		}
	}
	if len(received[*lorafuotapb.GetLogsRequest](f)) != 0 {
		t.Error("bad flags reached the server")
	}
}

// A server that ignores after would loop the client forever.
func TestLogsServerIgnoresAfter(t *testing.T) {
	f, conn := newFake(t)
	f.logs = [][]*lorafuotapb.LogEntry{{logEntry("1-0", "", "log", "again", nil)}}
	f.logPage = 1
	_, _, err := execute(t, "", cmdArgs([]string{"logs", "dep-1", "--after", "1-0"}, conn)...)
	if err != nil {
		t.Fatalf("an empty page after 1-0 must end the listing: %v", err)
	}
	// The fake returns 1-0 for after "" only; a server returning the entry
	// asked to be after is refused.
	f2 := &fakeServer{token: testToken, logs: [][]*lorafuotapb.LogEntry{{logEntry("", "", "log", "no id", nil)}}}
	addr := serve(t, f2)
	_, _, err = execute(t, "", "logs", "dep-1", "--server", addr, "--token", testToken)
	if err == nil || !strings.Contains(err.Error(), "without moving past") {
		t.Errorf("err %v, want the loop refused", err)
	}
}
