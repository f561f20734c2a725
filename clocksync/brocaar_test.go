package clocksync

import (
	"bytes"
	"reflect"
	"testing"

	bro "github.com/brocaar/lorawan/applayer/clocksync"

	"github.com/lorafuota/lorafuota/applayer"
)

// TestBrocaarForceDeviceResyncMask shows the defect of PROTOCOLS.md §6.1:
// brocaar/lorawan reads NbTransmissions with mask 0x17, so the RFU bit 4 of 0x13
// turns 3 transmissions into 19. NbTransmissions is bits 2:0.
func TestBrocaarForceDeviceResyncMask(t *testing.T) {
	frame := []byte{0x03, 0x13}

	var theirs bro.Commands
	if err := theirs.UnmarshalBinary(false, frame); err != nil {
		t.Fatalf("brocaar: %v", err)
	}
	got := theirs[0].Payload.(*bro.ForceDeviceResyncReqPayload).ForceConf.NbTransmissions
	if got != 19 {
		t.Errorf("brocaar decodes NbTransmissions %d; PROTOCOLS.md says 19 (defect fixed upstream?)", got)
	}

	ours, err := DecodeFrame(frame, applayer.Downlink, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := ours[0].(*ForceDeviceResync).NbTransmissions; n != 3 {
		t.Errorf("NbTransmissions = %d, want 3", n)
	}
}

// TestBrocaarCrossCheck encodes the same v1 commands with both libraries and
// decodes brocaar's bytes with ours, over values that exercise every bit of every
// field. Where brocaar is right (everything except ForceDeviceResyncReq decoding)
// the wire format must agree.
func TestBrocaarCrossCheck(t *testing.T) {
	type pair struct {
		dir    applayer.Direction
		ours   applayer.Command
		theirs bro.Command
	}
	var pairs []pair
	times := []uint32{0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x08040201, 1384035218}
	for i, tm := range times {
		token := uint8(i*7) & 0x0f
		pairs = append(pairs,
			pair{applayer.Uplink,
				&AppTimeReq{DeviceTime: tm, TokenReq: token, AnsRequired: i%2 == 0},
				bro.Command{CID: bro.AppTimeReq, Payload: &bro.AppTimeReqPayload{DeviceTime: tm,
					Param: bro.AppTimeReqPayloadParam{TokenReq: token, AnsRequired: i%2 == 0}}}},
			pair{applayer.Downlink,
				&AppTimeAns{TimeCorrection: int32(tm), TokenAns: token},
				bro.Command{CID: bro.AppTimeAns, Payload: &bro.AppTimeAnsPayload{TimeCorrection: int32(tm),
					Param: bro.AppTimeAnsPayloadParam{TokenAns: token}}}},
			pair{applayer.Uplink,
				&DeviceAppTimePeriodicityAns{NotSupported: i%2 == 1, DeviceTime: tm},
				bro.Command{CID: bro.DeviceAppTimePeriodicityAns, Payload: &bro.DeviceAppTimePeriodicityAnsPayload{
					Status: bro.DeviceAppTimePeriodicityAnsPayloadStatus{NotSupported: i%2 == 1}, Time: tm}}},
		)
	}
	for v := range uint8(16) {
		pairs = append(pairs, pair{applayer.Downlink, &DeviceAppTimePeriodicityReq{Period: v},
			bro.Command{CID: bro.DeviceAppTimePeriodicityReq, Payload: &bro.DeviceAppTimePeriodicityReqPayload{
				Periodicity: bro.DeviceAppTimePeriodicityReqPayloadPeriodicity{Period: v}}}})
	}
	for n := range uint8(8) {
		// brocaar's encoder masks with 0x17 too, harmless for 0..7.
		pairs = append(pairs, pair{applayer.Downlink, &ForceDeviceResync{Version: 1, NbTransmissions: n},
			bro.Command{CID: bro.ForceDeviceResyncReq, Payload: &bro.ForceDeviceResyncReqPayload{
				ForceConf: bro.ForceDeviceResyncReqPayloadForceConf{NbTransmissions: n}}}})
	}
	pairs = append(pairs,
		pair{applayer.Downlink, &applayer.PackageVersionReq{}, bro.Command{CID: bro.PackageVersionReq}},
		pair{applayer.Uplink, &applayer.PackageVersionAns{PackageIdentifier: 1, PackageVersion: 1},
			bro.Command{CID: bro.PackageVersionAns, Payload: &bro.PackageVersionAnsPayload{PackageIdentifier: 1, PackageVersion: 1}}},
	)

	for _, p := range pairs {
		want, err := p.theirs.MarshalBinary()
		if err != nil {
			t.Fatalf("brocaar %v: %v", p.theirs, err)
		}
		got, err := p.ours.MarshalBinary()
		if err != nil {
			t.Fatalf("%#v: %v", p.ours, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%#v: we encode %x, brocaar %x", p.ours, got, want)
		}
		cmds, err := DecodeFrame(want, p.dir, 1)
		if err != nil {
			t.Errorf("decode brocaar's %x: %v", want, err)
			continue
		}
		if !reflect.DeepEqual(cmds[0], p.ours) {
			t.Errorf("decode brocaar's %x = %#v, want %#v", want, cmds[0], p.ours)
		}
	}
}
