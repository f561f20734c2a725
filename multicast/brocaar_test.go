package multicast

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/lorafuota/lorafuota/applayer/applayertest"

	"github.com/brocaar/lorawan"
	"github.com/brocaar/lorawan/applayer/multicastsetup"

	"github.com/lorafuota/lorafuota/applayer"
)

// These tests hold our codec against brocaar/lorawan's v1 codec
// (applayer/multicastsetup), which the ecosystem's servers use, where it is
// right, and show where it is not (PROTOCOLS §6.1).

func broMask(m uint8) (b [4]bool) {
	for i := range b {
		b[i] = m&(1<<i) != 0
	}
	return b
}

// TestBrocaarEncodeV1 checks that for every v1 command our bytes equal
// brocaar's.
func TestBrocaarEncodeV1(t *testing.T) {
	type pair struct {
		name string
		ours applayer.Command
		bro  multicastsetup.Command
	}
	addr := lorawan.DevAddr{0x26, 0x01, 0x1b, 0xda}
	tts := uint32(0xabcdef)
	pairs := []pair{
		{"McGroupStatusReq", &McGroupStatusReq{ReqGroupMask: 0x0d},
			multicastsetup.Command{CID: multicastsetup.McGroupStatusReq, Payload: &multicastsetup.McGroupStatusReqPayload{
				CmdMask: multicastsetup.McGroupStatusReqPayloadCmdMask{RegGroupMask: broMask(0x0d)}}}},
		{"McGroupStatusAns", &McGroupStatusAns{AnsGroupMask: 0x09, NbTotalGroups: 3, Groups: []McGroupStatus{{0, addr}, {3, lorawan.DevAddr{1, 2, 3, 4}}}},
			multicastsetup.Command{CID: multicastsetup.McGroupStatusAns, Payload: &multicastsetup.McGroupStatusAnsPayload{
				Status: multicastsetup.McGroupStatusAnsPayloadStatus{NbTotalGroups: 3, AnsGroupMask: broMask(0x09)},
				Items:  []multicastsetup.McGroupStatusAnsPayloadItem{{McGroupID: 0, McAddr: addr}, {McGroupID: 3, McAddr: lorawan.DevAddr{1, 2, 3, 4}}}}}},
		{"McGroupSetupReq", &McGroupSetupReq{McGroupID: 1, McAddr: addr, McKeyEncrypted: applayer.Bytes16{0: 0xa5, 15: 0x5a}, MinMcFCnt: 7, MaxMcFCnt: 0xfffffffe},
			multicastsetup.Command{CID: multicastsetup.McGroupSetupReq, Payload: &multicastsetup.McGroupSetupReqPayload{
				McGroupIDHeader: multicastsetup.McGroupSetupReqPayloadMcGroupIDHeader{McGroupID: 1},
				McAddr:          addr, McKeyEncrypted: [16]byte{0: 0xa5, 15: 0x5a}, MinMcFCnt: 7, MaxMcFCnt: 0xfffffffe}}},
		{"McGroupSetupAns", &McGroupSetupAns{McGroupID: 2, IDError: true},
			multicastsetup.Command{CID: multicastsetup.McGroupSetupAns, Payload: &multicastsetup.McGroupSetupAnsPayload{
				McGroupIDHeader: multicastsetup.McGroupSetupAnsPayloadMcGroupIDHeader{McGroupID: 2, IDError: true}}}},
		{"McGroupDeleteReq", &McGroupDeleteReq{McGroupID: 3},
			multicastsetup.Command{CID: multicastsetup.McGroupDeleteReq, Payload: &multicastsetup.McGroupDeleteReqPayload{
				McGroupIDHeader: multicastsetup.McGroupDeleteReqPayloadMcGroupIDHeader{McGroupID: 3}}}},
		{"McGroupDeleteAns", &McGroupDeleteAns{McGroupID: 3, McGroupUndefined: true},
			multicastsetup.Command{CID: multicastsetup.McGroupDeleteAns, Payload: &multicastsetup.McGroupDeleteAnsPayload{
				McGroupIDHeader: multicastsetup.McGroupDeleteAnsPayloadMcGroupIDHeader{McGroupID: 3, McGroupUndefined: true}}}},
		{"McClassCSessionAns accepted", &McClassCSessionAns{SessionAns{Version: 1, McGroupID: 1, TimeToStart: &tts}},
			multicastsetup.Command{CID: multicastsetup.McClassCSessionAns, Payload: &multicastsetup.McClassCSessionAnsPayload{
				StatusAndMcGroupID: multicastsetup.McClassCSessionAnsPayloadStatusAndMcGroupID{McGroupID: 1}, TimeToStart: &tts}}},
		{"McClassCSessionAns FreqError", &McClassCSessionAns{SessionAns{Version: 1, McGroupID: 2, FreqError: true}},
			multicastsetup.Command{CID: multicastsetup.McClassCSessionAns, Payload: &multicastsetup.McClassCSessionAnsPayload{
				StatusAndMcGroupID: multicastsetup.McClassCSessionAnsPayloadStatusAndMcGroupID{McGroupID: 2, FreqError: true}}}},
		{"McClassBSessionAns LMN undefined", &McClassBSessionAns{SessionAns{Version: 1, McGroupID: 0, DRError: true, FreqError: true, McGroupUndefined: true}},
			multicastsetup.Command{CID: multicastsetup.McClassBSessionAns, Payload: &multicastsetup.McClassBSessionAnsPayload{
				StatusAndMcGroupID: multicastsetup.McClassBSessionAnsPayloadStatusAndMcGroupID{DRError: true, FreqError: true, McGroupUndefined: true}}}},
		{"McClassBSessionAns accepted", &McClassBSessionAns{SessionAns{Version: 1, McGroupID: 3, TimeToStart: &tts}},
			multicastsetup.Command{CID: multicastsetup.McClassBSessionAns, Payload: &multicastsetup.McClassBSessionAnsPayload{
				StatusAndMcGroupID: multicastsetup.McClassBSessionAnsPayloadStatusAndMcGroupID{McGroupID: 3}, TimeToStart: &tts}}},
		{"PackageVersionAns", &applayer.PackageVersionAns{PackageIdentifier: PackageID, PackageVersion: 1},
			multicastsetup.Command{CID: multicastsetup.PackageVersionAns, Payload: &multicastsetup.PackageVersionAnsPayload{PackageIdentifier: 2, PackageVersion: 1}}},
		{"PackageVersionReq", &applayer.PackageVersionReq{}, multicastsetup.Command{CID: multicastsetup.PackageVersionReq}},
	}
	// Session requests over every TimeOut, Periodicity and a spread of
	// frequencies, data rates and group IDs.
	freqs := []uint32{0, 100, 433175000, 868100000, 869525000, 923300000, MaxDLFrequency}
	for to := uint8(0); to <= MaxTimeOut; to++ {
		f, dr, id, st := freqs[int(to)%len(freqs)], to%8, to%4, uint32(to)*0x01020305
		pairs = append(pairs, pair{fmt.Sprintf("McClassCSessionReq TimeOut %d", to),
			&McClassCSessionReq{McGroupID: id, SessionTime: st, TimeOut: to, DLFrequency: f, DR: dr},
			multicastsetup.Command{CID: multicastsetup.McClassCSessionReq, Payload: &multicastsetup.McClassCSessionReqPayload{
				McGroupIDHeader: multicastsetup.McClassCSessionReqPayloadMcGroupIDHeader{McGroupID: id},
				SessionTime:     st,
				SessionTimeOut:  multicastsetup.McClassCSessionReqPayloadSessionTimeOut{TimeOut: to},
				DLFrequency:     f, DR: dr}}})
		for p := uint8(0); p <= MaxPeriodicity; p++ {
			pairs = append(pairs, pair{fmt.Sprintf("McClassBSessionReq TimeOut %d Periodicity %d", to, p),
				&McClassBSessionReq{Version: 1, McGroupID: id, SessionTime: st, TimeOut: to, Periodicity: p, DLFrequency: f, DR: dr},
				multicastsetup.Command{CID: multicastsetup.McClassBSessionReq, Payload: &multicastsetup.McClassBSessionReqPayload{
					McGroupIDHeader:    multicastsetup.McClassBSessionReqPayloadMcGroupIDHeader{McGroupID: id},
					SessionTime:        st,
					TimeOutPeriodicity: multicastsetup.McClassBSessionReqPayloadTimeOutPeriodicity{TimeOut: to, Periodicity: p},
					DLFrequency:        f, DR: dr}}})
		}
	}
	for _, p := range pairs {
		ours, err := p.ours.MarshalBinary()
		if err != nil {
			t.Errorf("%s: ours: %v", p.name, err)
			continue
		}
		bro, err := p.bro.MarshalBinary()
		if err != nil {
			t.Errorf("%s: brocaar: %v", p.name, err)
			continue
		}
		if !bytes.Equal(ours, bro) {
			t.Errorf("%s: ours %x, brocaar %x", p.name, ours, bro)
		}
	}
}

