// Package rng derives the simulator's random streams from one seed, so that
// a simulated run is reproducible from that seed alone.
//
// Each component draws from its own named stream. A stream depends only on
// the seed and its name: the same (seed, name) always gives the same
// sequence, on every platform and in every run, and adding, removing or
// reordering other components does not shift it. Name streams after what
// they drive, e.g. "radio/gw-01/70b3d57ed0001234" or "device/0102030405060708".
package rng

import (
	"hash/fnv"
	"math/rand/v2"
)

// Source hands out the named streams of one seed. It holds no mutable state
// and is safe for concurrent use; the streams it returns are not.
type Source struct {
	seed uint64
}

// New returns the Source of seed.
func New(seed uint64) *Source { return &Source{seed: seed} }

// Seed returns the seed s was made from, to be logged or reported so that a
// run can be repeated.
func (s *Source) Seed() uint64 { return s.seed }

// Stream returns a new generator at the start of the stream called name: a
// PCG whose state is derived from the seed and the FNV-1a hash of name.
// Every call starts the stream afresh, so a component should call it once
// and keep the result, and two components should not share a name. The
// derivation is fixed: changing it would change every recorded run.
//
// Like any *rand.Rand, the result is not safe for concurrent use.
func (s *Source) Stream(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	n := h.Sum64()
	// Mix before seeding so that neighbouring seeds and names with similar
	// hashes start far apart in the PCG state space.
	hi := mix64(s.seed ^ mix64(n))
	lo := mix64(n ^ mix64(s.seed+0x9e3779b97f4a7c15))
	return rand.New(rand.NewPCG(hi, lo))
}

// mix64 is the SplitMix64 finaliser: a bijection on uint64 in which every
// input bit affects every output bit.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
