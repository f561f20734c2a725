package boot_test

import (
	"crypto"
	"fmt"
	"math/rand/v2"

	"github.com/lorafuota/lorafuota/image"
	"github.com/lorafuota/lorafuota/simulator/boot"
	"github.com/lorafuota/lorafuota/simulator/flash"
)

// The life of a device with external staging: factory image, an update on
// test, its confirmation after an uplink, and a bad build the watchdog
// reverts.
func Example() {
	internal, _ := flash.New(flash.STM32WL())
	external, _ := flash.New(flash.NORW25Q(flash.MiB))
	parts, err := boot.Plan(boot.ExternalSwap, internal, external, boot.PlanOptions{MaxImage: 64 * flash.KiB})
	if err != nil {
		panic(err)
	}
	key, _ := image.GenerateKey(image.Ed25519, rand.NewChaCha8([32]byte{1}))
	b, err := boot.New(boot.Config{Layout: boot.ExternalSwap, Partitions: parts, TrustedKeys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		panic(err)
	}
	build := func(major uint8, secCnt uint32, bh boot.Behaviour) []byte {
		img, err := boot.FirmwareImage(boot.FirmwareSpec{Version: image.Version{Major: major}, Behaviour: bh, SecurityCounter: secCnt, Key: key, Size: 60 * flash.KiB})
		if err != nil {
			panic(err)
		}
		return img
	}
	show := func(res boot.Result, err error) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("boot: v%v, test %v, swap %v\n", res.Version, res.Test, res.Swap)
	}

	_ = b.Install(build(1, 1, boot.Good))
	show(b.Boot())

	_ = b.Stage(build(2, 2, boot.Good)) // the download
	_ = b.SetPending(false)
	show(b.Boot())
	app, _ := b.RunApp(boot.App{Confirm: boot.ConfirmAfterUplink})
	fmt.Printf("app: joined %v, confirmed %v, security counter %d\n", app.Joined, app.Confirmed, b.NVM().SecurityCounter(0))
	show(b.Boot())

	_ = b.Stage(build(3, 3, boot.Hang))
	_ = b.SetPending(false)
	show(b.Boot())
	app, _ = b.RunApp(boot.App{})
	fmt.Printf("app: reset %v\n", app.Reset)
	show(b.Boot())
	// Output:
	// boot: v1.0.0, test false, swap none
	// boot: v2.0.0, test true, swap test
	// app: joined true, confirmed true, security counter 2
	// boot: v2.0.0, test false, swap none
	// boot: v3.0.0, test true, swap test
	// app: reset watchdog
	// boot: v2.0.0, test false, swap revert
}