// TestBrocaarClassBTimeOutDefect shows why McClassBSessionReq is decoded here and
// not by brocaar/lorawan: it masks TimeOut with 0x1f, so bit 4, the lowest bit
// of Periodicity, leaks into it. Byte 0x35 is TimeOut 5, Periodicity 3.
func TestBrocaarClassBTimeOutDefect(t *testing.T) {
	frame := []byte{CIDMcClassBSession, 0x01, 0x80, 0xc3, 0xbc, 0x52, 0x35, 0xd2, 0xad, 0x84, 0x03}

	var ours McClassBSessionReq
	ours.Version = 1
	if err := ours.UnmarshalBinary(frame); err != nil {
		t.Fatal(err)
	}
	if ours.TimeOut != 5 || ours.Periodicity != 3 {
		t.Errorf("ours: TimeOut %d, Periodicity %d; want 5, 3", ours.TimeOut, ours.Periodicity)
	}

	var bro multicastsetup.Commands
	if err := bro.UnmarshalBinary(false, frame); err != nil {
		t.Fatal(err)
	}
	tp := bro[0].Payload.(*multicastsetup.McClassBSessionReqPayload).TimeOutPeriodicity
	if tp.TimeOut != 21 || tp.Periodicity != 3 {
		t.Errorf("brocaar: TimeOut %d, Periodicity %d; the defect this test documents reads TimeOut 21", tp.TimeOut, tp.Periodicity)
	}

	// Every byte 5: the two agree exactly when bit 4 (Periodicity's low bit) is clear.
	for b5 := 0; b5 < 256; b5++ {
		frame[6] = byte(b5)
		if err := ours.UnmarshalBinary(frame); err != nil {
			t.Fatal(err)
		}
		var bro multicastsetup.Commands
		if err := bro.UnmarshalBinary(false, frame); err != nil {
			t.Fatal(err)
		}
		tp := bro[0].Payload.(*multicastsetup.McClassBSessionReqPayload).TimeOutPeriodicity
		if (tp.TimeOut == ours.TimeOut) != (b5&0x10 == 0) || tp.Periodicity != ours.Periodicity {
			t.Errorf("byte 0x%02x: ours TimeOut %d Periodicity %d, brocaar %d %d", b5, ours.TimeOut, ours.Periodicity, tp.TimeOut, tp.Periodicity)
		}
	}
}

