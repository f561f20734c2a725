// Package fuota is the campaign engine of lorafuota. Today it holds the planner:
// NewPlan turns an image size, a region and data rate, an expected loss and a
// device count into data blocks, fragment size, redundancy, class C sessions and
// the duty-cycle lower bound on the transfer, refusing with the field and the
// reason what cannot work (shared/RADIO.md §5, §9; shared/PROTOCOLS.md §1.5).
// The deployment state machine that drives ChirpStack joins it next.
package fuota
