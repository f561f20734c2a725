package server_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/server"
)

// TestManagerCampaign runs a deployment created from bare DevEUIs (the rest
// read from ChirpStack) to the end, and checks what the Manager recorded:
// verdicts, the log, the inventory, the phases, the routing.
func TestManagerCampaign(t *testing.T) {
	r := newRig(t, scenario(3), 7)
	m := r.manager("a")
	r.hear()
	img := r.firmware(4096)
	st, err := m.Create(r.ctx, server.Request{Name: "first", Image: img, Devices: r.devices(3)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Draft || st.Plan == nil || st.ApplicationID != r.appID || st.Progress.Devices != 3 {
		t.Fatalf("created: %s, plan %v, application %q (want %q)", describe(st), st.Plan != nil, st.ApplicationID, r.appID)
	}
	for _, d := range r.net.Devices() {
		if !m.Managed(d.DevEUI()) {
			t.Errorf("%s not managed while its deployment runs", d.DevEUI())
		}
	}
	if m.Managed(lorawan.EUI64{1}) {
		t.Error("an unknown device is managed")
	}

	st = r.finish(m, st.ID, 6*time.Hour)
	r.checkUpdated(st)
	if st.Phase != fuota.PhaseDone || st.CompletedAt.IsZero() || st.StartedAt.IsZero() {
		t.Errorf("finished: %s, started %v, completed %v", describe(st), st.StartedAt, st.CompletedAt)
	}
	var phases []fuota.Phase
	for _, p := range st.Phases {
		phases = append(phases, p.Phase)
	}
	want := []fuota.Phase{fuota.PhaseSetup, fuota.PhaseSession, fuota.PhaseMulticast, fuota.PhaseStatus, fuota.PhaseDone}
	if !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	for _, d := range r.net.Devices() {
		if m.Managed(d.DevEUI()) {
			t.Errorf("%s still managed after its deployment is done", d.DevEUI())
		}
	}

	// The log has the start, the engine's lines and a verdict per device.
	entries, err := m.Logs(r.ctx, st.ID, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range entries {
		kinds[e.Kind]++
		if e.Kind == "verdict" && (e.DevEUI == nil || e.Fields["outcome"] != "updated" || e.Fields["firmware_version"] == "") {
			t.Errorf("verdict entry %+v", e)
		}
	}
	if kinds["verdict"] != 3 || kinds["event"] == 0 || kinds["log"] == 0 || kinds["error"] != 0 {
		t.Errorf("log entries by kind: %v, want 3 verdicts, events and logs, no errors", kinds)
	}

	// The inventory holds what each device runs now.
	inv, _, err := m.Inventory(r.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 3 {
		t.Fatalf("inventory has %d devices, want 3", len(inv))
	}
	for _, e := range inv {
		if e.FirmwareVersion != st.Devices[0].FirmwareVersion || e.Source != "DevVersionAns" {
			t.Errorf("inventory %s: %+v, want firmware %d", e.DevEUI, e.Inventory, st.Devices[0].FirmwareVersion)
		}
	}
	c := m.Counts()
	if c.Verdicts[fuota.Updated] != 3 || c.FragmentsSent == 0 || c.Deployments["done"] != 1 || c.DevicesPending != 0 {
		t.Errorf("counts %+v", c)
	}
}

// TestManagerRestart stops a Manager in the middle of a campaign and opens
// another on the same store: it resumes the deployment to the verdicts the
// campaign gets without a restart.
func TestManagerRestart(t *testing.T) {
	for _, phase := range []fuota.Phase{fuota.PhaseSetup, fuota.PhaseMulticast} {
		t.Run(string(phase), func(t *testing.T) {
			r := newRig(t, scenario(3), 7)
			a := r.manager("a")
			r.hear()
			st, err := a.Create(r.ctx, server.Request{Name: "restarted", Image: r.firmware(4096), Devices: r.devices(3)})
			if err != nil {
				t.Fatal(err)
			}
			id := st.ID
			if !r.runUntil(6*time.Hour, func() bool {
				st, err := a.Get(r.ctx, id, false)
				return err == nil && st.Phase == phase
			}) {
				t.Fatalf("phase %s never came", phase)
			}
			r.net.RunFor(r.ctx, 10*time.Second)
			if err := a.Close(r.ctx); err != nil {
				t.Fatal(err)
			}
			r.unhook("a")
			if owner, err := r.store.LeaseOwner(r.ctx, id); err == nil {
				t.Fatalf("lease still held by %q after Close", owner)
			}

			b := r.manager("b")
			st, err = b.Get(r.ctx, id, false)
			if err != nil {
				t.Fatal(err)
			}
			if st.Owner != "" || st.Done {
				t.Fatalf("after reopening: %s, owner %q; want it resumed here", describe(st), st.Owner)
			}
			if owner, _ := r.store.LeaseOwner(r.ctx, id); owner != "b" {
				t.Fatalf("lease owner %q, want b", owner)
			}
			st = r.finish(b, id, 6*time.Hour)
			r.checkUpdated(st)
			entries, err := b.Logs(r.ctx, id, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			resumed := false
			for _, e := range entries {
				resumed = resumed || e.Kind == "event" && strings.HasPrefix(e.Message, "resumed by b")
			}
			if !resumed {
				t.Error("no \"resumed by b\" in the log")
			}
		})
	}
}

// TestManagerTakeOver runs two Managers on one store: the second sees the
// first's deployment as remote, cannot cancel it, and takes it over when
// the first stops.
func TestManagerTakeOver(t *testing.T) {
	r := newRig(t, scenario(2), 7)
	a := r.manager("a")
	b := r.manager("b")
	r.hear()
	st, err := a.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: r.devices(2)})
	if err != nil {
		t.Fatal(err)
	}
	id := st.ID
	r.net.RunFor(r.ctx, time.Minute) // b's timer finds the deployment
	st, err = b.Get(r.ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Owner != "a" {
		t.Fatalf("seen from b: owner %q, want a", st.Owner)
	}
	if _, err := b.Cancel(r.ctx, id, ""); !errors.Is(err, server.ErrFailedPrecondition) || !strings.Contains(err.Error(), "run by a") {
		t.Errorf("cancel from b: %v, want a failed precondition naming a", err)
	}
	if _, err := b.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: r.devices(1)}); !errors.Is(err, server.ErrFailedPrecondition) {
		t.Errorf("b creating a deployment of a busy device: %v, want a failed precondition", err)
	}
	if err := a.Close(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.unhook("a")
	st = r.finish(b, id, 6*time.Hour)
	r.checkUpdated(st)
	if st.Owner != "" {
		t.Errorf("finished by b: owner %q", st.Owner)
	}
}

// TestManagerOverlap refuses a deployment with a device of a running one,
// naming the device, and accepts it once that one is cancelled.
func TestManagerOverlap(t *testing.T) {
	r := newRig(t, scenario(3), 7)
	m := r.manager("a")
	r.hear()
	img := r.firmware(4096)
	devs := r.devices(3)
	first, err := m.Create(r.ctx, server.Request{Name: "first", Image: img, Devices: devs[:2]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(r.ctx, server.Request{Name: "second", Image: img, Devices: devs[1:]})
	if !errors.Is(err, server.ErrFailedPrecondition) || !strings.Contains(err.Error(), devs[1].DevEUI.String()) ||
		!strings.Contains(err.Error(), first.ID) {
		t.Fatalf("overlapping create: %v, want a failed precondition naming %s and %s", err, devs[1].DevEUI, first.ID)
	}
	// A draft may name busy devices; starting it may not.
	draft, err := m.Create(r.ctx, server.Request{Name: "second", Image: img, Devices: devs[1:], Draft: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(r.ctx, draft.ID); !errors.Is(err, server.ErrFailedPrecondition) {
		t.Fatalf("starting an overlapping draft: %v", err)
	}
	if st, _ := m.Get(r.ctx, draft.ID, false); !st.Draft {
		t.Fatalf("the draft is no longer one after a failed start: %s", describe(st))
	}

	if _, err := m.Cancel(r.ctx, first.ID, "make room"); err != nil {
		t.Fatal(err)
	}
	st := r.finish(m, first.ID, time.Hour)
	if st.Phase != fuota.PhaseCanceled || st.Progress.Outcomes[fuota.Canceled] != 2 {
		t.Fatalf("cancelled: %s", describe(st))
	}
	st, err = m.Start(r.ctx, draft.ID)
	if err != nil {
		t.Fatalf("starting after the cancel: %v", err)
	}
	if st.Draft || st.StartedAt.IsZero() {
		t.Errorf("started: %s", describe(st))
	}
	// A started deployment is not started again, nor changed, nor deleted.
	if _, err := m.Start(r.ctx, draft.ID); !errors.Is(err, server.ErrFailedPrecondition) {
		t.Errorf("second start: %v", err)
	}
	if _, err := m.UpdateDraft(r.ctx, draft.ID, func(*server.Draft) error { return nil }); !errors.Is(err, server.ErrFailedPrecondition) {
		t.Errorf("update after the start: %v", err)
	}
	if err := m.Delete(r.ctx, draft.ID); !errors.Is(err, server.ErrFailedPrecondition) {
		t.Errorf("delete while running: %v", err)
	}
	// The cancelled one can be deleted.
	if err := m.Delete(r.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(r.ctx, first.ID, false); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
}

// TestManagerInvalid checks that requests that cannot work are refused
// before anything is stored, naming the field.
func TestManagerInvalid(t *testing.T) {
	r := newRig(t, scenario(2), 7)
	m := r.manager("a")
	img := r.firmware(4096)
	devs := r.devices(2)
	unknown := lorawan.EUI64{0xde, 0xad, 0, 0, 0, 0, 0, 1}
	five := 5
	for _, tc := range []struct {
		name  string
		req   server.Request
		field string
	}{
		{"no image", server.Request{Devices: devs}, "image"},
		{"no devices", server.Request{Image: img}, "devices"},
		{"device twice", server.Request{Image: img, Devices: []server.DeviceRequest{devs[0], devs[0]}}, "devices[1].dev_eui"},
		{"class D", server.Request{Image: img, Devices: []server.DeviceRequest{{DevEUI: devs[0].DevEUI, Class: "D"}}}, "devices[0].class"},
		{"unknown device", server.Request{Image: img, Devices: []server.DeviceRequest{{DevEUI: unknown}}}, "devices[0].dev_eui " + unknown.String()},
		{"fragment size", server.Request{Image: img, Devices: devs, Options: server.Options{FragmentSize: 300}}, "fragment_size"},
		{"both redundancies", server.Request{Image: img, Devices: devs, Options: server.Options{Redundancy: 3, RedundancyPercent: 10}}, "options.redundancy"},
		{"region", server.Request{Image: img, Devices: devs, Options: server.Options{Region: "EU999", DR: &five}}, "options.region"},
		{"gateway", server.Request{Image: img, Devices: devs, Options: server.Options{Gateways: []string{"zz"}}}, "options.gateway_ids[0]"},
		{"selector without application", server.Request{Image: img, Selector: &server.Selector{Tags: map[string]string{"a": "b"}}}, "selector.application_id"},
		{"selector matching nothing", server.Request{Image: img, Selector: &server.Selector{ApplicationID: r.appID, Tags: map[string]string{"a": "b"}}}, "selector"},
		{"device of another application", server.Request{Image: img, Devices: devs, ApplicationID: "00000000-0000-0000-0000-000000000001"}, "devices[0].dev_eui"},
		{"name", server.Request{Name: strings.Repeat("n", 300), Image: img, Devices: devs}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Create(context.Background(), tc.req)
			if !errors.Is(err, server.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Create: %v, want an invalid request naming %q", err, tc.field)
			}
		})
	}
	if list, err := m.List(r.ctx); err != nil || len(list) != 0 {
		t.Errorf("after refused requests: %d deployments, %v", len(list), err)
	}
	if specs, _ := r.store.ListSpecs(r.ctx); len(specs) != 0 {
		t.Errorf("after refused requests: %d specs stored", len(specs))
	}
}

// TestManagerSelector picks the devices from ChirpStack.
func TestManagerSelector(t *testing.T) {
	r := newRig(t, scenario(3), 7)
	m := r.manager("a")
	st, err := m.Create(r.ctx, server.Request{Image: r.firmware(4096), Draft: true, Selector: &server.Selector{ApplicationID: r.appID}})
	if err != nil {
		t.Fatal(err)
	}
	st, err = m.Get(r.ctx, st.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Devices) != 3 || st.ApplicationID != r.appID || !st.Draft {
		t.Fatalf("draft from a selector: %s, %d devices, application %q", describe(st), len(st.Devices), st.ApplicationID)
	}
}

// TestManagerReopenFinished opens a Manager on the store of a finished
// deployment: its devices' firmware versions and completion times, which
// live in the log, are reported as the first Manager reported them.
func TestManagerReopenFinished(t *testing.T) {
	r := newRig(t, scenario(2), 7)
	a := r.manager("a")
	r.hear()
	st, err := a.Create(r.ctx, server.Request{Image: r.firmware(4096), Devices: r.devices(2)})
	if err != nil {
		t.Fatal(err)
	}
	before := r.finish(a, st.ID, 6*time.Hour)
	r.checkUpdated(before)
	if err := a.Close(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.unhook("a")

	b := r.manager("b")
	after, err := b.Get(r.ctx, st.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Done || after.Phase != fuota.PhaseDone {
		t.Fatalf("reopened: %s", describe(after))
	}
	r.checkUpdated(after)
	if len(after.Devices) != len(before.Devices) {
		t.Fatalf("%d devices after reopening, %d before", len(after.Devices), len(before.Devices))
	}
	for i, d := range after.Devices {
		was := before.Devices[i]
		if d.DevEUI != was.DevEUI || d.FirmwareVersion != was.FirmwareVersion || !d.CompletedAt.Equal(was.CompletedAt) {
			t.Errorf("device %d after reopening: %s firmware %d completed %v; before: %s firmware %d completed %v",
				i, d.DevEUI, d.FirmwareVersion, d.CompletedAt, was.DevEUI, was.FirmwareVersion, was.CompletedAt)
		}
	}
}
