package server_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/chirpstack/chirpstack/api/go/v4/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// profileID is the id of the scenario's only device profile.
func (r *rig) profileID() string {
	r.t.Helper()
	resp, err := r.client.Devices.Get(r.ctx, &api.GetDeviceRequest{DevEui: r.net.Devices()[0].DevEUI().String()})
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.GetDevice().GetDeviceProfileId()
}

// TestFuotaService drives a deployment through ChirpStack's FuotaService as
// ChirpStack's own UI would: create a draft, add devices and gateways,
// change it, start it, follow its jobs to the end, delete it.
func TestFuotaService(t *testing.T) {
	r := newRig(t, scenario(3), 7)
	m := r.manager("a")
	c := api.NewFuotaServiceClient(serveGRPC(t, m))
	ctx := authed(r.ctx)
	profile := r.profileID()
	img := r.firmware(4096)
	r.hear()

	dep := &api.FuotaDeployment{
		ApplicationId: r.appID, DeviceProfileId: profile, Name: "from chirpstack",
		MulticastGroupType: api.MulticastGroupType_CLASS_C, MulticastDr: 5, MulticastFrequency: 869525000,
		CalculateMulticastTimeout: true, CalculateFragmentationFragmentSize: true,
		FragmentationRedundancyPercentage: 50, UnicastMaxRetryCount: 4,
		FragmentationDescriptor: []byte{1, 2, 3, 4}, FragmentationBlockAckDelay: 1,
		RequestFragmentationSessionStatus: api.RequestFragmentationSessionStatus_AFTER_SESSION_TIMEOUT,
		Payload:                           img,
	}
	created, err := c.CreateDeployment(ctx, &api.CreateFuotaDeploymentRequest{Deployment: dep})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetId()
	got, err := c.GetDeployment(ctx, &api.GetFuotaDeploymentRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	want := proto.CloneOf(dep)
	want.Id = id
	if !proto.Equal(got.GetDeployment(), want) {
		t.Errorf("GetDeployment:\n got %v\nwant %v", got.GetDeployment(), want)
	}
	if got.GetStartedAt() != nil || got.GetCompletedAt() != nil || got.GetCreatedAt() == nil {
		t.Errorf("draft times: %v", got)
	}

	// Devices and gateways, before the start.
	var euis []string
	for _, d := range r.net.Devices() {
		euis = append(euis, d.DevEUI().String())
	}
	if _, err := c.AddDevices(ctx, &api.AddDevicesToFuotaDeploymentRequest{FuotaDeploymentId: id, DevEuis: euis}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddDevices(ctx, &api.AddDevicesToFuotaDeploymentRequest{FuotaDeploymentId: id, DevEuis: []string{euis[0], "0102030405060708"}})
	wantCode(t, "adding an unknown device", err, codes.InvalidArgument, "dev_euis[1]")
	_, err = c.AddDevices(ctx, &api.AddDevicesToFuotaDeploymentRequest{FuotaDeploymentId: id, DevEuis: []string{"xyz"}})
	wantCode(t, "adding a malformed EUI", err, codes.InvalidArgument, "dev_euis[0]")
	devs, err := c.ListDevices(ctx, &api.ListFuotaDeploymentDevicesRequest{FuotaDeploymentId: id, Limit: 2})
	if err != nil || devs.GetTotalCount() != 3 || len(devs.GetResult()) != 2 || devs.GetResult()[0].GetDevEui() != euis[0] {
		t.Errorf("ListDevices, limit 2: %v, %v", devs, err)
	}
	if _, err := c.RemoveDevices(ctx, &api.RemoveDevicesFromFuotaDeploymentRequest{FuotaDeploymentId: id, DevEuis: euis[2:]}); err != nil {
		t.Fatal(err)
	}
	if devs, _ := c.ListDevices(ctx, &api.ListFuotaDeploymentDevicesRequest{FuotaDeploymentId: id, Limit: 10}); devs.GetTotalCount() != 2 {
		t.Errorf("after removing one: %d devices", devs.GetTotalCount())
	}
	for _, ids := range [][]string{{gatewayID, "0016c001f00000ff"}} {
		if _, err := c.AddGateways(ctx, &api.AddGatewaysToFuotaDeploymentRequest{FuotaDeploymentId: id, GatewayIds: ids}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RemoveGateways(ctx, &api.RemoveGatewaysFromFuotaDeploymentRequest{FuotaDeploymentId: id, GatewayIds: []string{"0016c001f00000ff"}}); err != nil {
		t.Fatal(err)
	}
	gws, err := c.ListGateways(ctx, &api.ListFuotaDeploymentGatewaysRequest{FuotaDeploymentId: id, Limit: 10})
	if err != nil || gws.GetTotalCount() != 1 || gws.GetResult()[0].GetGatewayId() != gatewayID {
		t.Errorf("ListGateways: %v, %v", gws, err)
	}

	// An update keeps the devices and gateways, and the payload when none
	// is sent.
	upd := proto.CloneOf(want)
	upd.Name, upd.Payload = "renamed", nil
	if _, err := c.UpdateDeployment(ctx, &api.UpdateFuotaDeploymentRequest{Deployment: upd}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetDeployment(ctx, &api.GetFuotaDeploymentRequest{Id: id})
	if err != nil || got.GetDeployment().GetName() != "renamed" || !bytes.Equal(got.GetDeployment().GetPayload(), img) {
		t.Errorf("after the update: %v, %v", got.GetDeployment().GetName(), err)
	}
	if devs, _ := c.ListDevices(ctx, &api.ListFuotaDeploymentDevicesRequest{FuotaDeploymentId: id, Limit: 10}); devs.GetTotalCount() != 2 {
		t.Errorf("after the update: %d devices", devs.GetTotalCount())
	}
	list, err := c.ListDeployments(ctx, &api.ListFuotaDeploymentsRequest{Limit: 10, ApplicationId: r.appID})
	if err != nil || list.GetTotalCount() != 1 || list.GetResult()[0].GetName() != "renamed" {
		t.Errorf("ListDeployments: %v, %v", list, err)
	}
	if list, _ := c.ListDeployments(ctx, &api.ListFuotaDeploymentsRequest{Limit: 10, ApplicationId: "00000000-0000-0000-0000-000000000000"}); list.GetTotalCount() != 0 {
		t.Errorf("ListDeployments of another application: %v", list)
	}
	if jobs, err := c.ListJobs(ctx, &api.ListFuotaDeploymentJobsRequest{FuotaDeploymentId: id}); err != nil || len(jobs.GetJobs()) != 0 {
		t.Errorf("jobs of a draft: %v, %v", jobs, err)
	}

	if _, err := c.StartDeployment(ctx, &api.StartFuotaDeploymentRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	// After the start, nothing changes.
	_, err = c.AddDevices(ctx, &api.AddDevicesToFuotaDeploymentRequest{FuotaDeploymentId: id, DevEuis: euis[2:]})
	wantCode(t, "adding a device after the start", err, codes.FailedPrecondition, "before its start")
	_, err = c.AddGateways(ctx, &api.AddGatewaysToFuotaDeploymentRequest{FuotaDeploymentId: id, GatewayIds: []string{gatewayID}})
	wantCode(t, "adding a gateway after the start", err, codes.FailedPrecondition, "before its start")
	_, err = c.UpdateDeployment(ctx, &api.UpdateFuotaDeploymentRequest{Deployment: upd})
	wantCode(t, "updating after the start", err, codes.FailedPrecondition, "before its start")
	_, err = c.StartDeployment(ctx, &api.StartFuotaDeploymentRequest{Id: id})
	wantCode(t, "starting twice", err, codes.FailedPrecondition, "already been started")
	_, err = c.DeleteDeployment(ctx, &api.DeleteFuotaDeploymentRequest{Id: id})
	wantCode(t, "deleting while running", err, codes.FailedPrecondition, "cancel it first")
	if jobs, _ := c.ListJobs(ctx, &api.ListFuotaDeploymentJobsRequest{FuotaDeploymentId: id}); len(jobs.GetJobs()) == 0 ||
		jobs.GetJobs()[0].GetJob() != "MC_GROUP_SETUP" || jobs.GetJobs()[0].GetCompletedAt() != nil {
		t.Errorf("jobs after the start: %v", jobs)
	}

	st := r.finish(m, id, 6*time.Hour)
	r.checkUpdated(st)
	if len(st.Devices) != 2 || st.Plan.Blocks[0].Redundancy != (st.Plan.Blocks[0].NbFrag+1)/2 {
		t.Errorf("ran %d devices with plan %+v; want 2, and 50 %% redundancy", len(st.Devices), st.Plan.Blocks)
	}
	jobs, err := c.ListJobs(ctx, &api.ListFuotaDeploymentJobsRequest{FuotaDeploymentId: id})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs.GetJobs() {
		names = append(names, j.GetJob())
		if j.GetCompletedAt() == nil || j.GetCreatedAt() == nil || j.GetCompletedAt().AsTime().Before(j.GetCreatedAt().AsTime()) || j.GetErrorMsg() != "" {
			t.Errorf("job %v", j)
		}
	}
	wantJobs := []string{"MC_GROUP_SETUP", "FRAG_SESSION_SETUP", "MC_SESSION", "CREATE_MC_GROUP", "ADD_DEVS_TO_MC_GROUP",
		"ADD_GWS_TO_MC_GROUP", "ENQUEUE", "FRAG_STATUS", "DELETE_MC_GROUP", "COMPLETE"}
	if !slices.Equal(names, wantJobs) {
		t.Errorf("jobs %v, want %v", names, wantJobs)
	}
	for i := 1; i < len(jobs.GetJobs()); i++ {
		if jobs.GetJobs()[i].GetCreatedAt().AsTime().Before(jobs.GetJobs()[i-1].GetCreatedAt().AsTime()) {
			t.Errorf("job %s created before %s", names[i], names[i-1])
		}
	}
	devs, err = c.ListDevices(ctx, &api.ListFuotaDeploymentDevicesRequest{FuotaDeploymentId: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs.GetResult() {
		if d.GetCompletedAt() == nil || d.GetErrorMsg() != "" {
			t.Errorf("device at the end: %v", d)
		}
	}
	got, err = c.GetDeployment(ctx, &api.GetFuotaDeploymentRequest{Id: id})
	if err != nil || got.GetStartedAt() == nil || got.GetCompletedAt() == nil {
		t.Errorf("times at the end: %v, %v", got, err)
	}
	if _, err := c.DeleteDeployment(ctx, &api.DeleteFuotaDeploymentRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetDeployment(ctx, &api.GetFuotaDeploymentRequest{Id: id})
	wantCode(t, "getting a deleted deployment", err, codes.NotFound, id)
}

// TestFuotaServiceRefuses refuses, naming the field, the settings lorafuota
// cannot honour.
func TestFuotaServiceRefuses(t *testing.T) {
	r := newRig(t, scenario(1), 7)
	c := api.NewFuotaServiceClient(serveGRPC(t, r.manager("a")))
	ctx := authed(r.ctx)
	valid := func() *api.FuotaDeployment {
		return &api.FuotaDeployment{ApplicationId: r.appID, MulticastDr: 5, CalculateMulticastTimeout: true,
			CalculateFragmentationFragmentSize: true}
	}
	for _, tc := range []struct {
		name  string
		edit  func(d *api.FuotaDeployment)
		field string
	}{
		{"no application", func(d *api.FuotaDeployment) { d.ApplicationId = "" }, "deployment.application_id"},
		{"unknown group type", func(d *api.FuotaDeployment) { d.MulticastGroupType = api.MulticastGroupType(7) }, "deployment.multicast_group_type"},
		{"GPS time", func(d *api.FuotaDeployment) {
			d.MulticastClassCSchedulingType = api.MulticastGroupSchedulingType_GPS_TIME
		}, "deployment.multicast_class_c_scheduling_type"},
		{"fixed timeout", func(d *api.FuotaDeployment) { d.CalculateMulticastTimeout, d.MulticastTimeout = false, 6 }, "deployment.multicast_timeout"},
		{"matrix", func(d *api.FuotaDeployment) { d.FragmentationMatrix = 1 }, "deployment.fragmentation_matrix"},
		{"descriptor", func(d *api.FuotaDeployment) { d.FragmentationDescriptor = []byte{1, 2} }, "deployment.fragmentation_descriptor"},
		{"tags", func(d *api.FuotaDeployment) { d.OnCompleteSetDeviceTags = map[string]string{"fw": "2"} }, "deployment.on_complete_set_device_tags"},
		{"redundancy", func(d *api.FuotaDeployment) { d.FragmentationRedundancyPercentage = 120 }, "deployment.fragmentation_redundancy_percentage"},
		{"block ack delay", func(d *api.FuotaDeployment) { d.FragmentationBlockAckDelay = 9 }, "deployment.fragmentation_block_ack_delay"},
		{"unknown profile", func(d *api.FuotaDeployment) { d.DeviceProfileId = "00000000-0000-0000-0000-000000000009" }, "deployment.device_profile_id"},
		{"data rate for the image", func(d *api.FuotaDeployment) { d.MulticastDr = 9; d.Payload = bytes.Repeat([]byte{1}, 2000) }, "dr 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := valid()
			tc.edit(d)
			_, err := c.CreateDeployment(ctx, &api.CreateFuotaDeploymentRequest{Deployment: d})
			wantCode(t, "CreateDeployment", err, codes.InvalidArgument, tc.field)
		})
	}
	_, err := c.CreateDeployment(ctx, &api.CreateFuotaDeploymentRequest{})
	wantCode(t, "CreateDeployment without a deployment", err, codes.InvalidArgument, "deployment")

	// A draft without devices or payload does not start.
	created, err := c.CreateDeployment(ctx, &api.CreateFuotaDeploymentRequest{Deployment: valid()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartDeployment(ctx, &api.StartFuotaDeploymentRequest{Id: created.GetId()})
	wantCode(t, "starting without devices", err, codes.InvalidArgument, "devices")
	if _, err := c.AddDevices(ctx, &api.AddDevicesToFuotaDeploymentRequest{FuotaDeploymentId: created.GetId(),
		DevEuis: []string{r.net.Devices()[0].DevEUI().String()}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.StartDeployment(ctx, &api.StartFuotaDeploymentRequest{Id: created.GetId()})
	wantCode(t, "starting without a payload", err, codes.InvalidArgument, "image")
	_, err = c.GetDeployment(ctx, &api.GetFuotaDeploymentRequest{Id: "nope"})
	wantCode(t, "getting an unknown deployment", err, codes.NotFound, "nope")
	// A draft can be deleted.
	if _, err := c.DeleteDeployment(ctx, &api.DeleteFuotaDeploymentRequest{Id: created.GetId()}); err != nil {
		t.Fatal(err)
	}
}
