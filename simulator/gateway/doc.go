// Package gateway simulates LoRaWAN gateways as ChirpStack drives them: one
// transmitter each, a just-in-time queue, and the duty-cycle rules of the
// gateway software, ChirpStack Concentratord or LoRa Basics Station
// (shared/RADIO.md §4.2, issue 5 "Gateways and radio").
//
// # Use
//
// New makes a Gateway from a Config on a clock.Clock and, optionally, a
// radio.Medium on which its frames go on air. Schedule takes one downlink
// and answers with the TX-ack status ChirpStack would get; an accepted frame
// is recorded in the duty-cycle ledger of its sub-band at once and handed to
// the medium at its emission time. Network holds several gateways and is
// the ns.Transmitter of the simulated ChirpStack (simulator/ns).
//
// Time on air is region.DownlinkToA of the PHYPayload at the frame's DR, no
// payload CRC, for every frame. The ledgers (one per sub-band, or per
// channel where the table says so) are queryable: Airtime, Headroom,
// DutyCycle.
//
// # Models
//
// Config.Model picks the gateway software:
//
// Concentratord (dutycycle.SlidingWindow) uses the regulatory sub-band table
// (ETSI in EU868; a band found by frequency and EIRP, Concentratord's
// get_band), a sliding one-hour window that also counts frames scheduled for
// later, and refuses with a status:
//
//   - QUEUE_FULL: 32 frames already wait in the JIT queue.
//   - COLLISION_PACKET: a timed frame would come closer than 42.5 ms to
//     another (tx_start_delay 1.5 ms + tx_jit_delay 40 ms + tx_margin_delay
//     1 ms).
//   - TOO_LATE: a timed frame starts less than 42.5 ms from now, or in the
//     past. (Concentratord 4.7.1 itself answers TOO_EARLY for a time in the
//     past, because its 32-bit counter wraps and the time reads as 71 min
//     ahead; TOO_LATE names the cause.)
//   - TOO_EARLY: a frame starts more than 512 s ahead.
//   - DUTY_CYCLE_OVERFLOW: the sub-band's window would overflow, or no band
//     admits the frequency and power; with EnforceDC false (Concentratord
//     without its ENFORCE_DC flag) frames are tracked but never refused.
//   - INTERNAL_ERROR: no airtime for the DR or payload length.
//
// An "immediately" frame goes 80 ms from now (2 × tx_jit_delay) or, if
// that collides, 42.5 ms after the first queued frame it can follow.
//
// Basic Station (dutycycle.OffTime) uses region.BasicStation's table
// (Basic Station 2.0.6 freq2band) and blocks a sub-band for airtime/d from
// the start of each frame. It never sends a negative ack (lorawan-stack#5844):
// a frame it cannot send is dropped and Schedule returns NoAck, the value
// ns.Transmitter uses for "no tx ack" (the status it would have had is
// counted in Stats.Rejected). An "immediately" frame is class C to Basic
// Station: if the band is blocked or the transmitter busy at its slot it is
// pushed back 100 ms (CLASS_C_BACKOFF_BY) up to 10 times
// (CLASS_C_BACKOFF_MAX) and then dropped ("class C out of TX tries"; 2.0.6
// tests its counter before raising it, which lets an eleventh push through:
// ClassCBackoffMax 11 reproduces that). Timed frames get no second chance.
// Frames may be scheduled at most 600 s ahead (TX_MAX_AHEAD). Basic Station decides at transmission time; the simulation
// decides at Schedule with every frame already accepted in view, which is
// the same as long as frames arrive in time order.
//
// # Late GPS times
//
// ChirpStack's multicast scheduler picks a GPS_TIME class C row at or after
// its emit time (storage/multicast.rs sets scheduler_run_after to the emit
// time), so the gateway gets a GPS time already reached, up to a scheduler
// interval late. A strict gateway refuses it, and GPS_TIME multicast would
// never be sent. By default the simulated gateway accepts a GPS time up to
// GPSLateTolerance (2 s: two scheduler intervals, the lock ChirpStack puts on
// picked rows) late and sends the frame as soon as it can, MinLead from now;
// Stats.LateGPS counts such frames. StrictGPSTiming refuses them with
// TOO_LATE instead.
//
// # Concurrency
//
// A Gateway is safe for concurrent use. Frames go on air in clock callbacks,
// which call the medium without the gateway's lock held.
package gateway
