package simulator

import (
	"crypto/aes"
	"encoding/binary"
	"math/rand/v2"

	"github.com/brocaar/lorawan"
)

// joinFields are the values of a join that session keys derive from.
type joinFields struct {
	joinNonce uint32
	netID     lorawan.NetID
	joinEUI   lorawan.EUI64
	devNonce  uint16
}

// abpJoin is the join an ABP device of a scenario is activated as if it
// had made, so that no join traffic is needed: JoinNonce 1, DevNonce 1,
// NetID 000000 (the experimental/private type 0) and JoinEUI 0.
var abpJoin = joinFields{joinNonce: 1, devNonce: 1}

// sessionKeys are a device's session keys. For LoRaWAN 1.0.x the three
// network keys are the one NwkSKey.
type sessionKeys struct {
	FNwkSIntKey, SNwkSIntKey, NwkSEncKey, AppSKey lorawan.AES128Key
}

// deriveSession10 derives 1.0.x session keys from the AppKey (LoRaWAN
// 1.0.4 §6.2.5): NwkSKey = aes128(AppKey, 0x01|JoinNonce|NetID|DevNonce|pad16)
// and AppSKey likewise with 0x02.
func deriveSession10(appKey lorawan.AES128Key, j joinFields) sessionKeys {
	block := func(typ byte) lorawan.AES128Key {
		var b [16]byte
		b[0] = typ
		putUint24(b[1:4], j.joinNonce)
		// NetID goes least significant byte first, as on the air.
		b[4], b[5], b[6] = j.netID[2], j.netID[1], j.netID[0]
		binary.LittleEndian.PutUint16(b[7:9], j.devNonce)
		return encryptBlock(appKey, b)
	}
	nwk := block(0x01)
	return sessionKeys{FNwkSIntKey: nwk, SNwkSIntKey: nwk, NwkSEncKey: nwk, AppSKey: block(0x02)}
}

// deriveSession11 derives 1.1 session keys (LoRaWAN 1.1 §6.2.2): the
// network keys from NwkKey (0x01 FNwkSIntKey, 0x03 SNwkSIntKey, 0x04
// NwkSEncKey) and AppSKey from AppKey (0x02), each
// aes128(key, type|JoinNonce|JoinEUI|DevNonce|pad16).
func deriveSession11(nwkKey, appKey lorawan.AES128Key, j joinFields) sessionKeys {
	block := func(key lorawan.AES128Key, typ byte) lorawan.AES128Key {
		var b [16]byte
		b[0] = typ
		putUint24(b[1:4], j.joinNonce)
		putEUI(b[4:12], j.joinEUI)
		binary.LittleEndian.PutUint16(b[12:14], j.devNonce)
		return encryptBlock(key, b)
	}
	return sessionKeys{
		FNwkSIntKey: block(nwkKey, 0x01),
		SNwkSIntKey: block(nwkKey, 0x03),
		NwkSEncKey:  block(nwkKey, 0x04),
		AppSKey:     block(appKey, 0x02),
	}
}

// deriveSession derives the session keys of a join of a device of either
// MAC version.
func deriveSession(mac11 bool, nwkKey, appKey lorawan.AES128Key, j joinFields) sessionKeys {
	if mac11 {
		return deriveSession11(nwkKey, appKey, j)
	}
	return deriveSession10(appKey, j)
}

// joinSIntKey is the 1.1 JSIntKey, aes128(NwkKey, 0x06|DevEUI|pad16), the
// key of the join accept's MIC (LoRaWAN 1.1 §6.2.1.1).
func joinSIntKey(nwkKey lorawan.AES128Key, devEUI lorawan.EUI64) lorawan.AES128Key {
	var b [16]byte
	b[0] = 0x06
	putEUI(b[1:9], devEUI)
	return encryptBlock(nwkKey, b)
}

// joinKeys returns the keys of a JoinRequest's MIC, of its JoinAccept's MIC
// and of the JoinAccept's encryption: NwkKey, JSIntKey and NwkKey for 1.1;
// the AppKey for all three in 1.0.x.
func joinKeys(mac11 bool, nwkKey, appKey lorawan.AES128Key, devEUI lorawan.EUI64) (reqMIC, acceptMIC, acceptEnc lorawan.AES128Key) {
	if mac11 {
		return nwkKey, joinSIntKey(nwkKey, devEUI), nwkKey
	}
	return appKey, appKey, appKey
}

// putEUI writes an EUI least significant byte first, as on the air.
func putEUI(b []byte, e lorawan.EUI64) {
	for i := range 8 {
		b[i] = e[7-i]
	}
}

func putUint24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }

func encryptBlock(key lorawan.AES128Key, in [16]byte) lorawan.AES128Key {
	c, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 16-byte key never fails
	}
	var out lorawan.AES128Key
	c.Encrypt(out[:], in[:])
	return out
}

// randomKey draws a key from r.
func randomKey(r *rand.Rand) lorawan.AES128Key {
	var k lorawan.AES128Key
	binary.BigEndian.PutUint64(k[:8], r.Uint64())
	binary.BigEndian.PutUint64(k[8:], r.Uint64())
	return k
}

// fullFCnt returns the 32-bit frame counter whose low 16 bits are f16 and
// that is closest at or after next, as a receiver rebuilds it.
func fullFCnt(next uint32, f16 uint16) uint32 {
	c := next&^0xffff | uint32(f16)
	if c < next {
		c += 1 << 16
	}
	return c
}
