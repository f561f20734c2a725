package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/brocaar/lorawan"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/region"
)

// Request is a deployment to create.
type Request struct {
	// Name is for people.
	Name  string
	Image []byte
	// Devices are named one by one; Selector adds the devices ChirpStack
	// lists for it. Fields of a DeviceRequest left empty are read from
	// ChirpStack when the deployment starts.
	Devices  []DeviceRequest
	Selector *Selector
	Options  Options
	// ApplicationID is the application of the multicast group; empty takes
	// the selector's, the configured one, or the devices' own.
	ApplicationID string
	// DeviceProfileID is kept for ChirpStack's FuotaService; when set, the
	// devices ChirpStack knows must have that profile.
	DeviceProfileID string
	// Draft creates the deployment without starting it.
	Draft bool
	// ChirpStack is the FuotaDeployment a FuotaService client sent
	// (protojson, without the payload), kept to be given back.
	ChirpStack json.RawMessage
}

// DeviceRequest is a device of a deployment.
type DeviceRequest struct {
	DevEUI         lorawan.EUI64    `json:"dev_eui"`
	MACVersion     fuota.MACVersion `json:"mac_version,omitempty"`
	Class          fuota.Class      `json:"class,omitempty"`
	UplinkInterval time.Duration    `json:"uplink_interval,omitempty"`
}

