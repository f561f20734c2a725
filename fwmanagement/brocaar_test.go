package fwmanagement

import (
	"bytes"
	"reflect"
	"testing"

	bro "github.com/brocaar/lorawan/applayer/firmwaremanagement"

	"github.com/lorafuota/lorafuota/applayer"
)

// The tests below show the three defects of brocaar/lorawan's TS006 codec listed in
// PROTOCOLS.md §6.1, each next to our behaviour. If one starts failing on the
// brocaar side, the defect was fixed upstream and the note in PROTOCOLS.md is stale.

// Defect 1: nextFirmwareVersion is unexported, so a status-3 answer cannot be
// built (marshalling dereferences the nil pointer) and a decoded one cannot be
// read.
func TestBrocaarUpgradeImageAnsStatus3(t *testing.T) {
	panicked := func() (p any) {
		defer func() { p = recover() }()
		ans := bro.DevUpgradeImageAnsPayload{
			Status: bro.DevUpgradeImageAnsPayloadStatus{UpImageStatus: bro.FirmwareValid},
		}
		ans.MarshalBinary()
		return nil
	}()
	if panicked == nil {
		t.Error("brocaar marshalled a status-3 DevUpgradeImageAns without panicking")
	}

	ours := &DevUpgradeImageAns{UpImageStatus: UpImageValid, NextFirmwareVersion: 0x73190117}
	b, err := ours.MarshalBinary()
	if err != nil || !bytes.Equal(b, []byte{0x04, 0x03, 0x17, 0x01, 0x19, 0x73}) {
		t.Errorf("MarshalBinary = %x, %v; want 040317011973", b, err)
	}
	cmds, err := DecodeFrame(b, applayer.Uplink, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v := cmds[0].(*DevUpgradeImageAns).NextFirmwareVersion; v != 0x73190117 {
		t.Errorf("decoded NextFirmwareVersion %#x, want 0x73190117", v)
	}
}

// Defect 2: DevDeleteImageAns.MarshalBinary writes ErrorNoValidImage into both
// bits and never ErrorInvalidVersion.
func TestBrocaarDeleteImageAnsBits(t *testing.T) {
	marshal := func(noValid, invalid uint8) []byte {
		b, err := bro.DevDeleteImageAnsPayload{Status: bro.DevDeleteImageAnsPayloadStatus{
			ErrorNoValidImage: noValid, ErrorInvalidVersion: invalid}}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := marshal(0, 1); !bytes.Equal(got, []byte{0x00}) {
		t.Errorf("brocaar ErrorInvalidVersion payload %x, PROTOCOLS.md says 00", got)
	}
	if got := marshal(1, 0); !bytes.Equal(got, []byte{0x03}) {
		t.Errorf("brocaar ErrorNoValidImage payload %x, PROTOCOLS.md says 03", got)
	}

	for _, tt := range []struct {
		ans  DevDeleteImageAns
		want []byte
	}{
		{DevDeleteImageAns{ErrorInvalidVersion: true}, []byte{0x05, 0x02}},
		{DevDeleteImageAns{ErrorNoValidImage: true}, []byte{0x05, 0x01}},
	} {
		if got, err := tt.ans.MarshalBinary(); err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%+v: MarshalBinary = %x, %v; want %x", tt.ans, got, err, tt.want)
		}
	}
}

// Defect 3: the DevVersionReq, DevUpgradeImageReq and DevDeleteImageReq decoders
// require the rest of the frame to be exactly their payload, so a frame with a
// second command after one of them fails.
func TestBrocaarSeveralRequestsPerFrame(t *testing.T) {
	frames := []struct {
		hex  []byte
		want []applayer.Command
	}{
		{[]byte{0x01, 0x04}, []applayer.Command{&DevVersionReq{}, &DevUpgradeImageReq{}}},
		{[]byte{0x04, 0x01}, []applayer.Command{&DevUpgradeImageReq{}, &DevVersionReq{}}},
		{[]byte{0x05, 0x17, 0x01, 0x19, 0x73, 0x04},
			[]applayer.Command{&DevDeleteImageReq{FirmwareToDeleteVersion: 0x73190117}, &DevUpgradeImageReq{}}},
	}
	for _, f := range frames {
		var theirs bro.Commands
		if err := theirs.UnmarshalBinary(false, f.hex); err == nil {
			t.Errorf("brocaar parsed %x", f.hex)
		}
		ours, err := DecodeFrame(f.hex, applayer.Downlink, 1)
		if err != nil {
			t.Errorf("DecodeFrame(%x): %v", f.hex, err)
			continue
		}
		if !reflect.DeepEqual(ours, f.want) {
			t.Errorf("DecodeFrame(%x) = %#v, want %#v", f.hex, ours, f.want)
		}
	}
}

// TestBrocaarCrossCheck compares the wire format where brocaar is right.
func TestBrocaarCrossCheck(t *testing.T) {
	type pair struct {
		dir    applayer.Direction
		ours   applayer.Command
		theirs bro.Command
	}
	var pairs []pair
	for _, v := range []uint32{0, 1, 0x00ff_ffff, 0x0102_0304, 0x7fff_ffff, 0xffff_ffff} {
		v24 := v & 0xff_ffff
		pairs = append(pairs,
			pair{applayer.Uplink, &DevVersionAns{FWVersion: v, HWVersion: ^v},
				bro.Command{CID: bro.DevVersionAns, Payload: &bro.DevVersionAnsPayload{FWversion: v, HWversion: ^v}}},
			pair{applayer.Downlink, &DevRebootTimeReq{RebootTime: v},
				bro.Command{CID: bro.DevRebootTimeReq, Payload: &bro.DevRebootTimeReqPayload{RebootTime: v}}},
			pair{applayer.Uplink, &DevRebootTimeAns{RebootTime: v},
				bro.Command{CID: bro.DevRebootTimeAns, Payload: &bro.DevRebootTimeAnsPayload{RebootTime: v}}},
			pair{applayer.Downlink, &DevRebootCountdownReq{Countdown: v24},
				bro.Command{CID: bro.DevRebootCountdownReq, Payload: &bro.DevRebootCountdownReqPayload{Countdown: v24}}},
			pair{applayer.Uplink, &DevRebootCountdownAns{Countdown: v24},
				bro.Command{CID: bro.DevRebootCountdownAns, Payload: &bro.DevRebootCountdownAnsPayload{Countdown: v24}}},
			pair{applayer.Downlink, &DevDeleteImageReq{FirmwareToDeleteVersion: v},
				bro.Command{CID: bro.DevDeleteImageReq, Payload: &bro.DevDeleteImageReqPayload{FirmwareToDeleteVersion: v}}},
		)
	}
	for s := range UpImageValid { // status 3 is defect 1
		pairs = append(pairs, pair{applayer.Uplink, &DevUpgradeImageAns{UpImageStatus: s},
			bro.Command{CID: bro.DevUpgradeImageAns, Payload: &bro.DevUpgradeImageAnsPayload{
				Status: bro.DevUpgradeImageAnsPayloadStatus{UpImageStatus: bro.UpImageStatus(s)}}}})
	}
	pairs = append(pairs,
		pair{applayer.Downlink, &DevVersionReq{}, bro.Command{CID: bro.DevVersionReq}},
		pair{applayer.Downlink, &DevUpgradeImageReq{}, bro.Command{CID: bro.DevUpgradeImageReq}},
		pair{applayer.Uplink, &DevDeleteImageAns{}, bro.Command{CID: bro.DevDeleteImageAns, Payload: &bro.DevDeleteImageAnsPayload{}}},
		pair{applayer.Uplink, &applayer.PackageVersionAns{PackageIdentifier: 4, PackageVersion: 1},
			bro.Command{CID: bro.PackageVersionAns, Payload: &bro.PackageVersionAnsPayload{PackageIdentifier: 4, PackageVersion: 1}}},
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
