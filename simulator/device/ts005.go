package device

import (
	"fmt"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/multicast"
)

// mcGroup is a multicast group the device holds (in RAM: a reset loses it).
type mcGroup struct {
	id                       uint8
	addr                     lorawan.DevAddr
	key, appSKey, nwkSKey    lorawan.AES128Key
	minFCnt, maxFCnt, lastFC uint32
	seen                     bool
	session                  *mcSession
}

// mcSession is a class B or C session window of a group, in GPS seconds by
// the device's clock.
type mcSession struct {
	class      Class
	start, end uint64
	freq       uint32
	dr         uint8
}

// active reports whether the session runs at simulation time at by the
// device's clock.
func (s *mcSession) active(d *Device, at time.Time) bool {
	now := d.dc.now(at)
	return !now.Before(clocksync.FromGPSSeconds(s.start)) && now.Before(clocksync.FromGPSSeconds(s.end))
}

// McGroupInfo describes a multicast group the device holds.
type McGroupInfo struct {
	ID   uint8
	Addr lorawan.DevAddr
	// McKey is the group key the device decrypted from McKey_encrypted;
	// McAppSKey and McNwkSKey derive from it and McAddr. The network side
	// uses them to encrypt and sign the group's frames; this package gets
	// the FRMPayload already decrypted.
	McKey, McAppSKey, McNwkSKey lorawan.AES128Key
	MinMcFCnt, MaxMcFCnt        uint32
	// Session is the group's class B or C session, nil if none.
	Session *SessionInfo
}

// SessionInfo is a multicast session window as the device sees it.
type SessionInfo struct {
	Class Class
	// Start and End are GPS times (seconds since the GPS epoch) by the
	// device's clock.
	Start, End uint64
	Frequency  uint32
	DR         uint8
}

// McGroup returns the multicast group id, if the device holds it.
func (d *Device) McGroup(id uint8) (McGroupInfo, bool) {
	if int(id) >= len(d.groups) || d.groups[id] == nil {
		return McGroupInfo{}, false
	}
	g := d.groups[id]
	info := McGroupInfo{ID: g.id, Addr: g.addr, McKey: g.key, McAppSKey: g.appSKey, McNwkSKey: g.nwkSKey,
		MinMcFCnt: g.minFCnt, MaxMcFCnt: g.maxFCnt}
	if s := g.session; s != nil {
		info.Session = &SessionInfo{Class: s.class, Start: s.start, End: s.end, Frequency: s.freq, DR: s.dr}
	}
	return info, true
}

// acceptMulticast finds the group a multicast frame was sent to and checks
// its frame counter.
func (d *Device) acceptMulticast(mc McGroupRef) (*mcGroup, error) {
	for _, g := range d.groups {
		if g == nil || g.addr != mc.Addr {
			continue
		}
		switch {
		case mc.FCnt < g.minFCnt || mc.FCnt > g.maxFCnt:
			return nil, fmt.Errorf("%w: group %d FCnt %d outside %d..%d", ErrDropped, g.id, mc.FCnt, g.minFCnt, g.maxFCnt)
		case g.seen && mc.FCnt <= g.lastFC:
			return nil, fmt.Errorf("%w: group %d FCnt %d not above %d (replay)", ErrDropped, g.id, mc.FCnt, g.lastFC)
		}
		g.lastFC, g.seen = mc.FCnt, true
		return g, nil
	}
	return nil, fmt.Errorf("%w: no multicast group with McAddr %v", ErrDropped, mc.Addr)
}

// handleMulticast processes one TS005 command (unicast only).
func (d *Device) handleMulticast(c applayer.Command, at time.Time) applayer.Command {
	switch c := c.(type) {
	case *multicast.McGroupStatusReq:
		if d.q.noGroupStatus {
			return nil
		}
		ans := &multicast.McGroupStatusAns{}
		for id, g := range d.groups {
			if g == nil {
				continue
			}
			ans.NbTotalGroups++
			if c.ReqGroupMask>>id&1 == 1 {
				ans.AnsGroupMask |= 1 << id
				ans.Groups = append(ans.Groups, multicast.McGroupStatus{McGroupID: uint8(id), McAddr: g.addr})
			}
		}
		return ans
	case *multicast.McGroupSetupReq:
		if int(c.McGroupID) >= d.cfg.McGroups {
			return &multicast.McGroupSetupAns{McGroupID: c.McGroupID, IDError: true}
		}
		key := multicast.DecryptMcKey(d.kek, c.McKeyEncrypted)
		d.groups[c.McGroupID] = &mcGroup{
			id: c.McGroupID, addr: c.McAddr, key: key,
			appSKey: multicast.McAppSKey(key, c.McAddr), nwkSKey: multicast.McNwkSKey(key, c.McAddr),
			minFCnt: c.MinMcFCnt, maxFCnt: c.MaxMcFCnt,
		}
		return &multicast.McGroupSetupAns{McGroupID: c.McGroupID}
	case *multicast.McGroupDeleteReq:
		if d.groups[c.McGroupID] == nil {
			return &multicast.McGroupDeleteAns{McGroupID: c.McGroupID, McGroupUndefined: true}
		}
		d.groups[c.McGroupID] = nil
		return &multicast.McGroupDeleteAns{McGroupID: c.McGroupID}
	case *multicast.McClassCSessionReq:
		ans := d.sessionReq(ClassC, c.McGroupID, c.SessionTime, c.TimeOut, c.DLFrequency, c.DR, at)
		return &multicast.McClassCSessionAns{SessionAns: ans}
	case *multicast.McClassBSessionReq:
		class := ClassB
		if d.q.classBAsC {
			class = ClassC
		}
		ans := d.sessionReq(class, c.McGroupID, c.SessionTime, c.TimeOut, c.DLFrequency, c.DR, at)
		return &multicast.McClassBSessionAns{SessionAns: ans}
	}
	return nil
}

// sessionReq checks and programs a class B or C session and returns the
// answer.
func (d *Device) sessionReq(class Class, id uint8, sessionTime uint32, timeOut uint8, freq uint32, dr uint8, at time.Time) multicast.SessionAns {
	v := d.ver.Multicast
	ans := multicast.SessionAns{Version: v, McGroupID: id}
	g := d.groups[id]
	if g == nil {
		ans.McGroupUndefined = true
		// LoRaMac-node starts from all three error bits and clears each as
		// its check passes; for an undefined group none does.
		ans.DRError = d.q.undefinedGroup0x1C
		ans.FreqError = d.q.undefinedGroup0x1C
		return ans
	}
	ans.DRError = dr > d.band.MaxDR
	// DLFrequ 0 asks for the default ping-slot hopping of class B (v2).
	defaultHop := class == ClassB && freq == 0 && v >= 2
	ans.FreqError = !defaultHop && (freq < d.band.MinFrequency || freq > d.band.MaxFrequency)
	now := d.dc.gps(at)
	start := unwrapGPS(sessionTime, now)
	if start < now {
		// Version 1 has no StartMissed: LoRaMac-node answers a start in the
		// past with McGroupUndefined, and so does the conformant v1 device.
		if v >= 2 {
			ans.StartMissed = true
		} else {
			ans.McGroupUndefined = true
		}
	}
	if !ans.Accepted() {
		return ans
	}
	length, _ := multicast.ClassCSessionLength(timeOut)
	if class == ClassB {
		length, _ = multicast.ClassBSessionLength(timeOut)
	}
	g.session = &mcSession{class: class, start: start, end: start + length, freq: freq, dr: dr}
	tts := uint32(min(start-now, multicast.MaxTimeToStart))
	ans.TimeToStart = &tts
	return ans
}
