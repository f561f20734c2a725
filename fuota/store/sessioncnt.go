package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// maxFragIndex is the largest TS004 FragIndex (2 bits).
const maxFragIndex = 3

// A SessionCnt counter stores the last value handed out; absent means none,
// so the first value is 0 (devices start SessionCntPrev at -1).
var nextSessionCntScript = redis.NewScript(`
local last = redis.call('GET', KEYS[1])
local n = 0
if last then n = tonumber(last) + 1 end
if n > 65535 then return -1 end
redis.call('SET', KEYS[1], tostring(n))
return n
`)

// markSessionCntScript only moves the counter forward.
var markSessionCntScript = redis.NewScript(`
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

func (s *Store) sessionCntKey(devEUI lorawan.EUI64, fragIndex uint8) string {
	return s.prefix + "sessioncnt:" + devEUI.String() + ":" + strconv.Itoa(int(fragIndex))
}

func checkFragIndex(devEUI lorawan.EUI64, fragIndex uint8) error {
	if fragIndex > maxFragIndex {
		return fmt.Errorf("device %s FragIndex %d: must be 0..%d", devEUI, fragIndex, maxFragIndex)
	}
	return nil
}

// NextSessionCnt hands out the next TS004 v2 SessionCnt for device devEUI and
// FragIndex fragIndex. A value is never handed out twice, whichever deployment
// asks: devices refuse a SessionCnt not above the last one they used
// (shared/PROTOCOLS.md §1.8). After 65535 it fails with ErrExhausted.
func (s *Store) NextSessionCnt(ctx context.Context, devEUI lorawan.EUI64, fragIndex uint8) (uint16, error) {
	if err := checkFragIndex(devEUI, fragIndex); err != nil {
		return 0, fmt.Errorf("store: next SessionCnt: %w", err)
	}
	n, err := nextSessionCntScript.Run(ctx, s.client, []string{s.sessionCntKey(devEUI, fragIndex)}).Int64()
	if err != nil {
		return 0, fmt.Errorf("store: next SessionCnt of device %s FragIndex %d: %w", devEUI, fragIndex, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("store: next SessionCnt of device %s FragIndex %d: all 65536 values used (TS004 v2 SessionCnt is 16 bits): %w", devEUI, fragIndex, ErrExhausted)
	}
	return uint16(n), nil
}

// PeekSessionCnt returns the last SessionCnt handed out for devEUI and
// fragIndex; ok is false when none was.
func (s *Store) PeekSessionCnt(ctx context.Context, devEUI lorawan.EUI64, fragIndex uint8) (last uint16, ok bool, err error) {
	if err := checkFragIndex(devEUI, fragIndex); err != nil {
		return 0, false, fmt.Errorf("store: peek SessionCnt: %w", err)
	}
	v, err := s.client.Get(ctx, s.sessionCntKey(devEUI, fragIndex)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: peek SessionCnt of device %s FragIndex %d: %w", devEUI, fragIndex, err)
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, false, fmt.Errorf("store: peek SessionCnt of device %s FragIndex %d: stored %q: %w", devEUI, fragIndex, v, err)
	}
	return uint16(n), true, nil
}

// MarkSessionCntUsed records that used was spent elsewhere, for instance by
// ChirpStack's built-in FUOTA before the device came to lorafuota, so that
// NextSessionCnt only hands out larger values. It never moves the counter back.
func (s *Store) MarkSessionCntUsed(ctx context.Context, devEUI lorawan.EUI64, fragIndex uint8, used uint16) error {
	if err := checkFragIndex(devEUI, fragIndex); err != nil {
		return fmt.Errorf("store: mark SessionCnt: %w", err)
	}
	err := markSessionCntScript.Run(ctx, s.client, []string{s.sessionCntKey(devEUI, fragIndex)}, strconv.Itoa(int(used))).Err()
	if err != nil {
		return fmt.Errorf("store: mark SessionCnt %d used for device %s FragIndex %d: %w", used, devEUI, fragIndex, err)
	}
	return nil
}
