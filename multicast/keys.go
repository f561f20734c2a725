package multicast

import (
	"crypto/aes"
	"crypto/cipher"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
)

// The TS005 key hierarchy (PROTOCOLS §2.6): a root key from the device's own
// key, a key-encryption key from it, McKey sent to the device encrypted under
// that, and the group's session keys from McKey and McAddr. Every step is one
// AES-128 block operation on a zero-padded block; a 16-byte key cannot make
// crypto/aes fail, so none of these returns an error.

// McRootKeyFromGenAppKey derives McRootKey for a LoRaWAN 1.0.x device from its
// GenAppKey (not its AppKey, which 1.0.x uses for the join; confusing the two is
// a frequent field failure).
func McRootKeyFromGenAppKey(genAppKey lorawan.AES128Key) lorawan.AES128Key {
	return encryptBlock(genAppKey, [16]byte{0x00})
}

// McRootKeyFromAppKey derives McRootKey for a LoRaWAN 1.1 device from its
// AppKey.
func McRootKeyFromAppKey(appKey lorawan.AES128Key) lorawan.AES128Key {
	return encryptBlock(appKey, [16]byte{0x20})
}

// McKEKey derives the key-encryption key that protects McKey in
// McGroupSetupReq.
func McKEKey(mcRootKey lorawan.AES128Key) lorawan.AES128Key {
	return encryptBlock(mcRootKey, [16]byte{0x00})
}

// EncryptMcKey returns McKey_encrypted for McGroupSetupReq: the AES *decryption*
// of McKey under McKEKey, so that the device, which only has the encryption
// direction, recovers McKey with DecryptMcKey.
func EncryptMcKey(mcKEKey, mcKey lorawan.AES128Key) applayer.Bytes16 {
	var out applayer.Bytes16
	newCipher(mcKEKey).Decrypt(out[:], mcKey[:])
	return out
}

// DecryptMcKey recovers McKey on the device side from McKey_encrypted: the AES
// encryption of it under McKEKey.
func DecryptMcKey(mcKEKey lorawan.AES128Key, encrypted applayer.Bytes16) lorawan.AES128Key {
	return encryptBlock(mcKEKey, encrypted)
}

// McAppSKey derives the group's application session key.
func McAppSKey(mcKey lorawan.AES128Key, mcAddr lorawan.DevAddr) lorawan.AES128Key {
	return encryptBlock(mcKey, addrBlock(0x01, mcAddr))
}

// McNwkSKey derives the group's network session key (brocaar/lorawan calls it
// McNetSKey).
func McNwkSKey(mcKey lorawan.AES128Key, mcAddr lorawan.DevAddr) lorawan.AES128Key {
	return encryptBlock(mcKey, addrBlock(0x02, mcAddr))
}

// addrBlock is prefix ‖ McAddr (little-endian) ‖ zero padding.
func addrBlock(prefix byte, mcAddr lorawan.DevAddr) [16]byte {
	b := [16]byte{prefix}
	putMcAddr(b[1:5], mcAddr)
	return b
}

func encryptBlock(key lorawan.AES128Key, in [16]byte) lorawan.AES128Key {
	var out lorawan.AES128Key
	newCipher(key).Encrypt(out[:], in[:])
	return out
}

func newCipher(key lorawan.AES128Key) cipher.Block {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // unreachable: aes.NewCipher fails only for a key length other than 16, 24 or 32
	}
	return block
}
