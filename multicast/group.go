package multicast

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
)

// ErrRefused is wrapped by the Err methods of answers whose status bits report
// that the device did not do what was asked.
var ErrRefused = errors.New("refused by device")

// McGroupStatusReq asks a device which of the groups in ReqGroupMask it has
// defined.
type McGroupStatusReq struct {
	// ReqGroupMask has bit i set to ask about McGroupID i.
	ReqGroupMask uint8 `json:"req_group_mask"`
}

func (*McGroupStatusReq) CID() byte    { return CIDMcGroupStatus }
func (*McGroupStatusReq) Name() string { return "McGroupStatusReq" }

func (c *McGroupStatusReq) MarshalBinary() ([]byte, error) {
	if err := applayer.CheckMax(c.Name(), "req_group_mask", uint64(c.ReqGroupMask), 1<<MaxGroups-1); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.ReqGroupMask}, nil
}

func (c *McGroupStatusReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.ReqGroupMask = b[0] & 0x0f
	return 1, nil
}

func (c *McGroupStatusReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// McGroupStatusAns lists the requested groups a device has defined. A device
// whose answer would not fit the uplink drops the highest groups, so
// AnsGroupMask may hold fewer bits than the request's mask. The decoder accepts
// the entries in any order but refuses a list whose McGroupIDs are not exactly
// the mask's bits: the entries could not be trusted.
type McGroupStatusAns struct {
	// AnsGroupMask has bit i set when group i is defined and listed in Groups.
	AnsGroupMask uint8 `json:"ans_group_mask"`
	// NbTotalGroups is how many groups the device has defined, requested or not.
	NbTotalGroups uint8 `json:"nb_total_groups"`
	// Groups holds one entry per bit of AnsGroupMask, in ascending McGroupID.
	Groups []McGroupStatus `json:"groups"`
}

// McGroupStatus is one defined group in a McGroupStatusAns.
type McGroupStatus struct {
	McGroupID uint8           `json:"mc_group_id"`
	McAddr    lorawan.DevAddr `json:"mc_addr"`
}

func (*McGroupStatusAns) CID() byte    { return CIDMcGroupStatus }
func (*McGroupStatusAns) Name() string { return "McGroupStatusAns" }

// validate checks what the encoder cannot carry and what makes the group list
// ambiguous. The decoder calls it too, so that every decoded answer encodes.
func (c *McGroupStatusAns) validate() error {
	if err := applayer.CheckMax(c.Name(), "ans_group_mask", uint64(c.AnsGroupMask), 1<<MaxGroups-1); err != nil {
		return err
	}
	if err := applayer.CheckMax(c.Name(), "nb_total_groups", uint64(c.NbTotalGroups), MaxGroups); err != nil {
		return err
	}
	if n := bits.OnesCount8(c.AnsGroupMask); len(c.Groups) != n {
		return &applayer.FieldError{Command: c.Name(), Field: "groups",
			Reason: fmt.Sprintf("%d groups listed, ans_group_mask 0x%x has %d bits set", len(c.Groups), c.AnsGroupMask, n)}
	}
	mask := c.AnsGroupMask
	for i, g := range c.Groups {
		want := uint8(bits.TrailingZeros8(mask))
		mask &^= 1 << want
		if g.McGroupID != want {
			return &applayer.FieldError{Command: c.Name(), Field: "groups",
				Reason: fmt.Sprintf("entry %d has mc_group_id %d, ans_group_mask 0x%x wants %d (ascending)",
					i, g.McGroupID, c.AnsGroupMask, want)}
		}
	}
	return nil
}

func (c *McGroupStatusAns) MarshalBinary() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 2, 2+5*len(c.Groups))
	b[0] = c.CID()
	b[1] = c.AnsGroupMask | c.NbTotalGroups<<4
	for _, g := range c.Groups {
		b = append(b, g.McGroupID, 0, 0, 0, 0)
		putMcAddr(b[len(b)-4:], g.McAddr)
	}
	return b, nil
}

func (c *McGroupStatusAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	mask := b[0] & 0x0f
	n := 1 + 5*bits.OnesCount8(mask)
	if err := applayer.Need(b, n); err != nil {
		return 0, fmt.Errorf("ans_group_mask 0x%x: %w", mask, err)
	}
	*c = McGroupStatusAns{AnsGroupMask: mask, NbTotalGroups: b[0] >> 4 & 0x07}
	for off := 1; off < n; off += 5 {
		c.Groups = append(c.Groups, McGroupStatus{McGroupID: b[off] & 0x03, McAddr: readMcAddr(b[off+1:])})
	}
	// TS005 lists the groups ascending; brocaar/lorawan's own test lists them
	// descending. The IDs travel with the entries, so any order of the mask's
	// groups is read, and kept ascending so that it encodes as TS005 wants.
	slices.SortFunc(c.Groups, func(x, y McGroupStatus) int { return cmp.Compare(x.McGroupID, y.McGroupID) })
	if err := c.validate(); err != nil {
		return 0, err
	}
	return n, nil
}

