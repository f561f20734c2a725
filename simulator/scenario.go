package simulator

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/region"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/device"
)

// Scenario describes a simulated field: the ChirpStack tenants, applications,
// device profiles and gateways, and groups of alike devices. It is read from
// TOML (LoadScenario, ParseScenario) or built in Go (DefaultScenario); zero
// fields take the defaults Validate documents.
type Scenario struct {
	// Region is the LoRaWAN region of every gateway, device and profile;
	// empty means EU868.
	Region string `toml:"region"`
	// Start is the virtual time a virtual-time run starts at; the zero time
	// means 2026-01-01T00:00:00Z. Real-time runs start at the wall clock.
	Start time.Time `toml:"start"`

	Network        NetworkSpec         `toml:"network"`
	Tenants        []TenantSpec        `toml:"tenants"`
	Applications   []ApplicationSpec   `toml:"applications"`
	DeviceProfiles []DeviceProfileSpec `toml:"device_profiles"`
	Gateways       []GatewaySpec       `toml:"gateways"`
	Devices        []DeviceGroup       `toml:"devices"`
}

// NetworkSpec configures the simulated ChirpStack (ns.Config).
type NetworkSpec struct {
	// ClassCMargin is ChirpStack's multicast_class_c_margin; 0 means 5 s.
	ClassCMargin Duration `toml:"class_c_margin"`
	// ClassBMargin is multicast_class_b_margin; 0 means ChirpStack's.
	ClassBMargin Duration `toml:"class_b_margin"`
	// SchedulerInterval is how often the multicast scheduler runs, and
	// how often class C device queues are looked at; 0 means 1 s.
	SchedulerInterval Duration `toml:"scheduler_interval"`
	// StatusInterval is how often the network asks each device for its
	// status (DevStatusReq), besides once after its first uplink of a
	// session; 0 means every 24 h, a negative value never.
	StatusInterval Duration `toml:"status_interval"`
	// Quirks switch ChirpStack's silent failures off (ns.Quirks).
	Quirks QuirksSpec `toml:"quirks"`
}

// QuirksSpec mirrors ns.Quirks.
type QuirksSpec struct {
	RefuseOversize        bool `toml:"refuse_oversize"`
	RefuseNoGateways      bool `toml:"refuse_no_gateways"`
	ReportMulticastTxAck  bool `toml:"report_multicast_tx_ack"`
	ReportMulticastExpiry bool `toml:"report_multicast_expiry"`
	ProperErrorCodes      bool `toml:"proper_error_codes"`
}

// TenantSpec is a ChirpStack tenant.
type TenantSpec struct {
	// ID is the tenant's UUID; empty means a generated one.
	ID   string `toml:"id"`
	Name string `toml:"name"`
}

// ApplicationSpec is an application of a tenant.
type ApplicationSpec struct {
	ID   string `toml:"id"`
	Name string `toml:"name"`
	// Tenant names the tenant; empty means the only one.
	Tenant string `toml:"tenant"`
}

// DeviceProfileSpec is a device profile of a tenant.
type DeviceProfileSpec struct {
	ID     string `toml:"id"`
	Name   string `toml:"name"`
	Tenant string `toml:"tenant"`
	// MACVersion is "1.0.0" … "1.0.4" or "1.1.0"; empty means 1.0.4.
	MACVersion     string `toml:"mac_version"`
	SupportsClassB bool   `toml:"supports_class_b"`
	SupportsClassC bool   `toml:"supports_class_c"`
	// UplinkInterval is the expected uplink interval ChirpStack stores;
	// 0 means one hour.
	UplinkInterval Duration `toml:"uplink_interval"`
	// ClassBPingSlotPeriodicity is the class B ping-slot periodicity, 0
	// to 7: a ping slot every 2^periodicity seconds (0.96 s × 2^p).
	ClassBPingSlotPeriodicity int `toml:"class_b_ping_slot_periodicity"`
}

// GatewaySpec is a gateway of a tenant.
type GatewaySpec struct {
	// ID is the gateway EUI in hex.
	ID     string `toml:"id"`
	Name   string `toml:"name"`
	Tenant string `toml:"tenant"`
	// Model is "concentratord" (default) or "basic-station".
	Model string `toml:"model"`
	// EnforceDC refuses frames over the duty cycle (Concentratord's
	// ENFORCE_DC); Basic Station always enforces it.
	EnforceDC bool `toml:"enforce_dc"`
	// Position is where the gateway stands, in metres; nil for nowhere.
	Position *Position `toml:"position"`
}

