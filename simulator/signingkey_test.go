package simulator_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/simulator"
)

// TestSigningKeyOption: a given signing key replaces the derived one, and
// the rest of the run (keys, DevAddrs) still follows from the seed alone.
func TestSigningKeyOption(t *testing.T) {
	build := func(opts simulator.Options) *simulator.Network {
		t.Helper()
		opts.Seed = 3
		n, err := simulator.New(scenario("C", 2, time.Minute), clock.NewVirtual(epoch), opts)
		must(t, err)
		return n
	}
	derived := build(simulator.Options{})
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	given := build(simulator.Options{SigningKey: key})
	pub, ok := given.SigningKey().Public().(ed25519.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		t.Fatalf("SigningKey is %T %v, want the given key", given.SigningKey(), given.SigningKey().Public())
	}
	if derived.SigningKey().Public().(ed25519.PublicKey).Equal(key.Public()) {
		t.Fatal("the derived key is the given one")
	}
	for i, d := range given.Devices() {
		if _, ok := d.App().(simulator.DeviceApp).Running(); !ok {
			t.Errorf("%s does not boot the factory image signed with the given key", d.Name())
		}
		if a, b := d.DevAddr(), derived.Devices()[i].DevAddr(); a != b {
			t.Errorf("%s: DevAddr %s with the given key, %s without", d.Name(), a, b)
		}
	}
}