// TestBrocaarStartMissed shows the v2 answer brocaar/lorawan (v1 only) and
// ChirpStack's v2 decoder misread: a 1-byte StartMissed answer followed by
// another command. They test only bits 2..4 before reading TimeToStart, so they
// take the next command's bytes for it.
func TestBrocaarStartMissed(t *testing.T) {
	frame := []byte{CIDMcClassCSession, 0x21, CIDMcClassCSession, 0x00, 0x10, 0x0e, 0x00}

	cmds, err := DecodeFrame(frame, applayer.Uplink, 2)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("DecodeFrame = %v, %v", cmds, err)
	}
	if a := cmds[0].(*McClassCSessionAns); !a.StartMissed || a.TimeToStart != nil {
		t.Errorf("first answer %+v, want StartMissed without TimeToStart", a.SessionAns)
	}
	if a := cmds[1].(*McClassCSessionAns); a.TimeToStart == nil || *a.TimeToStart != 3600 {
		t.Errorf("second answer %+v, want TimeToStart 3600", a.SessionAns)
	}

	var bro multicastsetup.Commands
	err = bro.UnmarshalBinary(true, frame)
	if err == nil && len(bro) > 0 {
		if p := bro[0].Payload.(*multicastsetup.McClassCSessionAnsPayload); p.TimeToStart == nil {
			t.Errorf("brocaar now reads the StartMissed answer right (%+v): update PROTOCOLS §6.1", p)
		}
	}
}

// TestBrocaarDecodeV1 decodes the v1 vectors with both codecs and checks that
// brocaar's reading re-encodes to the same bytes. The one vector with an RFU
// status bit set is expected to fail in brocaar, which then wants a TimeToStart.
func TestBrocaarDecodeV1(t *testing.T) {
	for _, v := range vectors() {
		if v.Version != 1 {
			continue
		}
		frame := applayertest.MustHex(t, v.Hex)
		var bro multicastsetup.Commands
		err := bro.UnmarshalBinary(v.Dir == applayer.Uplink, frame)
		if rfu := v.Dir == applayer.Uplink && frame[0] >= CIDMcClassCSession && frame[1]&0xe0 != 0; rfu != (err != nil) {
			t.Errorf("%s: brocaar: %v", v.Name, err)
		}
		if err != nil {
			continue
		}
		if len(bro) != len(v.Cmds) {
			t.Errorf("%s: brocaar finds %d commands, want %d", v.Name, len(bro), len(v.Cmds))
			continue
		}
		for i, c := range v.Cmds {
			b, err := bro[i].MarshalBinary()
			ours, _ := c.MarshalBinary()
			if err != nil || !bytes.Equal(b, ours) {
				t.Errorf("%s: command %d: brocaar re-encodes %x, %v; ours %x", v.Name, i, b, err, ours)
			}
		}
	}
}
