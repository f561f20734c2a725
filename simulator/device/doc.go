// Package device is the application layer of a simulated LoRaWAN end device:
// the four FUOTA packages (TS003 clock sync, TS005 remote multicast setup,
// TS004 fragmented data block transport, TS006 firmware management) on top of
// the device's bootloader (package boot) and flash (package flash), with the
// behaviours of the stacks in the field (Profile).
//
// # Driving a device
//
// A Device is transport-agnostic. HandleDownlink hands it a received
// FRMPayload, already decrypted, with the multicast group it came on (nil for
// unicast); it answers through its Uplinker, always from a callback on its
// clock, never from inside HandleDownlink. The answers of a frame go out in
// one uplink on the frame's FPort; FragSessionStatusAns and
// FragDataBlockReceivedReq wait a random BlockAckDelay first, in uplinks of
// their own. The device also sends on its own: periodic AppTimeReq,
// application uplinks every UplinkInterval, repeated FragDataBlockReceivedReq.
// A radio medium asks Listening whether the device would hear a frame and
// Class which class it is in.
//
// All time comes from the clock and all randomness from named simulator/rng
// streams, so a run repeats from its seed. A Device is not safe for
// concurrent use: call it from the clock's loop.
//
// # Time
//
// The device has its own clock: ClockOffset ahead of the simulation clock at
// New, gaining ClockDriftPPM, corrected by each TS003 AppTimeAns whose token
// answers its current request. Session windows (TS005 SessionTime) and
// reboot times (TS006) are GPS seconds by that clock; a device whose clock is
// off opens its window at the wrong simulation time, which is what TS003 is
// for.
//
// # Multicast
//
// McGroupSetupReq gives McKey encrypted under McKEKey, derived from GenAppKey
// (LoRaWAN 1.0.x) or AppKey (1.1, Config.LoRaWAN11). McGroup exposes McKey,
// McAppSKey and McNwkSKey, so that the network side can encrypt and sign the
// group's frames; this package gets them decrypted. Multicast frames are
// accepted for a group's McAddr with a frame counter within MinMcFCnt..
// MaxMcFCnt and above the last one; only FragSessionStatusReq and
// DataFragment are taken on multicast.
//
// In class C the device listens continuously on the session's frequency and
// data rate while its clock is inside the window. Class B is simplified: the
// device listens the same way for the whole class B window (at any frequency
// when DLFrequ is 0) instead of opening ping slots. Class A receive windows
// belong to the MAC layer; for use without one, Config.RXWindow approximates
// them (any frequency and data rate for a while after each uplink).
//
// # Fragment staging without rewrites
//
// An accepted FragSessionSetupReq erases the bootloader's staging slot (and
// Config.Scratch if set). The erase takes the flash's time (flash Busy): the
// answer goes out when it is done, and the device hears nothing meanwhile,
// so a setup sent just before SessionTime makes it miss the first fragments.
//
// The TS004 decoder (fragmentation.Decoder) writes into the slot through a
// write-once row store. Row i (fragment N = i+1) is at i·FragSize from the
// start of the slot, so the reassembled block is the MCUboot image in place.
// A program unit (1 byte on NOR, 4 on nRF52, 8 on STM32WL) that two rows
// share waits in RAM until both are known and is then programmed once; the
// byte after the block's end is erased filler. The decoder's scratch records
// (pivot rows) are appended at whole program units after the block in the
// staging slot, or in Config.Scratch. No location is programmed twice between
// erases: strict flash passes.
//
// # RAM
//
// A session's RAM is the decoder's (fragmentation.Decoder.Memory for its Lmax:
// pivot matrix, column bookkeeping, fragment bitmaps, row buffers) plus the
// unit buffers: one program unit and its index per unit that two rows share,
// at most 2·Lmax+2 (a waiting unit sits next to a missing row). A setup is
// refused with "not enough memory" when the total exceeds Config.RAMBudget for
// Config.MaxLost, or when no Lmax fits if MaxLost is 0; the same bit covers a
// block larger than the staging slot, scratch space for Lmax records, and the
// FRAG_MAX_NB / FRAG_MIN_SIZE / FRAG_MAX_SIZE limits. A row that would need a
// unit buffer beyond the reserve is dropped (counted as lost).
//
// # Verification
//
// Once the block is complete: the TS004 v2 MIC (DataBlockIntKey from the same
// root key as McRootKey), a CRC-32 for information, then image.Verify with the
// trusted key the image's KEYHASH names: structure, SHA-256, signature,
// security counter not below the stored one, vendor and class. A failed MIC,
// hash, signature or security counter makes UpImageStatus 1, a wrong vendor or
// class 2, a valid image 3 (LastVerification gives the reason). Every data
// block is taken to be a firmware image.
//
// # Reboot
//
// DevRebootTimeReq and DevRebootCountdownReq program one reboot (cancel and
// "as soon as possible" included). At the reboot a valid image is requested on
// test (boot.SetPending), and the device resets: boot, run the firmware as
// its payload marker says (boot.RunApp), and boot again while it resets (a
// hang ends in the watchdog, a failed join in a reset; the bootloader
// reverts an unconfirmed image). Everything in RAM is lost — groups,
// sessions, the image status — while flash, the NVM counters and the clock's
// corrections stay. DevVersionAns then reports the firmware that runs
// (FirmwareVersion).
//
// # Profiles
//
// Spec follows the specifications. LoRaMacNode, STM32CubeWL and
// LoRaBasicsModem reproduce what shared/PROTOCOLS.md §5 documents of those
// stacks; see each constant. Versions selects each package's version within
// what the profile supports.
package device
