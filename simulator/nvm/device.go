package nvm

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Key identifies a record. Keys below FirstFreeKey belong to the typed
// accessors; keys with NamedKeys set carry a name as well (settings).
type Key uint16

// Keys of the typed accessors.
const (
	KeyDevNonce        Key = 0x0001
	KeyFCntUp          Key = 0x0002
	KeyNFCntDown       Key = 0x0003
	KeyAFCntDown       Key = 0x0004
	KeySessionCntPrev  Key = 0x0010 // + FragIndex, 0 to FragSessions-1
	KeySecurityCounter Key = 0x0020 // + image number, 0 to MaxImages-1
	KeySetting         Key = 0x8001 // named: one record per setting

	// FirstFreeKey is the first key Get and Set take: other components
	// keep their own records from here on (the bootloader uses
	// 0x0100–0x01FF).
	FirstFreeKey Key = 0x0100
	// NamedKeys marks keys whose records carry a name.
	NamedKeys Key = 0x8000
)

const (
	// FragSessions is the number of TS004 fragmentation sessions
	// (FragIndex 0–3), each with its SessionCntPrev.
	FragSessions = 4
	// MaxImages is the number of firmware images with a security counter.
	MaxImages = 16
	// NoSession is SessionCntPrev before any session: TS004's "none".
	NoSession int32 = -1
)

func (k Key) valid() bool { return k != 0 && k != 0xFFFF }

// Counters are the values that must never go backwards, read in one go.
type Counters struct {
	DevNonce        uint16              `json:"dev_nonce"`
	FCntUp          uint32              `json:"f_cnt_up"`
	NFCntDown       uint32              `json:"n_f_cnt_down"`
	AFCntDown       uint32              `json:"a_f_cnt_down"`
	SessionCntPrev  [FragSessions]int32 `json:"session_cnt_prev"`
	SecurityCounter uint32              `json:"security_counter"` // image 0
}

// Behind names the counters of c that are lower than in ref: empty when c is
// at or past ref everywhere.
func (c Counters) Behind(ref Counters) []string {
	var out []string
	add := func(name string, lower bool) {
		if lower {
			out = append(out, name)
		}
	}
	add("DevNonce", c.DevNonce < ref.DevNonce)
	add("FCntUp", c.FCntUp < ref.FCntUp)
	add("NFCntDown", c.NFCntDown < ref.NFCntDown)
	add("AFCntDown", c.AFCntDown < ref.AFCntDown)
	for i := range c.SessionCntPrev {
		add(fmt.Sprintf("SessionCntPrev[%d]", i), c.SessionCntPrev[i] < ref.SessionCntPrev[i])
	}
	add("SecurityCounter", c.SecurityCounter < ref.SecurityCounter)
	return out
}

// Max returns the larger of c and d in every counter.
func (c Counters) Max(d Counters) Counters {
	c.DevNonce = max(c.DevNonce, d.DevNonce)
	c.FCntUp = max(c.FCntUp, d.FCntUp)
	c.NFCntDown = max(c.NFCntDown, d.NFCntDown)
	c.AFCntDown = max(c.AFCntDown, d.AFCntDown)
	for i := range c.SessionCntPrev {
		c.SessionCntPrev[i] = max(c.SessionCntPrev[i], d.SessionCntPrev[i])
	}
	c.SecurityCounter = max(c.SecurityCounter, d.SecurityCounter)
	return c
}

// Counters returns the current counters.
func (s *Store) Counters() Counters {
	c := Counters{
		DevNonce:        s.DevNonce(),
		FCntUp:          s.FCntUp(),
		NFCntDown:       s.NFCntDown(),
		AFCntDown:       s.AFCntDown(),
		SecurityCounter: s.SecurityCounter(0),
	}
	for i := range c.SessionCntPrev {
		c.SessionCntPrev[i] = s.SessionCntPrev(i)
	}
	return c
}

// DevNonce returns the last DevNonce used in a join request, 0 if none.
func (s *Store) DevNonce() uint16 { return uint16(s.u32(KeyDevNonce, 0)) }

// SetDevNonce records v as the last DevNonce used.
func (s *Store) SetDevNonce(v uint16) error {
	return s.setU32("DevNonce", KeyDevNonce, uint32(v), uint32(s.DevNonce()))
}

// NextDevNonce returns the DevNonce for the next join request, persisted
// before it is returned, as LoRaWAN 1.0.4 and 1.1 require (a DevNonce is
// never used twice).
func (s *Store) NextDevNonce() (uint16, error) {
	cur := s.DevNonce()
	if cur == 0xFFFF {
		return 0, fmt.Errorf("%w: DevNonce exhausted", ErrBackwards)
	}
	if err := s.SetDevNonce(cur + 1); err != nil {
		return 0, err
	}
	return cur + 1, nil
}

// FCntUp returns the uplink frame counter.
func (s *Store) FCntUp() uint32 { return s.u32(KeyFCntUp, 0) }

// SetFCntUp stores the uplink frame counter.
func (s *Store) SetFCntUp(v uint32) error { return s.setU32("FCntUp", KeyFCntUp, v, s.FCntUp()) }

// NFCntDown returns the network downlink frame counter.
func (s *Store) NFCntDown() uint32 { return s.u32(KeyNFCntDown, 0) }

// SetNFCntDown stores the network downlink frame counter.
func (s *Store) SetNFCntDown(v uint32) error {
	return s.setU32("NFCntDown", KeyNFCntDown, v, s.NFCntDown())
}