// Position is a point on the simulated plane, in metres.
type Position struct {
	X float64 `toml:"x"`
	Y float64 `toml:"y"`
}

// MaxDevices bounds the devices of one scenario.
const MaxDevices = 100_000

// DeviceGroup is Count alike devices.
type DeviceGroup struct {
	// Count is how many devices; 0 means 1.
	Count int `toml:"count"`
	// NamePrefix names the devices NamePrefix1, NamePrefix2, …; empty
	// means "device-".
	NamePrefix string `toml:"name_prefix"`
	// DevEUIBase is the first DevEUI in hex; the others follow it.
	DevEUIBase string `toml:"dev_eui_base"`
	// Application and DeviceProfile name them; empty means the only one.
	Application   string `toml:"application"`
	DeviceProfile string `toml:"device_profile"`
	// Class is "A", "B" or "C"; empty means A. Class B devices take
	// unicast downlinks in their ping slots.
	Class string `toml:"class"`
	// Activation is "abp" (default: a session at power-on, with the keys
	// a join would derive, and no join traffic) or "otaa" (a JoinRequest
	// at power-on and after every reset).
	Activation string `toml:"activation"`
	// MACVersion is "1.0.x" or "1.1"; empty means the profile's.
	MACVersion string `toml:"mac_version"`
	// Keys in hex. Empty keys are derived from the seed and the DevEUI.
	// A 1.0.x device has AppKey and GenAppKey, a 1.1 device NwkKey and
	// AppKey.
	AppKey    string `toml:"app_key"`
	NwkKey    string `toml:"nwk_key"`
	GenAppKey string `toml:"gen_app_key"`
	// Stack is the device stack profile: spec (default), loramac-node,
	// stm32cubewl, lora-basics-modem.
	Stack string `toml:"stack"`
	// Versions of the app-layer packages; 0 means the stack's highest.
	Versions VersionsSpec `toml:"versions"`
	// UplinkInterval is the period of the application's uplinks; 0 means
	// 15 min.
	UplinkInterval Duration `toml:"uplink_interval"`
	// UplinkDR is the data rate of the device's uplinks; unset means DR5.
	UplinkDR *int `toml:"uplink_dr"`
	// UplinkFrequencies are the uplink channels in Hz, one drawn per
	// uplink; empty means EU868's three default channels (other regions
	// must list theirs).
	UplinkFrequencies []uint32 `toml:"uplink_frequencies"`
	// AppTimePeriod is the TS003 AppTimeReq period; 0 sends none until
	// the server asks.
	AppTimePeriod Duration `toml:"app_time_period"`
	// ClockDriftPPM and ClockOffset describe the device's clock.
	ClockDriftPPM float64  `toml:"clock_drift_ppm"`
	ClockOffset   Duration `toml:"clock_offset"`
	// RAMBudget is the RAM of a fragmentation session in bytes; 0 means
	// no limit.
	RAMBudget int `toml:"ram_budget"`
	// Flash is "stm32wl" (default), "nrf52840" or "nor"; FlashSize its
	// size in bytes, 0 for the part's own.
	Flash     string `toml:"flash"`
	FlashSize int    `toml:"flash_size"`
	// Layout is "dual-bank" (default) or "external-swap".
	Layout string `toml:"layout"`
	// MaxImage is the largest image the slots hold; 0 means 64 KiB.
	MaxImage int `toml:"max_image"`
	// Firmware is the version the devices run; empty means 1.0.0.
	// FirmwareSize is its signed size, 0 meaning 8 KiB.
	Firmware     string `toml:"firmware"`
	FirmwareSize int    `toml:"firmware_size"`
	HWVersion    uint32 `toml:"hw_version"`
	// Position is where the devices stand; with gateways that have one,
	// links follow from the distance (link budget).
	Position *Position `toml:"position"`
	// Loss is the link model to every gateway of Gateways; nil means
	// links from positions, or lossless links if there are none.
	Loss *LossSpec `toml:"loss"`
	// Gateways lists the gateway ids that hear the devices; empty means
	// all.
	Gateways []string          `toml:"gateways"`
	Tags     map[string]string `toml:"tags"`
}

// VersionsSpec are the app-layer package versions of a device.
type VersionsSpec struct {
	ClockSync          uint8 `toml:"clock_sync"`
	Multicast          uint8 `toml:"multicast"`
	Fragmentation      uint8 `toml:"fragmentation"`
	FirmwareManagement uint8 `toml:"firmware_management"`
}

