package boot

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

// ErrInvalidImage is wrapped by verification failures: a slot with no image,
// a malformed or tampered one, an unknown key, a security counter below the
// stored one, or the wrong vendor or class.
var ErrInvalidImage = errors.New("invalid image")

// verified is what the boot needs of an image that passed verification,
// copied out of the read buffer.
type verified struct {
	version image.Version
	digest  [sha256.Size]byte
	size    int
	secCnt  uint32
	fw      Firmware
}

// verify checks the image in an image area as MCUboot does before it boots
// or swaps (DEVICE.md §4.3): structure, SHA-256, a KEYHASH naming a trusted
// key, the signature, a security counter not below minSecCnt, and vendor and
// class when configured.
func (b *Bootloader) verify(area *flash.Region, minSecCnt uint32) (*verified, error) {
	buf := b.areaBuf(area)
	if err := area.Read(0, buf); err != nil {
		return nil, fmt.Errorf("reading %s: %w", area.Name(), err)
	}
	img, err := image.ParseSlot(buf)
	if err != nil {
		return nil, fmt.Errorf("%w in %s: %w", ErrInvalidImage, area.Name(), err)
	}
	kh, ok := img.Find(image.TLVKeyHash, false)
	if !ok {
		return nil, fmt.Errorf("%w in %s: no KEYHASH TLV", ErrInvalidImage, area.Name())
	}
	var key crypto.PublicKey
	for i, h := range b.keyHashes {
		if bytes.Equal(h[:], kh.Value) {
			key = b.cfg.TrustedKeys[i]
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w in %s: signed with an unknown key (KEYHASH %x)", ErrInvalidImage, area.Name(), kh.Value)
	}
	// Verify again over exactly the image: the slot's padding and trailer
	// are not the image's business.
	rep := image.Verify(img.Bytes(), key, image.VerifyOptions{
		MinSecurityCounter: &minSecCnt,
		VendorID:           b.cfg.VendorID,
		ClassID:            b.cfg.ClassID,
	})
	if !rep.OK() {
		var why []string
		for _, c := range rep.Checks {
			if c.Status == image.Fail || c.Status == image.Skip {
				why = append(why, c.Name+": "+c.Detail)
			}
		}
		return nil, fmt.Errorf("%w in %s: %s", ErrInvalidImage, area.Name(), strings.Join(why, "; "))
	}
	n, _, _ := img.SecurityCounter()
	// Verify checked the SHA256 TLV against the image: no need to hash again.
	var digest [sha256.Size]byte
	if t, ok := img.Find(image.TLVSHA256, false); ok {
		copy(digest[:], t.Value)
	}
	return &verified{
		version: img.Version,
		digest:  digest,
		size:    img.Len(),
		secCnt:  n,
		fw:      ParseFirmware(img.Payload),
	}, nil
}

// areaBuf returns the bootloader's buffer for reading a whole image area.
func (b *Bootloader) areaBuf(area *flash.Region) []byte {
	if cap(b.buf) < area.Size() {
		b.buf = make([]byte, area.Size())
	}
	return b.buf[:area.Size()]
}

// imageLen returns the length of the image an area holds according to its
// header and TLV areas, or 0 if it holds none that parses.
func (b *Bootloader) imageLen(area *flash.Region) (int, error) {
	buf := b.areaBuf(area)
	if err := area.Read(0, buf); err != nil {
		return 0, fmt.Errorf("reading %s: %w", area.Name(), err)
	}
	img, err := image.ParseSlot(buf)
	if err != nil {
		return 0, nil
	}
	return img.Len(), nil
}
