package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

func TestCancel(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		req   *lorafuotapb.CancelDeploymentRequest
	}{
		{"no reason", nil, &lorafuotapb.CancelDeploymentRequest{Id: "dep-1"}},
		{"reason", []string{"--reason", "wrong image"}, &lorafuotapb.CancelDeploymentRequest{Id: "dep-1", Reason: "wrong image"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, conn := newFake(t)
			f.status = sampleStatus()
			f.status.Phase = "canceled"
			out, _, err := execute(t, "", cmdArgs([]string{"cancel", "dep-1"}, conn, tt.flags...)...)
			if err != nil {
				t.Fatalf("err %v\n%s", err, out)
			}
			if got := received[*lorafuotapb.CancelDeploymentRequest](f); len(got) != 1 || !proto.Equal(got[0], tt.req) {
				t.Errorf("requests %v, want [%v]", got, tt.req)
			}
			if want := "deployment dep-1: canceled, 1 of 3 devices updated\n"; out != want {
				t.Errorf("output %q, want %q", out, want)
			}
		})
	}
}

func TestCancelJSON(t *testing.T) {
	f, conn := newFake(t)
	f.status = sampleStatus()
	out, _, err := execute(t, "", cmdArgs([]string{"cancel", "dep-1", "--json"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	var st lorafuotapb.DeploymentStatus
	if err := protojson.Unmarshal([]byte(out), &st); err != nil || !proto.Equal(&st, f.status) {
		t.Errorf("parsed back %v (%v), want %v", &st, err, f.status)
	}
}

func TestStart(t *testing.T) {
	f, conn := newFake(t)
	f.status = sampleStatus()
	f.status.Phase = "setup"
	out, _, err := execute(t, "", cmdArgs([]string{"start", "dep-1"}, conn)...)
	if err != nil {
		t.Fatal(err)
	}
	want := &lorafuotapb.StartDeploymentRequest{Id: "dep-1"}
	if got := received[*lorafuotapb.StartDeploymentRequest](f); len(got) != 1 || !proto.Equal(got[0], want) {
		t.Errorf("requests %v, want [%v]", got, want)
	}
	if !strings.Contains(out, "deployment dep-1: setup") {
		t.Errorf("output %q", out)
	}
}
