package device

import (
	"bytes"
	"crypto"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/image"
)

// Verification is the check of a reassembled data block as a firmware image
// (DEVICE.md §8.4): the TS004 v2 MIC, then the image's structure, SHA-256,
// signature by a trusted key, security counter and vendor/class. Its Status
// is what TS006 DevUpgradeImageAns reports.
type Verification struct {
	At        time.Time
	FragIndex uint8
	// BlockLen is the data block's length without padding.
	BlockLen int
	// MICChecked is set for a v2 session; MICOK says whether the MIC
	// matched. A block whose MIC fails is not looked at further.
	MICChecked, MICOK bool
	// CRC32 is the IEEE CRC-32 of the block, for information.
	CRC32    uint32
	lmnCRC32 uint32 // as LoRaMac-node computes it, for its 0x05 uplink
	// Report is image.Verify's report, nil if the MIC failed.
	Report *image.Report
	// Version and FWVersion are the image's version, if it parsed.
	Version   image.Version
	FWVersion uint32
	Status    fwmanagement.UpImageStatus
	// Reason says in words why Status is not UpImageValid.
	Reason string
}

// FirmwareVersion is the 32-bit firmware version the device reports in TS006
// (DevVersionAns, DevUpgradeImageAns) and expects in DevDeleteImageReq for an
// image version: major in the top byte, then minor, then the 16-bit
// revision. The build number is not reported.
func FirmwareVersion(v image.Version) uint32 {
	return uint32(v.Major)<<24 | uint32(v.Minor)<<16 | uint32(v.Revision)
}

// LastVerification returns the last reassembled block's verification, nil if
// none was reassembled since power-on.
func (d *Device) LastVerification() *Verification { return d.lastVer }

// verifyBlock reads the reassembled block of s from the staging slot and
// verifies it.
func (d *Device) verifyBlock(s *fragSession) *Verification {
	v := &Verification{At: d.clk.Now(), FragIndex: s.req.FragIndex, BlockLen: s.req.BlockLen()}
	block := make([]byte, v.BlockLen)
	if err := s.store.rows.Read(0, block); err != nil {
		v.Status = fwmanagement.UpImageCorrupt
		v.Reason = fmt.Sprintf("reading the staged block: %v", err)
		return v
	}
	v.CRC32 = crc32.ChecksumIEEE(block)
	// LoRaMac-node's Crc32() takes a 16-bit length: longer files are cut.
	v.lmnCRC32 = crc32.ChecksumIEEE(block[:len(block)&0xffff])
	if s.req.Version == 2 {
		v.MICChecked = true
		if err := s.req.VerifyMIC(d.intKey, block); err != nil {
			v.Status = fwmanagement.UpImageCorrupt
			v.Reason = fmt.Sprintf("TS004 MIC: %v", err)
			return v
		}
		v.MICOK = true
	}
	if s.matrixError {
		// LoRaMac-node ends a session it cannot decode as if it had: what
		// is in flash has holes, and the checks below find them.
		v.Reason = "decoder gave up (MatrixError); "
	}
	bc := d.cfg.Boot.Config()
	var minCnt uint32
	if st := d.cfg.Boot.NVM(); st != nil {
		minCnt = st.SecurityCounter(0)
	}
	v.Report = image.Verify(block, d.trustedKey(block, bc.TrustedKeys), image.VerifyOptions{
		VendorID:           bc.VendorID,
		ClassID:            bc.ClassID,
		MinSecurityCounter: &minCnt,
	})
	if img := v.Report.Image; img != nil {
		v.Version, v.FWVersion = img.Version, FirmwareVersion(img.Version)
	}
	v.Status, v.Reason = imageStatus(v.Report, v.Reason)
	return v
}

// trustedKey returns the trusted key the image's KEYHASH names, or the first
// one, so that Verify reports the key mismatch.
func (d *Device) trustedKey(block []byte, keys []crypto.PublicKey) crypto.PublicKey {
	if len(keys) == 0 {
		return nil
	}
	img, err := image.Parse(block)
	if err != nil {
		return keys[0]
	}
	kh, ok := img.Find(image.TLVKeyHash, false)
	if !ok {
		return keys[0]
	}
	for _, k := range keys {
		if h, err := image.KeyHash(k); err == nil && bytes.Equal(h[:], kh.Value) {
			return k
		}
	}
	return keys[0]
}

// imageStatus maps a verification report to TS006's four states: an image
// that fails any integrity or authenticity check (or the anti-rollback
// counter, which TS006 has no state for) is corrupt; one that passes those
// but names another vendor or device class is for the wrong hardware.
func imageStatus(r *image.Report, prefix string) (fwmanagement.UpImageStatus, string) {
	if r.OK() {
		return fwmanagement.UpImageValid, strings.TrimSuffix(prefix, "; ")
	}
	var hard, hw []string
	for _, c := range r.Checks {
		if c.Status != image.Fail && c.Status != image.Skip {
			continue
		}
		msg := c.Name + ": " + c.Detail
		if c.Name == image.CheckVendor || c.Name == image.CheckClass {
			hw = append(hw, msg)
		} else if c.Status == image.Fail {
			hard = append(hard, msg)
		}
	}
	if len(hard) > 0 || r.Image == nil {
		return fwmanagement.UpImageCorrupt, prefix + strings.Join(append(hard, hw...), "; ")
	}
	return fwmanagement.UpImageIncompatible, prefix + strings.Join(hw, "; ")
}
