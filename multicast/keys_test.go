package multicast

import (
	"encoding/hex"
	"testing"

	"github.com/brocaar/lorawan"
	"github.com/brocaar/lorawan/applayer/multicastsetup"

	"github.com/lorafuota/lorafuota/applayer"
)

func key(t *testing.T, s string) lorawan.AES128Key {
	t.Helper()
	var k lorawan.AES128Key
	if err := k.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("bad key %q: %v", s, err)
	}
	return k
}

// TestKeyVectors checks the vectors of PROTOCOLS §2.6 (BRO keys_test.go = CS
// v2.rs) and, where brocaar/lorawan has the derivation, its result too.
func TestKeyVectors(t *testing.T) {
	var (
		mcAddr    = lorawan.DevAddr{0x01, 0x02, 0x03, 0x04}
		mcKey     = key(t, "0102030405060708090a0b0c0d0e0f10")
		appKey    = key(t, "0202030405060708090a0b0c0d0e0f10")
		genAppKey = key(t, "0302030405060708090a0b0c0d0e0f10")
		mcRootKey = key(t, "0402030405060708090a0b0c0d0e0f10")
	)
	tests := []struct {
		name string
		got  lorawan.AES128Key
		want string
		bro  func() (lorawan.AES128Key, error) // nil where brocaar has no helper
	}{
		{"McRootKey(GenAppKey)", McRootKeyFromGenAppKey(genAppKey), "55344e82570eaec8bf03b99962d1f445",
			func() (lorawan.AES128Key, error) { return multicastsetup.GetMcRootKeyForGenAppKey(genAppKey) }},
		{"McRootKey(AppKey)", McRootKeyFromAppKey(appKey), "264fd859583fcc670241ac071cc9f5bb",
			func() (lorawan.AES128Key, error) { return multicastsetup.GetMcRootKeyForAppKey(appKey) }},
		{"McKEKey", McKEKey(mcRootKey), "9083bebf704257883160dbfcde33ad71",
			func() (lorawan.AES128Key, error) { return multicastsetup.GetMcKEKey(mcRootKey) }},
		{"McAppSKey", McAppSKey(mcKey, mcAddr), "95cb4518ee375606735bbacbdce837fa",
			func() (lorawan.AES128Key, error) { return multicastsetup.GetMcAppSKey(mcKey, mcAddr) }},
		{"McNwkSKey", McNwkSKey(mcKey, mcAddr), "c3f6b388bad6c000b23291ad52c11c7b",
			func() (lorawan.AES128Key, error) { return multicastsetup.GetMcNetSKey(mcKey, mcAddr) }},
		// CS test_encrypt_mc_key: McKEKey 01×16, McKey 02×16.
		{"McKey_encrypted", lorawan.AES128Key(EncryptMcKey(key(t, "01010101010101010101010101010101"), key(t, "02020202020202020202020202020202"))),
			"3437d6e231d702419b51b4947271b611", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(tt.got[:]); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if tt.bro == nil {
				return
			}
			bro, err := tt.bro()
			if err != nil || bro != tt.got {
				t.Errorf("brocaar/lorawan gives %s, %v; we give %s", bro, err, tt.got)
			}
		})
	}
}

// TestMcKeyRoundTrip follows McKey from the server, through McGroupSetupReq on
// the wire, to the device, for both LoRaWAN versions' root keys, and checks that
// both sides derive the same session keys.
func TestMcKeyRoundTrip(t *testing.T) {
	deviceKey := key(t, "2b7e151628aed2a6abf7158809cf4f3c")
	mcAddr := lorawan.DevAddr{0x01, 0x9a, 0xbc, 0xde}
	tests := []struct {
		name    string
		rootKey func(lorawan.AES128Key) lorawan.AES128Key
	}{
		{"LoRaWAN 1.0.x GenAppKey", McRootKeyFromGenAppKey},
		{"LoRaWAN 1.1 AppKey", McRootKeyFromAppKey},
	}
	for _, tt := range tests {
		for _, mcKey := range []lorawan.AES128Key{{}, key(t, "000102030405060708090a0b0c0d0e0f"), key(t, "ffffffffffffffffffffffffffffffff")} {
			// Server side.
			kek := McKEKey(tt.rootKey(deviceKey))
			enc := EncryptMcKey(kek, mcKey)
			if lorawan.AES128Key(enc) == mcKey {
				t.Errorf("%s: McKey %s sent in clear", tt.name, mcKey)
			}
			frame, err := EncodeFrame(&McGroupSetupReq{McGroupID: 1, McAddr: mcAddr, McKeyEncrypted: enc, MaxMcFCnt: 1000})
			if err != nil {
				t.Fatal(err)
			}
			// Device side.
			cmds, err := DecodeFrame(frame, applayer.Downlink, 2)
			if err != nil {
				t.Fatal(err)
			}
			req := cmds[0].(*McGroupSetupReq)
			got := DecryptMcKey(McKEKey(tt.rootKey(deviceKey)), req.McKeyEncrypted)
			if got != mcKey {
				t.Errorf("%s: device recovers McKey %s, want %s", tt.name, got, mcKey)
			}
			if McAppSKey(got, req.McAddr) != McAppSKey(mcKey, mcAddr) || McNwkSKey(got, req.McAddr) != McNwkSKey(mcKey, mcAddr) {
				t.Errorf("%s: session keys differ between server and device", tt.name)
			}
		}
	}
	if McRootKeyFromGenAppKey(deviceKey) == McRootKeyFromAppKey(deviceKey) {
		t.Error("1.0.x and 1.1 root keys coincide")
	}
}
