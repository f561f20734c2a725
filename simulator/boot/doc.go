// Package boot is the bootloader of a simulated LoRaWAN end device: it
// installs, tests, confirms and reverts firmware images as MCUboot does
// (DEVICE.md §5–§7), on the flash models of package flash, and keeps its
// persistent state in the configuration area of package nvm. It also holds
// the simulated firmware (a payload marker that makes a build good, hang or
// fail to join) and the power-cut sweep behind `lorafuota sim powercut`.
//
// # Device API
//
// New checks a Config (layout, partitions from Plan, trusted keys). Boot is
// a reset: it opens the NVM area, finishes an interrupted swap, decides what
// to run and verifies it. The application then downloads into Staging (after
// EraseStaging, or with Stage), requests the update with SetPending, and
// after the next Boot confirms a test image with Confirm once it has reached
// the network. RunApp plays the application of the running build.
//
// # Images and verification
//
// Images are MCUboot images (package image). Before it swaps or boots an
// image the bootloader checks its structure, SHA-256, a KEYHASH naming one
// of the trusted keys, the signature, and a security counter not below the
// one stored in the NVM area; a pending image that fails is refused and its
// request cancelled, and the running image stays. The stored counter rises
// to the running image's only when that image is confirmed, so the image a
// revert returns to always still verifies.
//
// # Trailer
//
// Each slot's last erase sector is its trailer sector; the image area is the
// rest. The trailer ends the sector, MCUboot's fields low to high, each in
// its own 8-byte unit (or the program unit if larger) so that no unit is
// programmed twice between erases: seq (MCUboot's swap_size; here the
// DualBank install sequence number), swap_info, copy_done, image_ok and the
// 16-byte MCUboot magic. A flag is set when it reads 0x01 then erased bytes,
// unset when erased, and bad otherwise, which includes bytes that read
// differently on three reads (metastable cells). SetPending writes the
// staging trailer's fields and the magic last, so a torn request is not a
// request.
//
// # ExternalSwap
//
// The primary slot (internal flash) runs; the secondary slot (external NOR)
// stages. At boot, in MCUboot's order (§6.2): a secondary with magic and
// image_ok asks for a permanent swap, with magic alone for a test swap; a
// primary with magic and copy_done but no image_ok is an unconfirmed test
// image, reverted by a swap back. A swap exchanges the two image areas one
// swap unit (the least common multiple of both sector sizes, 4 KiB here) at
// a time through the scratch area: scratch ← primary, primary ← secondary,
// secondary ← scratch, each an erase and a copy. After each step the
// bootloader records its progress in the NVM area; a boot that finds a swap
// in progress resumes after the last recorded step, with the swap type from
// the record, not from the half-swapped trailers (§6.3). Each step rewrites
// its destination from a source it does not touch, so repeating a step a cut
// interrupted is harmless. When all units are swapped the primary trailer is
// rewritten (swap_info, copy_done, image_ok unless on test, magic), the
// secondary trailer erased and the record cleared. Unlike MCUboot, whose
// status records live in the slot and scratch trailers and which swaps the
// trailer sector specially, the trailer sectors are never swapped and the
// progress lives in the power-fail-safe NVM log.
//
// # DualBank
//
// Both banks run in place. Among the banks whose image verifies, the
// bootloader runs the one with the highest sequence number that is
// confirmed (image_ok set) or pending (magic set, copy_done unset; it writes
// copy_done before running it on test). Install gives the factory image
// sequence number 1 and SetPending the running bank's plus one. A bank with
// no trailer, or with a magic a cut tore, is a last resort with sequence
// number 0. A bank with copy_done set and no image_ok was booted on test and
// not confirmed by this reset: the bootloader erases its first sector, so it
// never verifies again, and runs the other bank. That is the revert; no
// image moves. If copy_done cannot be written because a cut left its unit
// programmed though it reads erased, an earlier boot was already marking the
// bank tried, and tried it is. A tried bank is only erased when the other
// bank verifies: with nothing to go back to it runs again, confirmed if
// image_ok can be written, rather than brick, as ExternalSwap keeps an
// image on test whose old image does not verify.
//
// # Test, confirm, revert
//
// A test image runs once; any reset before Confirm — a power cut, the
// watchdog after a hang, an application that gives up joining — reverts it
// (MaxTestBoots raises the number of boots it gets, counted in the NVM
// area). Confirm writes image_ok, then raises the security counter; a boot
// also raises it for a confirmed image, which repairs a cut between the two.
//
// # Simulated firmware
//
// A simulated firmware payload starts with a 16-byte marker: "LFSIM", format
// version 1, the Behaviour, a zero byte and the version as the image header
// holds it; FirmwarePayload and FirmwareImage build such payloads and
// images. RunApp runs the booted build: Good joins (a DevNonce persisted
// first), sends an uplink (frame counter persisted first) and confirms as
// App.Confirm says; Hang ends in a watchdog reset; FailJoin burns
// DevNonces, gives up and resets; NoConfirm works but never confirms.
//
// # Power-cut sweep
//
// Sweep builds a device with the old image installed and confirmed and the
// new one staged and pending, runs the update (reset, boot or swap, the new
// build's join, uplink and confirmation) once to count its flash operations
// on every flash, then for each operation and cut mode runs it again cut
// there, boots to completion and classifies the device: running the old
// image, the new one, something else (mixed) or nothing (bricked), and
// whether any persistent counter fell below what was written before.
package boot
