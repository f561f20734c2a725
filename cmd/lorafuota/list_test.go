package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func TestList(t *testing.T) {
	second := sampleStatus()
	second.Id, second.Name, second.Phase, second.DevicesTotal, second.Updated, second.Failed = "dep-2", "", "done", 250, 249, 1
	second.FragmentsSent, second.FragmentsPlanned = 400, 400
	list := &lorafuotapb.ListDeploymentsResponse{Deployments: []*lorafuotapb.DeploymentStatus{sampleStatus(), second}}
	tests := []struct {
		name  string
		resp  *lorafuotapb.ListDeploymentsResponse
		flags []string
		req   *lorafuotapb.ListDeploymentsRequest
		want  []string
	}{
		{"all", list, nil, &lorafuotapb.ListDeploymentsRequest{}, []string{
			"ID     NAME           PHASE      DEVICES  UPDATED  FAILED  FRAGMENTS\n" +
				"dep-1  night rollout  multicast  3        1        1       120/348\n" +
				"dep-2  -              done       250      249      1       400/400\n",
		}},
		{"phases and limit", list, []string{"--phase", "setup,Multicast", "--phase", "done", "--phase", "setup", "--limit", "5"},
			&lorafuotapb.ListDeploymentsRequest{Phases: []string{"setup", "multicast", "done"}, Limit: 5}, []string{"dep-2"}},
		{"none", &lorafuotapb.ListDeploymentsResponse{}, nil, &lorafuotapb.ListDeploymentsRequest{}, []string{"no deployments\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.list = tt.resp
			out, _, err := execute(t, "", cmdArgs([]string{"list"}, conn, tt.flags...)...)
			if err != nil {
				t.Fatalf("err %v\n%s", err, out)
			}
			if got := received[*lorafuotapb.ListDeploymentsRequest](f); len(got) != 1 || !proto.Equal(got[0], tt.req) {
				t.Errorf("requests %v, want [%v]", got, tt.req)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestListJSON(t *testing.T) {
	f, conn := newFake(t)
	f.list = &lorafuotapb.ListDeploymentsResponse{Deployments: []*lorafuotapb.DeploymentStatus{sampleStatus()}}
	out, _, err := execute(t, "", cmdArgs([]string{"list", "--json"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	var resp lorafuotapb.ListDeploymentsResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("not protojson: %v\n%s", err, out)
	}
	if !proto.Equal(&resp, f.list) {
		t.Errorf("parsed back %v, want %v", &resp, f.list)
	}
}

func TestListErrors(t *testing.T) {
	f, conn := newFake(t)
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--phase", "running"}, `--phase "running": want one of new, setup, session, multicast, completion, done, canceled`},
		{[]string{"--limit", "-1"}, `"--limit"`},
		{[]string{"extra"}, `unknown command "extra"`},
	}
	for _, tt := range tests {
		_, _, err := execute(t, "", cmdArgs([]string{"list"}, conn, tt.flags...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.flags, err, tt.want)
		}
	}
	if got := received[*lorafuotapb.ListDeploymentsRequest](f); len(got) != 0 {
		t.Errorf("bad flags reached the server: %v", got)
	}
}
