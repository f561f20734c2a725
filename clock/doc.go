// Package clock gives the FUOTA engine and the simulator one notion of time
// (ARCHITECTURE.md, principle 1): components never call time.Now or
// time.AfterFunc themselves; they are handed a Clock.
//
// Wall is the real clock, used by `lorafuota serve`; Scaled is the wall
// clock sped up from a given origin, for tests that run the server against a
// sped-up simulator. Virtual is a deterministic discrete-event loop: time
// moves only when the loop runs the next event, so a twelve-hour campaign
// runs as fast as the CPU allows and a run is reproducible from its seed. (*Virtual).RunRealtime drives the same
// loop against the wall clock, optionally sped up, for `lorafuota sim serve`;
// RunRealtimeFrom anchors that speed-up at an origin, so that a Virtual and a
// Scaled clock in another process keep the same time.
//
// # Concurrency model of Virtual
//
// All simulation logic runs on one goroutine, the loop goroutine: the one
// calling Step, RunUntil, RunFor, RunUntilIdle or RunRealtime. Callbacks run
// there, one at a time, in (time, scheduling order). Other goroutines — gRPC
// handlers serving an external client, or the far side of a synchronous call
// a callback makes — may call Now, AfterFunc, Pending, Next and the Timer
// methods at any moment, but they should only read the time and enqueue work
// (AfterFunc(0, f)); f then runs on the loop goroutine. Virtual never holds
// its lock while a callback runs, so a callback may block on a goroutine that
// is itself calling into the clock. The one thing that goroutine must not do
// is wait for the work it enqueued: that work runs only after the callback
// returns.
//
// In a Step or Run loop, work enqueued from other goroutines joins the order
// at the instant it is enqueued; a run stays deterministic as long as such
// work is only enqueued while the loop waits for it (a synchronous call), as
// the in-process simulator does.
//
// This package imports nothing of the project, so the engine can depend on
// it without depending on the simulator.
package clock