// LossSpec is a link loss model.
type LossSpec struct {
	// Model is "bernoulli", "gilbert-elliott" or "link-budget".
	Model string `toml:"model"`
	// P is the Bernoulli loss probability.
	P float64 `toml:"p"`
	// Gilbert–Elliott parameters.
	PGoodToBad float64 `toml:"p_good_to_bad"`
	PBadToGood float64 `toml:"p_bad_to_good"`
	LossGood   float64 `toml:"loss_good"`
	LossBad    float64 `toml:"loss_bad"`
	// SigmaDB is the link-budget fade.
	SigmaDB float64 `toml:"sigma_db"`
	// PathLossDB fixes the mean path loss; 0 means from the positions,
	// or 100 dB without them.
	PathLossDB float64 `toml:"path_loss_db"`
}

// Duration is a time.Duration written as "15m", "1.5s".
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// DefaultScenario is `lorafuota sim serve` without --scenario: one tenant,
// one application, one Concentratord gateway, and ten class C devices with
// LoRaWAN 1.0.x keys (derived from the seed), EU868.
func DefaultScenario() *Scenario {
	return &Scenario{
		Region:         "EU868",
		Tenants:        []TenantSpec{{Name: "lorafuota"}},
		Applications:   []ApplicationSpec{{Name: "fuota"}},
		DeviceProfiles: []DeviceProfileSpec{{Name: "class-c", MACVersion: "1.0.4", SupportsClassC: true}},
		Gateways:       []GatewaySpec{{ID: "0016c001f0000001", Name: "gw-1"}},
		Devices: []DeviceGroup{{
			Count: 10, NamePrefix: "device-", DevEUIBase: "70b3d57ed0000001", Class: "C",
		}},
	}
}

