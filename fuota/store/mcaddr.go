package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// McAddrPool is an inclusive range of multicast addresses within the
// network's address space, from which AllocateMcAddr picks.
type McAddrPool struct {
	Min, Max lorawan.DevAddr
}

func (p McAddrPool) String() string { return p.Min.String() + "-" + p.Max.String() }

// maxMcAddrProbes bounds the addresses one allocation examines, so that a
// large, nearly full pool cannot block Redis for long.
const maxMcAddrProbes = 65536

// allocateMcAddrScript returns {0, addr} for a new allocation, {1, addr} when
// the owner already holds addr inside the pool, {2, addr} when it holds addr
// outside the pool, and 3 with an empty address when none is free. It probes
// from the pool's hint onwards, so consecutive allocations cost one probe each.
//
// KEYS: addrs (addr -> owner), owners (owner -> addr), next (pool -> hint).
// ARGV: min, max, owner, pool name, probe limit. Addresses are decimal.
var allocateMcAddrScript = redis.NewScript(`
local min, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HGET', KEYS[2], ARGV[3])
if held then
  local a = tonumber(held)
  if a >= min and a <= max then return {1, held} end
  return {2, held}
end
local size = max - min + 1
local start = tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or ARGV[1])
if start < min or start > max then start = min end
local probes = size
if probes > tonumber(ARGV[5]) then probes = tonumber(ARGV[5]) end
for i = 0, probes - 1 do
  local a = start + i
  if a > max then a = a - size end
  local s = string.format('%d', a)
  if redis.call('HEXISTS', KEYS[1], s) == 0 then
    redis.call('HSET', KEYS[1], s, ARGV[3])
    redis.call('HSET', KEYS[2], ARGV[3], s)
    local n = a + 1
    if n > max then n = min end
    redis.call('HSET', KEYS[3], ARGV[4], string.format('%d', n))
    return {0, s}
  end
end
return {3, ''}
`)

// releaseMcAddrScript deletes the allocation of ARGV[1] if ARGV[2] owns it:
// 1 released, 0 already free, -1 owned by someone else.
var releaseMcAddrScript = redis.NewScript(`
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then return 0 end
if owner ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
`)

func addrUint(a lorawan.DevAddr) uint32 { return binary.BigEndian.Uint32(a[:]) }

func uintAddr(n uint32) lorawan.DevAddr {
	var a lorawan.DevAddr
	binary.BigEndian.PutUint32(a[:], n)
	return a
}

func (s *Store) mcAddrKeys() []string {
	return []string{s.prefix + "{mcaddr}:addrs", s.prefix + "{mcaddr}:owners", s.prefix + "{mcaddr}:next"}
}

// AllocateMcAddr picks a free multicast address in pool and records owner (a
// deployment id, or deployment id and group for several groups) as holding it.
// An owner holds one address: asking again returns the same one, so a retried
// allocation after a crash does not leak addresses. It fails with
// ErrExhausted when no free address is found.
func (s *Store) AllocateMcAddr(ctx context.Context, pool McAddrPool, owner string) (lorawan.DevAddr, error) {
	lo, hi := addrUint(pool.Min), addrUint(pool.Max)
	if lo > hi {
		return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s: Min above Max", pool)
	}
	if owner == "" {
		return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s: empty owner", pool)
	}
	reply, err := allocateMcAddrScript.Run(ctx, s.client, s.mcAddrKeys(),
		lo, hi, owner, pool.String(), maxMcAddrProbes).Slice()
	if err != nil {
		return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s for %q: %w", pool, owner, err)
	}
	if len(reply) != 2 {
		return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s for %q: malformed reply %v", pool, owner, reply)
	}
	code, _ := reply[0].(int64)
	addrText, _ := reply[1].(string)
	var addr lorawan.DevAddr
	if code != 3 {
		n, err := strconv.ParseUint(addrText, 10, 32)
		if err != nil {
			return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s for %q: stored address %q: %w", pool, owner, addrText, err)
		}
		addr = uintAddr(uint32(n))
	}
	switch code {
	case 0, 1:
		return addr, nil
	case 2:
		return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s: %q already holds %s outside the pool", pool, owner, addr)
	case 3:
		probed := uint64(hi) - uint64(lo) + 1
		if probed > maxMcAddrProbes {
			return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s for %q: no free address among %d probed: %w", pool, owner, maxMcAddrProbes, ErrExhausted)
		}
		return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s for %q: all %d addresses allocated: %w", pool, owner, probed, ErrExhausted)
	}
	return lorawan.DevAddr{}, fmt.Errorf("store: allocate McAddr in %s for %q: unexpected reply code %v", pool, owner, reply[0])
}

// ReleaseMcAddr frees addr if owner holds it. Releasing a free address is not
// an error, so a release can be retried; releasing another owner's is.
func (s *Store) ReleaseMcAddr(ctx context.Context, addr lorawan.DevAddr, owner string) error {
	keys := s.mcAddrKeys()[:2]
	n, err := releaseMcAddrScript.Run(ctx, s.client, keys, strconv.FormatUint(uint64(addrUint(addr)), 10), owner).Int64()
	if err != nil {
		return fmt.Errorf("store: release McAddr %s of %q: %w", addr, owner, err)
	}
	if n < 0 {
		return fmt.Errorf("store: release McAddr %s: not held by %q", addr, owner)
	}
	return nil
}

// McAddrOwner returns the owner of addr, or ErrNotFound when it is free.
func (s *Store) McAddrOwner(ctx context.Context, addr lorawan.DevAddr) (string, error) {
	owner, err := s.client.HGet(ctx, s.mcAddrKeys()[0], strconv.FormatUint(uint64(addrUint(addr)), 10)).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("store: McAddr %s: %w", addr, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: owner of McAddr %s: %w", addr, err)
	}
	return owner, nil
}
