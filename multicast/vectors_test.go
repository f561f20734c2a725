package multicast

import (
	"fmt"
	"testing"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/applayer/applayertest"
)

const (
	up   = applayer.Uplink
	down = applayer.Downlink
	// gps2024 is 2024-01-01T00:00:00Z in GPS seconds (18 leap seconds).
	gps2024 = 1388102418
	// gps2024B is the first beacon boundary after it.
	gps2024B = 1388102528
)

// vectors returns the wire vectors of PROTOCOLS.md §2 (and the BRO test vectors
// they cite) as frames with the commands they hold, for both versions where the
// bytes mean the same in both.
func vectors() []applayertest.Vector {
	var vs []applayertest.Vector
	both := func(name string, dir applayer.Direction, hex string, cmds func(v uint8) []applayer.Command) {
		for _, v := range []uint8{1, 2} {
			vs = append(vs, applayertest.Vector{Name: fmt.Sprintf("%s/v%d", name, v), Dir: dir, Version: v, Hex: hex, Cmds: cmds(v)})
		}
	}
	one := func(name string, dir applayer.Direction, v uint8, hex string, cmds ...applayer.Command) {
		vs = append(vs, applayertest.Vector{Name: name, Dir: dir, Version: v, Hex: hex, Cmds: cmds})
	}
	same := func(cmds ...applayer.Command) func(uint8) []applayer.Command {
		return func(uint8) []applayer.Command { return cmds }
	}
	setupBRO := &McGroupSetupReq{
		McGroupID:      2,
		McAddr:         lorawan.DevAddr{0x01, 0x02, 0x03, 0x04},
		McKeyEncrypted: applayer.Bytes16{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8},
		MinMcFCnt:      100,
		MaxMcFCnt:      200,
	}
	classC869 := &McClassCSessionReq{McGroupID: 0, SessionTime: gps2024, TimeOut: 12, DLFrequency: 869525000, DR: 0}
	acceptedC := func(v uint8) *McClassCSessionAns {
		return &McClassCSessionAns{SessionAns{Version: v, TimeToStart: new(uint32(3600))}}
	}

	// Downlink.
	both("PackageVersionReq", down, "00", same(&applayer.PackageVersionReq{}))
	both("McGroupStatusReq", down, "010a", same(&McGroupStatusReq{ReqGroupMask: 0x0a}))
	both("McGroupSetupReq/BRO", down, "0202040302010102030405060708010203040506070864000000c8000000", same(setupBRO))
	both("McGroupSetupReq/full counter range", down,
		"0203"+"785634fe"+"3437d6e231d702419b51b4947271b611"+"00000000"+"ffffffff",
		same(&McGroupSetupReq{
			McGroupID:      3,
			McAddr:         lorawan.DevAddr{0xfe, 0x34, 0x56, 0x78},
			McKeyEncrypted: applayer.Bytes16{0x34, 0x37, 0xd6, 0xe2, 0x31, 0xd7, 0x02, 0x41, 0x9b, 0x51, 0xb4, 0x94, 0x72, 0x71, 0xb6, 0x11},
			MaxMcFCnt:      0xffffffff,
		}))
	both("McGroupDeleteReq", down, "0303", same(&McGroupDeleteReq{McGroupID: 3}))
	both("McClassCSessionReq/BRO 868.1 MHz", down, "04030102040808287684"+"04",
		same(&McClassCSessionReq{McGroupID: 3, SessionTime: 0x08040201, TimeOut: 8, DLFrequency: 868100000, DR: 4}))
	both("McClassCSessionReq/869.525 MHz", down, "0400"+"12c3bc52"+"0c"+"d2ad84"+"00", same(classC869))
	both("McClassCSessionReq/max frequency", down, "0401"+"00000000"+"0f"+"ffffff"+"0f",
		same(&McClassCSessionReq{McGroupID: 1, TimeOut: 15, DLFrequency: MaxDLFrequency, DR: 15}))
	// BRO's class B vector starts off the beacon grid, which v2 forbids.
	one("McClassBSessionReq/BRO/v1", down, 1, "05030102040848287684"+"05",
		&McClassBSessionReq{Version: 1, McGroupID: 3, SessionTime: 0x08040201, TimeOut: 8, Periodicity: 4, DLFrequency: 868100000, DR: 5})
	both("McClassBSessionReq/TimeOut 5 Periodicity 3", down, "0501"+"80c3bc52"+"35"+"d2ad84"+"03",
		func(v uint8) []applayer.Command {
			return []applayer.Command{&McClassBSessionReq{Version: v, McGroupID: 1, SessionTime: gps2024B, TimeOut: 5, Periodicity: 3, DLFrequency: 869525000, DR: 3}}
		})
	one("McClassBSessionReq/default hopping/v2", down, 2, "0502"+"80c3bc52"+"77"+"000000"+"08",
		&McClassBSessionReq{Version: 2, McGroupID: 2, SessionTime: gps2024B, TimeOut: 7, Periodicity: 7, DR: 8})
	both("multi/version, status", down, "00"+"010f", same(&applayer.PackageVersionReq{}, &McGroupStatusReq{ReqGroupMask: 0x0f}))
	both("multi/setup, class C, delete", down,
		"0202040302010102030405060708010203040506070864000000c8000000"+"0400"+"12c3bc52"+"0c"+"d2ad84"+"00"+"0302",
		same(setupBRO, classC869, &McGroupDeleteReq{McGroupID: 2}))

	// Uplink.
	one("PackageVersionAns/v1", up, 1, "000201", &applayer.PackageVersionAns{PackageIdentifier: PackageID, PackageVersion: 1})
	one("PackageVersionAns/v2", up, 2, "000202", &applayer.PackageVersionAns{PackageIdentifier: PackageID, PackageVersion: 2})
	both("McGroupStatusAns/none", up, "0100", same(&McGroupStatusAns{}))
	both("McGroupStatusAns/groups 2 and 3", up, "014c"+"0201020304"+"0304030201",
		same(&McGroupStatusAns{AnsGroupMask: 0x0c, NbTotalGroups: 4, Groups: []McGroupStatus{
			{McGroupID: 2, McAddr: lorawan.DevAddr{0x04, 0x03, 0x02, 0x01}},
			{McGroupID: 3, McAddr: lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}},
		}}))
	both("McGroupStatusAns/all four", up, "014f"+"0001000000"+"0102000000"+"0203000000"+"03ffffffff",
		same(&McGroupStatusAns{AnsGroupMask: 0x0f, NbTotalGroups: 4, Groups: []McGroupStatus{
			{McGroupID: 0, McAddr: lorawan.DevAddr{0, 0, 0, 1}},
			{McGroupID: 1, McAddr: lorawan.DevAddr{0, 0, 0, 2}},
			{McGroupID: 2, McAddr: lorawan.DevAddr{0, 0, 0, 3}},
			{McGroupID: 3, McAddr: lorawan.DevAddr{0xff, 0xff, 0xff, 0xff}},
		}}))
	both("McGroupSetupAns/ok", up, "0202", same(&McGroupSetupAns{McGroupID: 2}))
	both("McGroupSetupAns/IDError BRO", up, "0207", same(&McGroupSetupAns{McGroupID: 3, IDError: true}))
	both("McGroupDeleteAns/ok", up, "0303", same(&McGroupDeleteAns{McGroupID: 3}))
	both("McGroupDeleteAns/undefined BRO", up, "0305", same(&McGroupDeleteAns{McGroupID: 1, McGroupUndefined: true}))
	both("McClassCSessionAns/accepted BRO", up, "0403010204", func(v uint8) []applayer.Command {
		return []applayer.Command{&McClassCSessionAns{SessionAns{Version: v, McGroupID: 3, TimeToStart: new(uint32(0x040201))}}}
	})
	both("McClassCSessionAns/accepted 1 h", up, "0400100e00", func(v uint8) []applayer.Command {
		return []applayer.Command{acceptedC(v)}
	})
	// LMN answers 0x1C|id for an undefined group; BRO's vector is the same byte.
	both("McClassCSessionAns/LMN undefined group", up, "041f", func(v uint8) []applayer.Command {
		return []applayer.Command{&McClassCSessionAns{SessionAns{Version: v, McGroupID: 3, DRError: true, FreqError: true, McGroupUndefined: true}}}
	})
	both("McClassCSessionAns/FreqError", up, "0409", func(v uint8) []applayer.Command {
		return []applayer.Command{&McClassCSessionAns{SessionAns{Version: v, McGroupID: 1, FreqError: true}}}
	})
	one("McClassCSessionAns/StartMissed/v2", up, 2, "0421",
		&McClassCSessionAns{SessionAns{Version: 2, McGroupID: 1, StartMissed: true}})
	one("McClassCSessionAns/bit 5 RFU/v1", up, 1, "0421",
		&McClassCSessionAns{SessionAns{Version: 1, McGroupID: 1, UnknownErrors: 0x20}})
	one("McClassCSessionAns/reserved error bits/v2", up, 2, "04c2",
		&McClassCSessionAns{SessionAns{Version: 2, McGroupID: 2, UnknownErrors: 0xc0}})
	one("McClassCSessionAns/saturated TimeToStart/v2", up, 2, "0400ffffff",
		&McClassCSessionAns{SessionAns{Version: 2, TimeToStart: new(uint32(MaxTimeToStart))}})
	// CS's v2 decoder would read "04 00 10" as the StartMissed answer's TimeToStart.
	one("multi/StartMissed then accepted/v2", up, 2, "0421"+"0400100e00",
		&McClassCSessionAns{SessionAns{Version: 2, McGroupID: 1, StartMissed: true}}, acceptedC(2))
	both("multi/class B BRO", up, "0503010204"+"051f", func(v uint8) []applayer.Command {
		return []applayer.Command{
			&McClassBSessionAns{SessionAns{Version: v, McGroupID: 3, TimeToStart: new(uint32(0x040201))}},
			&McClassBSessionAns{SessionAns{Version: v, McGroupID: 3, DRError: true, FreqError: true, McGroupUndefined: true}},
		}
	})
	both("multi/version, setup, class C", up, "000202"+"0200"+"0400100e00", func(v uint8) []applayer.Command {
		return []applayer.Command{&applayer.PackageVersionAns{PackageIdentifier: PackageID, PackageVersion: 2},
			&McGroupSetupAns{}, acceptedC(v)}
	})
	return vs
}

func TestVectors(t *testing.T) {
	applayertest.RunVectors(t, Package(), vectors())
}