// LoadScenario reads a TOML scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario decodes a TOML scenario and validates it. Unknown keys are
// errors, so that a typo does not silently fall back to a default.
func ParseScenario(b []byte) (*Scenario, error) {
	var sc Scenario
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&sc)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("scenario: unknown keys: %s", strings.Join(keys, ", "))
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// fieldError is a validation error naming the field, as
// `devices[1].class: "D" is not A, B or C`.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func errf(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Validate checks the scenario and reports every invalid field, each named
// by its path in the file. It does not change the scenario; defaults are
// applied when a Network is built.
func (sc *Scenario) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	reg, err := region.Get(region.Name(cmp.Or(sc.Region, string(region.EU868))))
	if err != nil {
		add(errf("region", "%q: %v", sc.Region, err))
	}
	if len(sc.Tenants) == 0 {
		add(errf("tenants", "at least one tenant is needed"))
	}
	if len(sc.Applications) == 0 {
		add(errf("applications", "at least one application is needed"))
	}
	if len(sc.DeviceProfiles) == 0 {
		add(errf("device_profiles", "at least one device profile is needed"))
	}
	if len(sc.Gateways) == 0 {
		add(errf("gateways", "at least one gateway is needed"))
	}
	tenants := names(len(sc.Tenants), func(i int) string { return sc.Tenants[i].Name })
	for i, t := range sc.Tenants {
		if t.Name == "" {
			add(errf(fmt.Sprintf("tenants[%d].name", i), "missing"))
		}
	}
	add(dupes("tenants", tenants))
	refTenant := func(field, name string) {
		if _, err := pick(name, tenants); err != nil {
			add(errf(field, "%v", err))
		}
	}
	apps := names(len(sc.Applications), func(i int) string { return sc.Applications[i].Name })
	for i, a := range sc.Applications {
		if a.Name == "" {
			add(errf(fmt.Sprintf("applications[%d].name", i), "missing"))
		}
		refTenant(fmt.Sprintf("applications[%d].tenant", i), a.Tenant)
	}
	add(dupes("applications", apps))
	profiles := names(len(sc.DeviceProfiles), func(i int) string { return sc.DeviceProfiles[i].Name })
	for i, p := range sc.DeviceProfiles {
		f := fmt.Sprintf("device_profiles[%d]", i)
		if p.Name == "" {
			add(errf(f+".name", "missing"))
		}
		refTenant(f+".tenant", p.Tenant)
		if _, err := parseMACVersion(p.MACVersion); err != nil {
			add(errf(f+".mac_version", "%v", err))
		}
		if p.UplinkInterval < 0 {
			add(errf(f+".uplink_interval", "negative"))
		}
		if p.ClassBPingSlotPeriodicity < 0 || p.ClassBPingSlotPeriodicity > 7 {
			add(errf(f+".class_b_ping_slot_periodicity", "%d is not 0 to 7", p.ClassBPingSlotPeriodicity))
		}
	}
	add(dupes("device_profiles", profiles))
	gwIDs := map[lorawan.EUI64]bool{}
	for i, g := range sc.Gateways {
		f := fmt.Sprintf("gateways[%d]", i)
		id, err := parseEUI(g.ID)
		if err != nil {
			add(errf(f+".id", "%v", err))
		} else if gwIDs[id] {
			add(errf(f+".id", "%s used twice", id))
		}
		gwIDs[id] = true
		refTenant(f+".tenant", g.Tenant)
		if _, err := parseModel(g.Model); err != nil {
			add(errf(f+".model", "%v", err))
		}
	}
	devEUIs := map[lorawan.EUI64]string{}
	total := 0
	for i, d := range sc.Devices {
		f := fmt.Sprintf("devices[%d]", i)
		if d.Count < 0 {
			add(errf(f+".count", "%d is negative", d.Count))
		}
		// Bound the fleet before walking it: a typo'd count must not make the
		// simulator allocate for billions of devices.
		if total += max(d.Count, 1); d.Count > MaxDevices || total > MaxDevices {
			add(errf(f+".count", "%d devices in all exceeds the simulator's limit of %d", total, MaxDevices))
			break
		}
		base, err := parseEUI(d.DevEUIBase)
		if err != nil {
			add(errf(f+".dev_eui_base", "%v", err))
		} else {
			for n := range max(d.Count, 1) {
				eui := addEUI(base, n)
				if prev, ok := devEUIs[eui]; ok {
					add(errf(f+".dev_eui_base", "DevEUI %s is also one of %s", eui, prev))
					break
				}
				devEUIs[eui] = f
			}
		}
		if _, err := pick(d.Application, apps); err != nil {
			add(errf(f+".application", "%v", err))
		}
		pi, err := pick(d.DeviceProfile, profiles)
		if err != nil {
			add(errf(f+".device_profile", "%v", err))
		}
		class, err := parseClass(d.Class)
		if err != nil {
			add(errf(f+".class", "%v", err))
		}
		if pi >= 0 {
			p := sc.DeviceProfiles[pi]
			if class == classC && !p.SupportsClassC {
				add(errf(f+".class", "C, but device profile %q does not support class C", p.Name))
			}
			if class == classB && !p.SupportsClassB {
				add(errf(f+".class", "B, but device profile %q does not support class B", p.Name))
			}
			if pv, err := parseMACVersion(p.MACVersion); err == nil && d.MACVersion != "" {
				if v11, err := parseMACFamily(d.MACVersion); err != nil {
					add(errf(f+".mac_version", "%v", err))
				} else if v11 != isMAC11(pv) {
					add(errf(f+".mac_version", "%q, but device profile %q is LoRaWAN %s", d.MACVersion, p.Name, cmp.Or(p.MACVersion, "1.0.4")))
				}
			}
		} else if d.MACVersion != "" {
			if _, err := parseMACFamily(d.MACVersion); err != nil {
				add(errf(f+".mac_version", "%v", err))
			}
		}
		for _, k := range []struct{ name, v string }{{"app_key", d.AppKey}, {"nwk_key", d.NwkKey}, {"gen_app_key", d.GenAppKey}} {
			if k.v != "" {
				if _, err := parseKey(k.v); err != nil {
					add(errf(f+"."+k.name, "%v", err))
				}
			}
		}
		if _, err := parseActivation(d.Activation); err != nil {
			add(errf(f+".activation", "%v", err))
		}
		if d.Stack != "" {
			if _, err := device.ParseProfile(d.Stack); err != nil {
				add(errf(f+".stack", "%v", err))
			}
		}
		if d.UplinkInterval < 0 {
			add(errf(f+".uplink_interval", "negative"))
		}
		if d.UplinkDR != nil && reg != nil {
			if dr, err := reg.DataRate(*d.UplinkDR); err != nil || !dr.Uplink {
				add(errf(f+".uplink_dr", "%d is not an uplink data rate of %s", *d.UplinkDR, reg.Name()))
			}
		}
		if len(d.UplinkFrequencies) == 0 && reg != nil && reg.Name() != region.EU868 {
			add(errf(f+".uplink_frequencies", "missing: there are no default channels for %s", reg.Name()))
		}
		if d.RAMBudget < 0 {
			add(errf(f+".ram_budget", "negative"))
		}
		if d.Flash != "" {
			if _, err := boot.ParsePart(d.Flash); err != nil {
				add(errf(f+".flash", "%v", err))
			}
		}
		if d.Layout != "" {
			if _, err := boot.ParseLayout(d.Layout); err != nil {
				add(errf(f+".layout", "%v", err))
			}
		}
		if d.Firmware != "" {
			if _, err := image.ParseVersion(d.Firmware); err != nil {
				add(errf(f+".firmware", "%v", err))
			}
		}
		if d.MaxImage < 0 || d.FirmwareSize < 0 || (d.MaxImage > 0 && d.FirmwareSize > d.MaxImage) {
			add(errf(f+".firmware_size", "%d does not fit max_image %d", d.FirmwareSize, d.MaxImage))
		}
		if d.Loss != nil {
			if _, err := d.Loss.model(); err != nil {
				add(errf(f+".loss", "%v", err))
			}
		}
		for j, g := range d.Gateways {
			id, err := parseEUI(g)
			if err != nil {
				add(errf(fmt.Sprintf("%s.gateways[%d]", f, j), "%v", err))
			} else if !gwIDs[id] {
				add(errf(fmt.Sprintf("%s.gateways[%d]", f, j), "no gateway %s", id))
			}
		}
	}
	return errors.Join(errs...)
}

