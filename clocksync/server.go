package clocksync

import "time"

// Correction returns the TimeCorrection for a device that reported deviceTime in
// an uplink received at received: the server's GPS time minus the device's, in
// seconds.
//
// Both times travel mod 2^32, so the difference is taken mod 2^32 and read as a
// signed 32-bit number. That is the true correction whenever the device is off by
// less than 2^31 s (68 years), including when the two values straddle the 2116
// wrap. A difference of exactly 2^31 gives math.MinInt32, which LoRa Basics Modem
// v2 reads as "saturated" and asks again; that is the right outcome too.
//
// received should be the best reception time known for the uplink; ReceiveTime
// picks it.
func Correction(deviceTime uint32, received time.Time) int32 {
	return int32(SessionTime32(received) - deviceTime)
}

// MustAnswer reports whether the server has to answer an AppTimeReq: TS003 requires
// an answer when the device set AnsRequired, and otherwise only when the device
// clock needs a correction (|correction| ≥ 1 s, i.e. non-zero in whole seconds).
// Answering more often is harmless but costs a downlink.
func MustAnswer(req *AppTimeReq, correction int32) bool {
	return req.AnsRequired || correction != 0
}

// Answer returns the AppTimeAns for req received at received, or nil when the
// server need not answer (see MustAnswer). The answer echoes the request's token:
// a device applies only an answer whose TokenAns equals its current TokenReq.
func Answer(req *AppTimeReq, received time.Time) *AppTimeAns {
	corr := Correction(req.DeviceTime, received)
	if !MustAnswer(req, corr) {
		return nil
	}
	return &AppTimeAns{TimeCorrection: corr, TokenAns: req.TokenReq}
}

// ReceiveTime picks the reception time of an uplink to compute a correction from,
// most accurate first (the order chirpstack-fuota-server uses):
//
//   - sinceGPSEpoch, the gateway's GPS timestamp (ChirpStack's
//     rx_info.time_since_gps_epoch), exact to the microsecond on a GPS gateway;
//   - gatewayTime, the gateway's own clock (rx_info.gw_time), usually NTP;
//   - serverTime, the network server's reception time (rx_info.ns_time) or the
//     server's clock, late by the backhaul and queueing delay.
//
// A nil or zero gateway value means the gateway did not report it.
func ReceiveTime(sinceGPSEpoch *time.Duration, gatewayTime *time.Time, serverTime time.Time) time.Time {
	if sinceGPSEpoch != nil && *sinceGPSEpoch > 0 {
		return fromGPSDuration(*sinceGPSEpoch)
	}
	if gatewayTime != nil && !gatewayTime.IsZero() {
		return *gatewayTime
	}
	return serverTime
}
