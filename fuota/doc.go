// Package fuota is the campaign engine of lorafuota.
//
// NewPlan turns an image size, a region and data rate, an expected loss and a
// device count into data blocks, fragment size, redundancy, class C sessions and
// the duty-cycle lower bound on the transfer, refusing with the field and the
// reason what cannot work (shared/RADIO.md §5, §9; shared/PROTOCOLS.md §1.5).
//
// Deployment is the campaign itself as a pure state machine (docs/ENGINE.md):
// Step takes one event (an uplink answer, an action's result, a timer) at a
// given time and returns the actions to perform (ChirpStack calls, timers,
// verdicts). It reads no clock, starts no goroutine and does no I/O, so the same
// engine runs on the wall clock under a server and on a virtual clock in the
// simulator, and a saved state resumes after a restart.
package fuota