// Selector picks the devices of an application, with the device profile
// when given, carrying every tag.
type Selector struct {
	ApplicationID   string            `json:"application_id"`
	DeviceProfileID string            `json:"device_profile_id,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// Options are a deployment's radio and protocol choices; zero values take
// the Manager's Defaults.
type Options struct {
	// Region is a LoRaWAN region name, e.g. "EU868".
	Region       string `json:"region,omitempty"`
	DR           *int   `json:"dr,omitempty"`
	FrequencyHz  uint32 `json:"frequency_hz,omitempty"`
	FragmentSize int    `json:"fragment_size,omitempty"`
	// Redundancy is the parity fragments per block; RedundancyPercent
	// sizes them from the fragments of the largest block instead
	// (ChirpStack's fragmentation_redundancy_percentage). With neither they
	// are sized from ExpectedLoss.
	Redundancy        int     `json:"redundancy,omitempty"`
	RedundancyPercent int     `json:"redundancy_percent,omitempty"`
	ExpectedLoss      float64 `json:"expected_loss,omitempty"`
	Target            float64 `json:"target,omitempty"`
	// DutyCycleModel is "sliding-window"/"concentratord" or
	// "off-time"/"basic-station".
	DutyCycleModel  string          `json:"duty_cycle_model,omitempty"`
	Margin          time.Duration   `json:"ns_margin,omitempty"`
	McGroupID       uint8           `json:"mc_group_id,omitempty"`
	FirmwareVersion uint32          `json:"firmware_version,omitempty"`
	RetryTimeout    time.Duration   `json:"retry_timeout,omitempty"`
	RetryCount      int             `json:"retry_count,omitempty"`
	SetupTimeout    time.Duration   `json:"setup_timeout,omitempty"`
	BlockAckDelay   uint8           `json:"block_ack_delay,omitempty"`
	Descriptor      applayer.Bytes4 `json:"descriptor"`
	RebootDelay     time.Duration   `json:"reboot_delay,omitempty"`
	RebootGrace     time.Duration   `json:"reboot_grace,omitempty"`
	ConfirmByReset  bool            `json:"confirm_by_reset,omitempty"`
	StatusDelay     time.Duration   `json:"status_delay,omitempty"`
	// SessionClass is the multicast session's class: "" or C, or B, with
	// its ping-slot periodicity (nil: the engine's choice).
	SessionClass        fuota.Class `json:"session_class,omitempty"`
	PingSlotPeriodicity *uint8      `json:"ping_slot_periodicity,omitempty"`
	// Gateways (EUI-64 hex) carry the multicast; empty takes the
	// configured ones.
	Gateways []string `json:"gateways,omitempty"`
}

// Defaults fill a deployment's zero Options ([campaign] in the
// configuration).
type Defaults struct {
	Region         region.Name
	DR             int
	FrequencyHz    uint32
	FragmentSize   int
	Redundancy     int
	ExpectedLoss   float64
	Target         float64
	DutyCycleModel dutycycle.Model
	Margin         time.Duration
	Retry          fuota.RetryPolicy
	SetupTimeout   time.Duration
	UnicastSpacing time.Duration
	StartMargin    time.Duration
	RebootDelay    time.Duration
	RebootGrace    time.Duration
	StatusDelay    time.Duration
	BlockAckDelay  uint8
}

// planRequest is the plan request of the defaults alone.
func (d Defaults) planRequest(imageSize, devices int) fuota.PlanRequest {
	return fuota.PlanRequest{
		ImageSize: imageSize, Region: d.Region, DR: d.DR, FragmentSize: d.FragmentSize, Redundancy: d.Redundancy,
		ExpectedLoss: d.ExpectedLoss, Devices: devices, Target: d.Target, FrequencyHz: d.FrequencyHz,
		DutyCycleModel: d.DutyCycleModel, Margin: d.Margin,
	}
}

// Plan plans a campaign of imageSize bytes for devices devices with o over
// the defaults. Errors name the option.
func (d Defaults) Plan(o Options, imageSize, devices int) (*fuota.Plan, error) {
	req, err := d.merge(o, imageSize, devices)
	if err != nil {
		return nil, err
	}
	if o.RedundancyPercent > 0 {
		// Size the parity from the fragments: plan without, then again.
		bare := req
		bare.Redundancy, bare.ExpectedLoss = 0, 0
		p, err := fuota.NewPlan(bare)
		if err != nil {
			return nil, invalidErr("options", err)
		}
		most := 0
		for _, b := range p.Blocks {
			most = max(most, b.NbFrag)
		}
		req.Redundancy = int(math.Ceil(float64(most) * float64(o.RedundancyPercent) / 100))
	}
	p, err := fuota.NewPlan(req)
	if err != nil {
		return nil, invalidErr("options", err)
	}
	return p, nil
}

// merge returns the plan request of o over the defaults.
func (d Defaults) merge(o Options, imageSize, devices int) (fuota.PlanRequest, error) {
	req := d.planRequest(imageSize, devices)
	req.Gateways = len(o.Gateways)
	if o.Region != "" {
		name, err := region.ParseName(o.Region)
		if err != nil {
			return req, invalidErr("options.region", err)
		}
		req.Region = name
		if name != d.Region && o.FrequencyHz == 0 {
			req.FrequencyHz = 0 // the region's RX2, not the default region's frequency
		}
	}
	if o.DR != nil {
		req.DR = *o.DR
	}
	if o.FrequencyHz != 0 {
		req.FrequencyHz = o.FrequencyHz
	}
	if o.FragmentSize != 0 {
		req.FragmentSize = o.FragmentSize
	}
	switch {
	case o.RedundancyPercent < 0 || o.RedundancyPercent > 100:
		return req, invalid("options.redundancy_percent", "%d: must be 0..100", o.RedundancyPercent)
	case o.Redundancy < 0:
		return req, invalid("options.redundancy", "%d: must not be negative", o.Redundancy)
	case o.Redundancy > 0 && o.RedundancyPercent > 0:
		return req, invalid("options.redundancy", "give redundancy or redundancy_percent, not both")
	case o.Redundancy > 0:
		req.Redundancy = o.Redundancy
	}
	if o.ExpectedLoss != 0 {
		req.ExpectedLoss = o.ExpectedLoss
	}
	if o.Target != 0 {
		req.Target = o.Target
	}
	if o.DutyCycleModel != "" {
		m, err := dutycycle.ParseModel(o.DutyCycleModel)
		if err != nil {
			return req, invalidErr("options.duty_cycle_model", err)
		}
		req.DutyCycleModel = m
	}
	if o.Margin < 0 {
		return req, invalid("options.ns_margin", "%v: must not be negative", o.Margin)
	}
	if o.Margin != 0 {
		req.Margin = o.Margin
	}
	return req, nil
}

// deploymentConfig is the engine's configuration of a deployment.
func (d Defaults) deploymentConfig(id string, o Options, plan *fuota.Plan, img []byte, devices []fuota.DeviceConfig,
	gateways []string, rnd io.Reader) (fuota.DeploymentConfig, error) {
	switch {
	case o.RetryCount < 0:
		return fuota.DeploymentConfig{}, invalid("options.retry_count", "%d: must not be negative", o.RetryCount)
	case o.RetryTimeout < 0:
		return fuota.DeploymentConfig{}, invalid("options.retry_timeout", "%v: must not be negative", o.RetryTimeout)
	case o.SetupTimeout < 0:
		return fuota.DeploymentConfig{}, invalid("options.setup_timeout", "%v: must not be negative", o.SetupTimeout)
	case o.RebootDelay < 0:
		return fuota.DeploymentConfig{}, invalid("options.reboot_delay", "%v: must not be negative", o.RebootDelay)
	case o.RebootGrace < 0:
		return fuota.DeploymentConfig{}, invalid("options.reboot_grace", "%v: must not be negative", o.RebootGrace)
	case o.StatusDelay < 0:
		return fuota.DeploymentConfig{}, invalid("options.status_delay", "%v: must not be negative", o.StatusDelay)
	}
	var key lorawan.AES128Key
	if _, err := io.ReadFull(rnd, key[:]); err != nil {
		return fuota.DeploymentConfig{}, fmt.Errorf("making the group key: %w", err)
	}
	cfg := fuota.DeploymentConfig{
		ID: id, Plan: plan, Image: img, FirmwareVersion: o.FirmwareVersion, Devices: devices,
		McGroupID: o.McGroupID, McKey: &key,
		Retry: fuota.RetryPolicy{
			Count:   cmp.Or(o.RetryCount, d.Retry.Count),
			Timeout: cmp.Or(o.RetryTimeout, d.Retry.Timeout),
		},
		SetupTimeout:        cmp.Or(o.SetupTimeout, d.SetupTimeout),
		StartMargin:         d.StartMargin,
		BlockAckDelay:       cmp.Or(o.BlockAckDelay, d.BlockAckDelay),
		Descriptor:          o.Descriptor,
		RebootDelay:         cmp.Or(o.RebootDelay, d.RebootDelay),
		RebootGrace:         cmp.Or(o.RebootGrace, d.RebootGrace),
		StatusDelay:         cmp.Or(o.StatusDelay, d.StatusDelay),
		UnicastSpacing:      d.UnicastSpacing,
		SessionClass:        o.SessionClass,
		ConfirmByReset:      o.ConfirmByReset,
		PingSlotPeriodicity: o.PingSlotPeriodicity,
	}
	for _, g := range gateways {
		cfg.Gateways = append(cfg.Gateways, fuota.GatewayConfig{ID: g})
	}
	return cfg, nil
}

// specFormat is the version of the stored spec's layout.
const specFormat = 1

// spec is what the Manager stores of a deployment beside the engine's
// record (store.PutSpec).
type spec struct {
	Format          int             `json:"format"`
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	StartedAt       time.Time       `json:"started_at,omitzero"`
	CompletedAt     time.Time       `json:"completed_at,omitzero"`
	ApplicationID   string          `json:"application_id,omitempty"`
	DeviceProfileID string          `json:"device_profile_id,omitempty"`
	Selector        *Selector       `json:"selector,omitempty"`
	Devices         []DeviceRequest `json:"devices"`
	Options         Options         `json:"options"`
	ImageSize       int             `json:"image_size"`
	// Phases are when the deployment entered each phase.
	Phases []PhaseMark `json:"phases,omitempty"`
	// Canceled is set for a draft cancelled before its start, with the
	// reason; a started deployment's cancel is the engine's.
	Canceled     bool   `json:"canceled,omitempty"`
	CancelReason string `json:"cancel_reason,omitempty"`
	// ChirpStack is the FuotaDeployment a FuotaService client sent.
	ChirpStack json.RawMessage `json:"chirpstack,omitempty"`
}

// PhaseMark is when a deployment entered a phase.
type PhaseMark struct {
	Phase fuota.Phase `json:"phase"`
	At    time.Time   `json:"at"`
}

func (sp *spec) marshal() ([]byte, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: marshal spec: %w", sp.ID, err)
	}
	return b, nil
}

func unmarshalSpec(b []byte) (*spec, error) {
	var sp spec
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, fmt.Errorf("unmarshal spec: %w", err)
	}
	if sp.Format != specFormat {
		return nil, fmt.Errorf("unmarshal spec %s: format %d, want %d", sp.ID, sp.Format, specFormat)
	}
	return &sp, nil
}

// deviceSet is the DevEUIs of a spec.
func (sp *spec) deviceSet() map[lorawan.EUI64]bool {
	out := make(map[lorawan.EUI64]bool, len(sp.Devices))
	for _, d := range sp.Devices {
		out[d.DevEUI] = true
	}
	return out
}

// mark notes that the deployment entered phase at t, and reports whether
// it had not before.
func (sp *spec) mark(phase fuota.Phase, t time.Time) bool {
	for _, m := range sp.Phases {
		if m.Phase == phase {
			return false
		}
	}
	sp.Phases = append(sp.Phases, PhaseMark{Phase: phase, At: t})
	return true
}
