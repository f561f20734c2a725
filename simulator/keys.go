package simulator

import (
	"crypto/aes"
	"encoding/binary"
	"math/rand/v2"

	"github.com/brocaar/lorawan"
)

// Devices are activated at start as if each had just joined, so that no
// join traffic is needed: the session keys are what a LoRaWAN join accept
// with these fixed fields would derive (LoRaWAN 1.0.4 §6.2.5, 1.1 §6.2.2).
const (
	sessionJoinNonce = 1
	sessionDevNonce  = 1
)

// sessionNetID is the NetID the 1.0.x derivation uses: 000000, the
// experimental/private type 0 NetID.
var sessionNetID = lorawan.NetID{0, 0, 0}

// sessionKeys are a device's session keys. For LoRaWAN 1.0.x the three
// network keys are the one NwkSKey.
type sessionKeys struct {
	FNwkSIntKey, SNwkSIntKey, NwkSEncKey, AppSKey lorawan.AES128Key
}

// deriveSession10 derives 1.0.x session keys from the AppKey:
// NwkSKey = aes128(AppKey, 0x01|JoinNonce|NetID|DevNonce|pad16) and
// AppSKey likewise with 0x02.
func deriveSession10(appKey lorawan.AES128Key) sessionKeys {
	block := func(typ byte) lorawan.AES128Key {
		var b [16]byte
		b[0] = typ
		putUint24(b[1:4], sessionJoinNonce)
		// NetID goes least significant byte first, as on the air.
		b[4], b[5], b[6] = sessionNetID[2], sessionNetID[1], sessionNetID[0]
		binary.LittleEndian.PutUint16(b[7:9], sessionDevNonce)
		return encryptBlock(appKey, b)
	}
	nwk := block(0x01)
	return sessionKeys{FNwkSIntKey: nwk, SNwkSIntKey: nwk, NwkSEncKey: nwk, AppSKey: block(0x02)}
}

// deriveSession11 derives 1.1 session keys: the network keys from NwkKey
// (0x01 FNwkSIntKey, 0x03 SNwkSIntKey, 0x04 NwkSEncKey) and AppSKey from
// AppKey (0x02), each aes128(key, type|JoinNonce|JoinEUI|DevNonce|pad16).
func deriveSession11(nwkKey, appKey lorawan.AES128Key, joinEUI lorawan.EUI64) sessionKeys {
	block := func(key lorawan.AES128Key, typ byte) lorawan.AES128Key {
		var b [16]byte
		b[0] = typ
		putUint24(b[1:4], sessionJoinNonce)
		for i := range 8 {
			b[4+i] = joinEUI[7-i]
		}
		binary.LittleEndian.PutUint16(b[12:14], sessionDevNonce)
		return encryptBlock(key, b)
	}
	return sessionKeys{
		FNwkSIntKey: block(nwkKey, 0x01),
		SNwkSIntKey: block(nwkKey, 0x03),
		NwkSEncKey:  block(nwkKey, 0x04),
		AppSKey:     block(appKey, 0x02),
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
