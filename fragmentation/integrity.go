package fragmentation

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/brocaar/lorawan"
	"github.com/jacobsa/crypto/cmac"

	"github.com/lorafuota/lorafuota/applayer"
)

// ErrDataBlockMIC reports a data block whose MIC differs from the one of its
// FragSessionSetupReq.
var ErrDataBlockMIC = errors.New("fragmentation: data block MIC mismatch")

// maxBlockLen is the largest data block one session can carry:
// MaxFragmentCounter fragments of 255 bytes.
const maxBlockLen = MaxFragmentCounter * maxFragmentPayload

// DataBlockIntKey derives the version 2 data block integrity key from the
// device's root key: AES128_encrypt(RootKey, 0x30 ‖ 0x00×15). The root key is
// GenAppKey for a LoRaWAN 1.0.x device and AppKey for a LoRaWAN 1.1 device, the
// same choice as for the multicast McRootKey (PROTOCOLS.md §1.8). The constant
// 0x30 comes from LoRa Basics Modem, STM32CubeWL and ChirpStack, which agree.
func DataBlockIntKey(rootKey lorawan.AES128Key) lorawan.AES128Key {
	block, err := aes.NewCipher(rootKey[:])
	if err != nil {
		panic(err) // unreachable: the key has 16 bytes
	}
	var in, out lorawan.AES128Key
	in[0] = 0x30
	block.Encrypt(out[:], in[:])
	return out
}

// B0 returns the block the MIC covers before the data block:
// 0x49 ‖ SessionCnt (u16 LE) ‖ FragIndex ‖ Descriptor (wire order) ‖ 0x00×4 ‖
// blockLen (u32 LE), where blockLen excludes the padding.
func B0(sessionCnt uint16, fragIndex uint8, descriptor applayer.Bytes4, blockLen uint32) [16]byte {
	var b [16]byte
	b[0] = 0x49
	binary.LittleEndian.PutUint16(b[1:], sessionCnt)
	b[3] = fragIndex
	copy(b[4:8], descriptor[:])
	binary.LittleEndian.PutUint32(b[12:], blockLen)
	return b
}

// DataBlockMIC returns the version 2 MIC of a data block: the first 4 bytes of
// AES-CMAC(intKey, B0 ‖ block), in CMAC output order. block is the data block
// without padding; intKey comes from DataBlockIntKey.
func DataBlockMIC(intKey lorawan.AES128Key, sessionCnt uint16, fragIndex uint8, descriptor applayer.Bytes4, block []byte) (applayer.Bytes4, error) {
	if err := checkFragIndex("FragSessionSetupReq", fragIndex); err != nil {
		return applayer.Bytes4{}, err
	}
	if len(block) > maxBlockLen {
		return applayer.Bytes4{}, fmt.Errorf("fragmentation: data block of %d bytes, a session carries at most %d", len(block), maxBlockLen)
	}
	h, err := cmac.New(intKey[:])
	if err != nil {
		panic(err) // unreachable: the key has 16 bytes
	}
	b0 := B0(sessionCnt, fragIndex, descriptor, uint32(len(block)))
	h.Write(b0[:])
	h.Write(block)
	return applayer.Bytes4(h.Sum(nil)[:4]), nil
}

// SetMIC computes the MIC of block (the data block without padding) for the
// session c describes and stores it in c.MIC. c must be a valid version 2 setup
// whose NbFrag, FragSize and Padding give len(block); intKey comes from
// DataBlockIntKey. Set SessionCnt, FragIndex and Descriptor first: the MIC covers
// them.
func (c *FragSessionSetupReq) SetMIC(intKey lorawan.AES128Key, block []byte) error {
	mic, err := c.dataBlockMIC(intKey, block)
	if err != nil {
		return err
	}
	c.MIC = mic
	return nil
}

// VerifyMIC checks block against c.MIC as a version 2 device does after
// reconstruction; it returns an error wrapping ErrDataBlockMIC on mismatch.
func (c *FragSessionSetupReq) VerifyMIC(intKey lorawan.AES128Key, block []byte) error {
	mic, err := c.dataBlockMIC(intKey, block)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(mic[:], c.MIC[:]) != 1 {
		return fmt.Errorf("%w: FragIndex %d SessionCnt %d: computed %x, setup carries %x",
			ErrDataBlockMIC, c.FragIndex, c.SessionCnt, mic[:], c.MIC[:])
	}
	return nil
}

func (c *FragSessionSetupReq) dataBlockMIC(intKey lorawan.AES128Key, block []byte) (applayer.Bytes4, error) {
	if c.Version != 2 {
		return applayer.Bytes4{}, fmt.Errorf("%s: the data block MIC needs package version 2, have %d", c.Name(), c.Version)
	}
	if err := c.validate(); err != nil {
		return applayer.Bytes4{}, err
	}
	if want := c.BlockLen(); len(block) != want {
		return applayer.Bytes4{}, fmt.Errorf("%s: data block of %d bytes, nb_frag·frag_size−padding = %d",
			c.Name(), len(block), want)
	}
	return DataBlockMIC(intKey, c.SessionCnt, c.FragIndex, c.Descriptor, block)
}
