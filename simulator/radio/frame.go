package radio

import (
	"math"
	"slices"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/gw"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lorafuota/lorafuota/clocksync"
)

// Frame is one LoRa transmission.
type Frame struct {
	// Gateway is the transmitting gateway of a downlink; Device the
	// transmitting device of an uplink.
	Gateway lorawan.EUI64
	Device  lorawan.EUI64
	// ID is the downlink id the network server gave the frame, if any.
	ID uint32

	Frequency uint32 // Hz
	DR        int
	PowerDBm  float64 // EIRP

	PHYPayload []byte

	Start   time.Time
	Airtime time.Duration
}

// End is when the frame leaves the air.
func (f Frame) End() time.Time { return f.Start.Add(f.Airtime) }

func (f Frame) clone() Frame {
	f.PHYPayload = slices.Clone(f.PHYPayload)
	return f
}

// Signal is how a frame arrived at one receiver.
type Signal struct {
	RSSI float64 // dBm
	SNR  float64 // dB
}

// Receiver is a device's radio as the medium sees it.
type Receiver interface {
	// Listening reports whether the device's receiver is open on freqHz
	// and dr at the instant a downlink starts.
	Listening(freqHz uint32, dr int, at time.Time) bool
	// Receive hands over a downlink the device heard, at the frame's end.
	Receive(f Frame, s Signal)
}

// RxInfo is one gateway's reception of an uplink, as a gateway reports it
// in gw.UplinkRxInfo.
type RxInfo struct {
	GatewayID lorawan.EUI64
	Frequency uint32 // Hz
	DR        int
	RSSI      float64 // dBm
	SNR       float64 // dB
	// Time is when the gateway finished receiving the frame (its end), as
	// gateways timestamp uplinks; TimeSinceGPSEpoch is the same instant on
	// the GPS time scale, leap seconds included.
	Time              time.Time
	TimeSinceGPSEpoch time.Duration
}

// Proto returns r as ChirpStack's gateway message. RSSI is rounded to whole
// dBm, as the field is an integer.
func (r RxInfo) Proto() *gw.UplinkRxInfo {
	return &gw.UplinkRxInfo{
		GatewayId:         r.GatewayID.String(),
		GwTime:            timestamppb.New(r.Time),
		TimeSinceGpsEpoch: durationpb.New(r.TimeSinceGPSEpoch),
		Rssi:              int32(math.Round(r.RSSI)),
		Snr:               float32(r.SNR),
		CrcStatus:         gw.CRCStatus_CRC_OK,
	}
}

// sinceGPSEpoch returns t on the GPS time scale.
func sinceGPSEpoch(t time.Time) time.Duration {
	return time.Duration(clocksync.GPSSeconds(t))*time.Second + time.Duration(t.Nanosecond())
}

// UplinkHandler is the network server's side of the medium.
type UplinkHandler interface {
	// HandleUplink receives an uplink at its end, once, with the
	// receptions of every gateway that heard it, in gateway-id order. An
	// uplink no gateway heard is not handed over.
	HandleUplink(f Frame, rx []RxInfo)
}

// UplinkHandlerFunc adapts a function to UplinkHandler.
type UplinkHandlerFunc func(f Frame, rx []RxInfo)

// HandleUplink calls h.
func (h UplinkHandlerFunc) HandleUplink(f Frame, rx []RxInfo) { h(f, rx) }
