package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// Inventory is what is known of a device's firmware, from TS006 answers or
// from a deployment's result.
type Inventory struct {
	FirmwareVersion uint32
	HardwareVersion uint32
	SeenAt          time.Time // when the versions were reported
	Source          string    // what reported them, e.g. "DevVersionAns"
}

// InventoryEntry is one device of the fleet inventory.
type InventoryEntry struct {
	DevEUI lorawan.EUI64
	Inventory
}

// Inventory values are "seen-at|firmware|hardware|source" with seen-at in
// Unix nanoseconds as 20 zero-padded digits, so that the script can compare
// times as strings (Lua numbers lose nanoseconds).
const seenAtDigits = 20

// putInventoryScript stores ARGV[3] unless the stored value was seen at the
// same time or later.
var putInventoryScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and string.sub(cur, 1, 20) >= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)

func encodeSeenAt(t time.Time) string {
	return fmt.Sprintf("%0*d", seenAtDigits, t.UnixNano())
}

func decodeInventory(v string) (Inventory, error) {
	f := strings.SplitN(v, "|", 4)
	if len(f) != 4 {
		return Inventory{}, fmt.Errorf("stored value %q: want 4 fields", v)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Inventory{}, fmt.Errorf("seen at %q: %w", f[0], err)
	}
	fw, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return Inventory{}, fmt.Errorf("firmware version %q: %w", f[1], err)
	}
	hw, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return Inventory{}, fmt.Errorf("hardware version %q: %w", f[2], err)
	}
	return Inventory{
		FirmwareVersion: uint32(fw),
		HardwareVersion: uint32(hw),
		SeenAt:          time.Unix(0, ns).UTC(),
		Source:          f[3],
	}, nil
}

// PutInventory records inv for devEUI unless what is stored was seen at the
// same time or later, and reports whether it did. Reports arriving out of
// order or twice thus never overwrite newer knowledge.
func (s *Store) PutInventory(ctx context.Context, devEUI lorawan.EUI64, inv Inventory) (bool, error) {
	if inv.SeenAt.Before(time.Unix(0, 0)) || inv.SeenAt.After(time.Unix(0, 1<<63-1)) {
		return false, fmt.Errorf("store: put inventory of device %s: seen at %v: outside 1970..2262", devEUI, inv.SeenAt)
	}
	seen := encodeSeenAt(inv.SeenAt)
	value := fmt.Sprintf("%s|%d|%d|%s", seen, inv.FirmwareVersion, inv.HardwareVersion, inv.Source)
	ok, err := putInventoryScript.Run(ctx, s.client, []string{s.prefix + "inventory"}, devEUI.String(), seen, value).Bool()
	if err != nil {
		return false, fmt.Errorf("store: put inventory of device %s: %w", devEUI, err)
	}
	return ok, nil
}

// GetInventory returns what is known of devEUI, or ErrNotFound.
func (s *Store) GetInventory(ctx context.Context, devEUI lorawan.EUI64) (Inventory, error) {
	v, err := s.client.HGet(ctx, s.prefix+"inventory", devEUI.String()).Result()
	if errors.Is(err, redis.Nil) {
		return Inventory{}, fmt.Errorf("store: inventory of device %s: %w", devEUI, ErrNotFound)
	}
	if err != nil {
		return Inventory{}, fmt.Errorf("store: inventory of device %s: %w", devEUI, err)
	}
	inv, err := decodeInventory(v)
	if err != nil {
		return Inventory{}, fmt.Errorf("store: inventory of device %s: %w", devEUI, err)
	}
	return inv, nil
}

// ListInventory returns about count entries of the fleet inventory from
// cursor (0 to start) and the cursor to continue with, 0 when done. As with
// HSCAN, an entry may be returned more than once and the order is arbitrary.
func (s *Store) ListInventory(ctx context.Context, cursor uint64, count int64) ([]InventoryEntry, uint64, error) {
	kv, next, err := s.client.HScan(ctx, s.prefix+"inventory", cursor, "", count).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("store: list inventory from cursor %d: %w", cursor, err)
	}
	out := make([]InventoryEntry, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		var e InventoryEntry
		if err := e.DevEUI.UnmarshalText([]byte(kv[i])); err != nil {
			return nil, 0, fmt.Errorf("store: list inventory: field %q: %w", kv[i], err)
		}
		if e.Inventory, err = decodeInventory(kv[i+1]); err != nil {
			return nil, 0, fmt.Errorf("store: list inventory: device %s: %w", e.DevEUI, err)
		}
		out = append(out, e)
	}
	return out, next, nil
}
