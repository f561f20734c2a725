// Package nvm is the persistent configuration area of a simulated LoRaWAN end
// device (DEVICE.md §9): the counters that must never go backwards — the
// LoRaWAN DevNonce and frame counters, the TS004 SessionCntPrev values, the
// bootloader's security counter — and a few device settings. Every firmware
// version, old or new, reads the same area, so its format is kept simple and
// forward compatible, and an update or a rollback never touches it.
//
// # Layout
//
// The store lives on a flash.Region of two or more equal erase sectors. Each
// sector is a log: a header (magic "LFNV", format version, sequence number,
// CRC-32) followed by records appended in order. A record is a key, an
// optional name, a value and a CRC-32 over all of them and the sector's
// sequence number, padded with the erased value to the write alignment
// (8 bytes, or the program unit if larger), so a record never shares a
// program unit with another and no unit is ever programmed twice between
// erases, as STM32 ECC64 and nRF52 write limits require. The sector with the
// highest sequence number and a valid header is the active one; the value of
// a key is its last valid record there.
//
// When the active sector is full, Set writes the live values, one record
// each, into the next sector (round robin, which spreads the wear), and only
// then its header with the next sequence number: until that header is
// complete the old sector stays active and holds the same values. The old
// sector is erased only when its turn comes again. Sequence numbers do not
// wrap: a sector with the last one, which only flash the store did not
// write can hold, is never compacted; its values stay readable and writes
// fail with ErrFull once it is full.
//
// # Power cuts
//
// A write that a power cut interrupts returns an error and may leave a torn
// record: it fails its CRC and the previous value stands, so a reader sees
// either the old or the new value, never anything else. Open reads the active
// sector three times and treats bytes that read differently (metastable
// cells) as torn, so an interrupted record cannot be taken as valid on one
// boot and as invalid on the next. Whenever Open finds anything after the
// last valid record that is not cleanly erased, it compacts the live values
// into a fresh sector before returning, which leaves the torn bytes behind
// for good. A program the flash refuses because a torn operation left a cell
// written is handled the same way.
//
// # Monotonic counters
//
// The typed setters refuse to lower a counter (ErrBackwards) and write
// nothing when the value does not change. Unknown keys, written by newer
// firmware, are kept verbatim through compaction.
package nvm