// AFCntDown returns the application downlink frame counter.
func (s *Store) AFCntDown() uint32 { return s.u32(KeyAFCntDown, 0) }

// SetAFCntDown stores the application downlink frame counter.
func (s *Store) SetAFCntDown(v uint32) error {
	return s.setU32("AFCntDown", KeyAFCntDown, v, s.AFCntDown())
}

// SessionCntPrev returns the TS004 SessionCntPrev of fragmentation session
// i, NoSession (−1) if none was seen. It panics if i is out of range.
func (s *Store) SessionCntPrev(i int) int32 {
	checkIndex("FragIndex", i, FragSessions)
	v, ok := s.vals[id{key: KeySessionCntPrev + Key(i)}]
	if !ok || len(v) != 4 {
		return NoSession
	}
	return int32(binary.LittleEndian.Uint32(v))
}

// SetSessionCntPrev stores the SessionCntPrev of fragmentation session i;
// TS004 requires it never to be reset.
func (s *Store) SetSessionCntPrev(i int, v int32) error {
	if i < 0 || i >= FragSessions {
		return fmt.Errorf("%w: FragIndex %d, want 0 to %d", ErrKey, i, FragSessions-1)
	}
	cur := s.SessionCntPrev(i)
	if v < cur {
		return fmt.Errorf("%w: SessionCntPrev[%d] %d -> %d", ErrBackwards, i, cur, v)
	}
	if v == cur {
		return nil
	}
	return s.put(id{key: KeySessionCntPrev + Key(i)}, binary.LittleEndian.AppendUint32(nil, uint32(v)), false)
}

// SecurityCounter returns the stored security counter of image (0 for a
// single-image device), 0 if none was stored.
func (s *Store) SecurityCounter(image int) uint32 {
	checkIndex("image", image, MaxImages)
	return s.u32(KeySecurityCounter+Key(image), 0)
}

// SetSecurityCounter raises the security counter of image to v.
func (s *Store) SetSecurityCounter(image int, v uint32) error {
	if image < 0 || image >= MaxImages {
		return fmt.Errorf("%w: image %d, want 0 to %d", ErrKey, image, MaxImages-1)
	}
	return s.setU32(fmt.Sprintf("security counter of image %d", image), KeySecurityCounter+Key(image), v, s.SecurityCounter(image))
}

// Setting returns the value of a device setting.
func (s *Store) Setting(name string) ([]byte, bool) {
	v, ok := s.vals[id{key: KeySetting, name: name}]
	return slices.Clone(v), ok
}

// SetSetting stores a device setting; names are 1 to 255 bytes.
func (s *Store) SetSetting(name string, v []byte) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w: setting name of %d bytes, want 1 to 255", ErrKey, len(name))
	}
	if cur, ok := s.Setting(name); ok && slices.Equal(cur, v) {
		return nil
	}
	return s.put(id{key: KeySetting, name: name}, v, false)
}

// DeleteSetting removes a device setting.
func (s *Store) DeleteSetting(name string) error {
	if _, ok := s.Setting(name); !ok {
		return nil
	}
	return s.put(id{key: KeySetting, name: name}, nil, true)
}

// Settings returns the names of the settings, sorted.
func (s *Store) Settings() []string {
	var names []string
	for rid := range s.vals {
		if rid.key == KeySetting {
			names = append(names, rid.name)
		}
	}
	slices.Sort(names)
	return names
}

// Get returns the raw value of key, one of the keys from FirstFreeKey that
// other components own.
func (s *Store) Get(key Key) ([]byte, bool) {
	v, ok := s.vals[id{key: key}]
	return slices.Clone(v), ok
}

// Set stores a raw value under key (FirstFreeKey and up, without NamedKeys).
// Values are not interpreted: monotonicity is the caller's business.
func (s *Store) Set(key Key, v []byte) error {
	if err := checkRaw(key); err != nil {
		return err
	}
	if cur, ok := s.vals[id{key: key}]; ok && slices.Equal(cur, v) {
		return nil
	}
	return s.put(id{key: key}, v, false)
}

// Delete removes a raw value.
func (s *Store) Delete(key Key) error {
	if err := checkRaw(key); err != nil {
		return err
	}
	if _, ok := s.vals[id{key: key}]; !ok {
		return nil
	}
	return s.put(id{key: key}, nil, true)
}

func checkRaw(key Key) error {
	if key < FirstFreeKey || key&NamedKeys != 0 || !key.valid() {
		return fmt.Errorf("%w: %#04x is not a free unnamed key (%#04x to %#04x)", ErrKey, uint16(key), uint16(FirstFreeKey), uint16(NamedKeys-1))
	}
	return nil
}

func (s *Store) u32(key Key, def uint32) uint32 {
	v, ok := s.vals[id{key: key}]
	if !ok || len(v) != 4 {
		return def
	}
	return binary.LittleEndian.Uint32(v)
}

func (s *Store) setU32(name string, key Key, v, cur uint32) error {
	if v < cur {
		return fmt.Errorf("%w: %s %d -> %d", ErrBackwards, name, cur, v)
	}
	if _, ok := s.vals[id{key: key}]; ok && v == cur {
		return nil
	}
	return s.put(id{key: key}, binary.LittleEndian.AppendUint32(nil, v), false)
}

func checkIndex(what string, i, n int) {
	if i < 0 || i >= n {
		panic(fmt.Sprintf("nvm: %s %d out of range [0, %d)", what, i, n))
	}
}
