package clock_test

import (
	"fmt"
	"time"

	"github.com/lorafuota/lorafuota/clock"
)

func ExampleVirtual() {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewVirtual(start)
	say := func(s string) func() {
		return func() { fmt.Println(clock.Since(c, start), s) }
	}
	c.AfterFunc(2*time.Hour, say("class C session ends"))
	c.AfterFunc(time.Hour, func() {
		say("uplink")()
		c.AfterFunc(0, say("answer, same instant"))
	})
	c.AfterFunc(time.Hour, say("timer due with the uplink"))
	if _, err := c.RunUntilIdle(100); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1h0m0s uplink
	// 1h0m0s timer due with the uplink
	// 1h0m0s answer, same instant
	// 2h0m0s class C session ends
}
