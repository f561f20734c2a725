// Package flash models the flash memories a simulated LoRaWAN end device and
// its bootloader run on (DEVICE.md §1–§2): a W25Q-like SPI NOR, STM32WL-like
// and nRF52840-like internal flash, or any Profile written by hand.
//
// # Rules
//
// Erase sets bytes to the erased value (0xFF, or 0x00 WithErasedValue);
// programs only move bits away from it. Program offsets and lengths are
// multiples of the program unit; erases are split into aligned erase
// commands. A NOR program stays within its 256-byte page: crossing a page
// boundary is an error unless WithPageWrap emulates the chip's wrap to the
// start of the page. A second program of a location before an erase follows
// the profile's Policy (AND, ECC64, LimitedRewrite), and by default the
// Strict overlay refuses it outright, as MCUboot's simulator does; turn it
// off WithStrict(false) for hardware realism. Rejected calls change nothing.
//
// # Operations and power cuts
//
// Every Program and every erase command is one operation: a NOR page
// program, an internal-flash program of any length, each 4/32/64 KiB command
// an Erase call is split into. Ops counts them; reads and rejected calls do
// not count. A sweep runs an update once on a Snapshot to learn N = Ops(),
// then for every i in 1..N runs it again on a fresh snapshot after
// ArmCut(i, mode).
//
// The cut fires on the i-th operation after arming. Before leaves the flash
// untouched, After completes the operation, and the Torn modes leave part of
// it (all units but the last, one bit, all bits but one, a prefix, random
// bits). The interrupted operation returns an error wrapping ErrPowerCut and
// the flash is off: every call fails with ErrPowerCut until PowerOn, after
// which the content is what the cut left, as a bootloader would find it.
//
// Torn programs leave the touched cells written; in strict mode each such
// cell still accepts one program of exactly the interrupted data (a replay),
// while other policies apply their own rule (STM32 refuses it). Torn erases
// count as an erase cycle and leave every cell that is not fully erased
// marked written, so strict and ECC64 flash refuse to program it until it is
// erased again.
//
// With the Metastable flag, each bit the interrupted operation was changing
// reads as a random value on every Read until an erase or a completed program
// covers the byte. All randomness comes from a generator seeded WithSeed (or
// Seed), carried by snapshots, so runs are reproducible.
//
// # Snapshots
//
// Snapshot shares sectors copy-on-write: it costs a pointer per sector, and
// each side copies a sector (data plus bookkeeping) the first time it
// changes it. Distinct snapshots may run in parallel goroutines.
//
// # Wear and time
//
// Each sector counts its erase cycles; an erase command that would exceed
// the endurance fails with ErrWornOut and leaves the sector as it is.
// Operations add their typical (or WithMaxTiming worst-case) latency to Busy,
// so a device can charge a slot erase against a Class C session.
package flash
