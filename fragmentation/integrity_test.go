package fragmentation_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/fragmentation"
)

// The vector of PROTOCOLS.md §1.8: AppKey 01..10, block 0x00..0x63, SessionCnt 1,
// FragIndex 0, Descriptor 01020304.
var (
	integrityRootKey = lorawan.AES128Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	integrityDesc    = applayer.Bytes4{1, 2, 3, 4}
)

func integrityBlock() []byte {
	b := make([]byte, 100)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestIntegrityVector(t *testing.T) {
	key := fragmentation.DataBlockIntKey(integrityRootKey)
	if got := hex.EncodeToString(key[:]); got != "a5204bd14b90693f529ac8b7fd80b0c0" {
		t.Errorf("DataBlockIntKey = %s", got)
	}
	b0 := fragmentation.B0(1, 0, integrityDesc, 100)
	if got := hex.EncodeToString(b0[:]); got != "49010000010203040000000064000000" {
		t.Errorf("B0 = %s", got)
	}
	mic, err := fragmentation.DataBlockMIC(key, 1, 0, integrityDesc, integrityBlock())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(mic[:]); got != "24376036" {
		t.Errorf("MIC = %s, want 24376036", got)
	}
}

func TestIntegrityB0Fields(t *testing.T) {
	b0 := fragmentation.B0(0xbeef, 3, applayer.Bytes4{0xde, 0xad, 0xc0, 0xde}, 0x01020304)
	if got := hex.EncodeToString(b0[:]); got != "49efbe03deadc0de0000000004030201" {
		t.Errorf("B0 = %s", got)
	}
}

func TestIntegritySetupMIC(t *testing.T) {
	key := fragmentation.DataBlockIntKey(integrityRootKey)
	block := integrityBlock()
	// 100 bytes as 10 fragments of 11 bytes with 10 bytes of padding.
	setup := &fragmentation.FragSessionSetupReq{Version: 2, NbFrag: 10, FragSize: 11, Padding: 10,
		SessionCnt: 1, Descriptor: integrityDesc}
	if err := setup.SetMIC(key, block); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(setup.MIC[:]); got != "24376036" {
		t.Errorf("SetMIC gave %s, want 24376036", got)
	}
	if err := setup.VerifyMIC(key, block); err != nil {
		t.Errorf("VerifyMIC: %v", err)
	}
	// The MIC goes out as the last four bytes of the setup.
	b, err := setup.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b[len(b)-4:]); got != "24376036" {
		t.Errorf("setup ends with %s", got)
	}

	// Any change the MIC covers is detected.
	tampered := append([]byte(nil), block...)
	tampered[99] ^= 1
	for name, f := range map[string]func() error{
		"block":      func() error { return setup.VerifyMIC(key, tampered) },
		"key":        func() error { return setup.VerifyMIC(fragmentation.DataBlockIntKey(lorawan.AES128Key{}), block) },
		"root key":   func() error { return setup.VerifyMIC(integrityRootKey, block) },
		"SessionCnt": func() error { s := *setup; s.SessionCnt++; return s.VerifyMIC(key, block) },
		"FragIndex":  func() error { s := *setup; s.FragIndex = 1; return s.VerifyMIC(key, block) },
		"Descriptor": func() error { s := *setup; s.Descriptor[0] = 9; return s.VerifyMIC(key, block) },
	} {
		if err := f(); !errors.Is(err, fragmentation.ErrDataBlockMIC) {
			t.Errorf("%s changed: VerifyMIC = %v, want ErrDataBlockMIC", name, err)
		}
	}
}

func TestIntegritySetupMICRefuses(t *testing.T) {
	key := fragmentation.DataBlockIntKey(integrityRootKey)
	block := integrityBlock()
	tests := []struct {
		name  string
		setup fragmentation.FragSessionSetupReq
		block []byte
	}{
		{"version 1", fragmentation.FragSessionSetupReq{Version: 1, NbFrag: 10, FragSize: 10}, block},
		{"length mismatch", fragmentation.FragSessionSetupReq{Version: 2, NbFrag: 10, FragSize: 10, Padding: 1}, block},
		{"padded block", fragmentation.FragSessionSetupReq{Version: 2, NbFrag: 10, FragSize: 11, Padding: 10}, append(block, make([]byte, 10)...)},
		{"invalid setup", fragmentation.FragSessionSetupReq{Version: 2, NbFrag: 10, FragSize: 10, FragIndex: 4}, block},
	}
	for _, tt := range tests {
		s := tt.setup
		if err := s.SetMIC(key, tt.block); err == nil {
			t.Errorf("%s: SetMIC succeeded", tt.name)
		}
		if s.MIC != (applayer.Bytes4{}) {
			t.Errorf("%s: SetMIC set the MIC despite failing", tt.name)
		}
		if err := s.VerifyMIC(key, tt.block); err == nil || errors.Is(err, fragmentation.ErrDataBlockMIC) {
			t.Errorf("%s: VerifyMIC = %v, want a parameter error", tt.name, err)
		}
	}
	if _, err := fragmentation.DataBlockMIC(key, 1, 4, integrityDesc, block); err == nil {
		t.Error("DataBlockMIC accepted FragIndex 4")
	}
	if _, err := fragmentation.DataBlockMIC(key, 1, 0, integrityDesc, make([]byte, 16383*255+1)); err == nil {
		t.Error("DataBlockMIC accepted a block longer than a session can carry")
	}
}