func (c *McGroupStatusAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// McGroupSetupReq defines multicast group McGroupID on a device: its address,
// its key encrypted under the device's McKEKey (see EncryptMcKey), and the
// multicast frame counters it accepts.
type McGroupSetupReq struct {
	McGroupID uint8           `json:"mc_group_id"`
	McAddr    lorawan.DevAddr `json:"mc_addr"`
	// McKeyEncrypted is EncryptMcKey(McKEKey, McKey), in wire order.
	McKeyEncrypted applayer.Bytes16 `json:"mc_key_encrypted"`
	// MinMcFCnt is the next multicast FCnt the server will use; the device drops
	// frames below it.
	MinMcFCnt uint32 `json:"min_mc_fcnt"`
	MaxMcFCnt uint32 `json:"max_mc_fcnt"`
}

func (*McGroupSetupReq) CID() byte    { return CIDMcGroupSetup }
func (*McGroupSetupReq) Name() string { return "McGroupSetupReq" }

func (c *McGroupSetupReq) MarshalBinary() ([]byte, error) {
	if err := checkGroupID(c.Name(), c.McGroupID); err != nil {
		return nil, err
	}
	b := make([]byte, 30)
	b[0] = c.CID()
	b[1] = c.McGroupID
	putMcAddr(b[2:6], c.McAddr)
	copy(b[6:22], c.McKeyEncrypted[:])
	binary.LittleEndian.PutUint32(b[22:26], c.MinMcFCnt)
	binary.LittleEndian.PutUint32(b[26:30], c.MaxMcFCnt)
	return b, nil
}

func (c *McGroupSetupReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 29); err != nil {
		return 0, err
	}
	c.McGroupID = b[0] & 0x03
	c.McAddr = readMcAddr(b[1:5])
	copy(c.McKeyEncrypted[:], b[5:21])
	c.MinMcFCnt = binary.LittleEndian.Uint32(b[21:25])
	c.MaxMcFCnt = binary.LittleEndian.Uint32(b[25:29])
	return 29, nil
}

func (c *McGroupSetupReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// McGroupSetupAns acknowledges McGroupSetupReq. IDError means the device cannot
// hold a group with that McGroupID.
type McGroupSetupAns struct {
	McGroupID uint8 `json:"mc_group_id"`
	IDError   bool  `json:"id_error"`
}

func (*McGroupSetupAns) CID() byte    { return CIDMcGroupSetup }
func (*McGroupSetupAns) Name() string { return "McGroupSetupAns" }

func (c *McGroupSetupAns) MarshalBinary() ([]byte, error) {
	if err := checkGroupID(c.Name(), c.McGroupID); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.McGroupID | flag(c.IDError, 2)}, nil
}

func (c *McGroupSetupAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.McGroupID = b[0] & 0x03
	c.IDError = b[0]&0x04 != 0
	return 1, nil
}

func (c *McGroupSetupAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// Err returns nil when the group was set up, or an error wrapping ErrRefused.
func (c *McGroupSetupAns) Err() error {
	if !c.IDError {
		return nil
	}
	return fmt.Errorf("%s: group %d %w: IDError: the device cannot hold a group with this McGroupID",
		c.Name(), c.McGroupID, ErrRefused)
}

// McGroupDeleteReq removes multicast group McGroupID from a device.
type McGroupDeleteReq struct {
	McGroupID uint8 `json:"mc_group_id"`
}

func (*McGroupDeleteReq) CID() byte    { return CIDMcGroupDelete }
func (*McGroupDeleteReq) Name() string { return "McGroupDeleteReq" }

func (c *McGroupDeleteReq) MarshalBinary() ([]byte, error) {
	if err := checkGroupID(c.Name(), c.McGroupID); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.McGroupID}, nil
}

func (c *McGroupDeleteReq) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.McGroupID = b[0] & 0x03
	return 1, nil
}

func (c *McGroupDeleteReq) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// McGroupDeleteAns acknowledges McGroupDeleteReq. McGroupUndefined means there
// was no such group; a server deleting a group may count that as done.
type McGroupDeleteAns struct {
	McGroupID        uint8 `json:"mc_group_id"`
	McGroupUndefined bool  `json:"mc_group_undefined"`
}

func (*McGroupDeleteAns) CID() byte    { return CIDMcGroupDelete }
func (*McGroupDeleteAns) Name() string { return "McGroupDeleteAns" }

func (c *McGroupDeleteAns) MarshalBinary() ([]byte, error) {
	if err := checkGroupID(c.Name(), c.McGroupID); err != nil {
		return nil, err
	}
	return []byte{c.CID(), c.McGroupID | flag(c.McGroupUndefined, 2)}, nil
}

func (c *McGroupDeleteAns) DecodePayload(b []byte) (int, error) {
	if err := applayer.Need(b, 1); err != nil {
		return 0, err
	}
	c.McGroupID = b[0] & 0x03
	c.McGroupUndefined = b[0]&0x04 != 0
	return 1, nil
}

func (c *McGroupDeleteAns) UnmarshalBinary(b []byte) error { return applayer.Unmarshal(c, b) }

// Err returns nil when the group was deleted, or an error wrapping ErrRefused
// when the device had no such group.
func (c *McGroupDeleteAns) Err() error {
	if !c.McGroupUndefined {
		return nil
	}
	return fmt.Errorf("%s: group %d %w: McGroupUndefined: the device has no such group",
		c.Name(), c.McGroupID, ErrRefused)
}

// flag returns 1<<bit when set.
func flag(set bool, bit uint) byte {
	if set {
		return 1 << bit
	}
	return 0
}