func names(n int, name func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

func dupes(field string, ns []string) error {
	seen := map[string]bool{}
	for i, n := range ns {
		if n != "" && seen[n] {
			return errf(fmt.Sprintf("%s[%d].name", field, i), "%q used twice", n)
		}
		seen[n] = true
	}
	return nil
}

// pick finds name among names; an empty name picks the only one.
func pick(name string, names []string) (int, error) {
	if name == "" {
		if len(names) == 1 {
			return 0, nil
		}
		return -1, fmt.Errorf("missing: there are %d to choose from", len(names))
	}
	for i, n := range names {
		if n == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%q is not defined", name)
}

type class uint8

const (
	classA class = iota
	classB
	classC
)

func (c class) String() string { return [...]string{"A", "B", "C"}[c] }

func parseClass(s string) (class, error) {
	switch strings.ToUpper(s) {
	case "", "A":
		return classA, nil
	case "B":
		return classB, nil
	case "C":
		return classC, nil
	}
	return 0, fmt.Errorf("%q is not A, B or C", s)
}

// parseActivation reports whether s asks for OTAA.
func parseActivation(s string) (otaa bool, err error) {
	switch strings.ToLower(s) {
	case "", "abp":
		return false, nil
	case "otaa":
		return true, nil
	}
	return false, fmt.Errorf("%q is not abp or otaa", s)
}

func parseMACVersion(s string) (lorawan.MACVersion, error) {
	switch s {
	case "", "1.0.4", "1.0.3", "1.0.2", "1.0.1", "1.0.0":
		return lorawan.LoRaWAN1_0, nil
	case "1.1.0", "1.1":
		return lorawan.LoRaWAN1_1, nil
	}
	return 0, fmt.Errorf("%q is not 1.0.0 … 1.0.4 or 1.1.0", s)
}

func isMAC11(v lorawan.MACVersion) bool { return v == lorawan.LoRaWAN1_1 }

// parseMACFamily reports whether s names LoRaWAN 1.1.
func parseMACFamily(s string) (bool, error) {
	switch s {
	case "1.0.x", "1.0", "1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4":
		return false, nil
	case "1.1", "1.1.0", "1.1.x":
		return true, nil
	}
	return false, fmt.Errorf("%q is not 1.0.x or 1.1", s)
}

func parseModel(s string) (bool, error) {
	switch s {
	case "", "concentratord":
		return false, nil
	case "basic-station", "basicstation":
		return true, nil
	}
	return false, fmt.Errorf("%q is not concentratord or basic-station", s)
}

func parseEUI(s string) (lorawan.EUI64, error) {
	var e lorawan.EUI64
	if s == "" {
		return e, errors.New("missing")
	}
	if err := e.UnmarshalText([]byte(s)); err != nil {
		return e, fmt.Errorf("%q is not an EUI-64 in hex", s)
	}
	return e, nil
}

func parseKey(s string) (lorawan.AES128Key, error) {
	var k lorawan.AES128Key
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%q is not a 128-bit key in hex", s)
	}
	copy(k[:], b)
	return k, nil
}

func addEUI(base lorawan.EUI64, n int) lorawan.EUI64 {
	var v uint64
	for _, b := range base {
		v = v<<8 | uint64(b)
	}
	v += uint64(n)
	var e lorawan.EUI64
	for i := 7; i >= 0; i-- {
		e[i] = byte(v)
		v >>= 8
	}
	return e
}
