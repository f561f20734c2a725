package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A lease is a key holding its owner with a TTL: whoever holds it runs the
// deployment, and when the owner stops renewing it the key expires and
// another replica can acquire it.
var (
	// acquireLeaseScript takes a free lease, or extends the caller's own.
	acquireLeaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)
	renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)
	releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
)

func leaseArgs(id, owner string, ttl time.Duration) error {
	if err := checkID(id); err != nil {
		return err
	}
	if owner == "" {
		return fmt.Errorf("deployment %q: empty lease owner", id)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("deployment %q: lease TTL %v: must be at least 1ms", id, ttl)
	}
	return nil
}

// AcquireLease makes owner the holder of deployment id's lease for ttl, if
// the lease is free or already owner's, and reports whether it is.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	if err := leaseArgs(id, owner, ttl); err != nil {
		return false, fmt.Errorf("store: acquire lease: %w", err)
	}
	ok, err := acquireLeaseScript.Run(ctx, s.client, []string{s.deploymentKey(id, "lease")}, owner, ttl.Milliseconds()).Bool()
	if err != nil {
		return false, fmt.Errorf("store: acquire lease of deployment %q for %q: %w", id, owner, err)
	}
	return ok, nil
}

// RenewLease extends owner's lease of deployment id to ttl from now. It
// reports false when owner no longer holds it; the owner must then stop
// working on the deployment.
func (s *Store) RenewLease(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	if err := leaseArgs(id, owner, ttl); err != nil {
		return false, fmt.Errorf("store: renew lease: %w", err)
	}
	ok, err := renewLeaseScript.Run(ctx, s.client, []string{s.deploymentKey(id, "lease")}, owner, ttl.Milliseconds()).Bool()
	if err != nil {
		return false, fmt.Errorf("store: renew lease of deployment %q for %q: %w", id, owner, err)
	}
	return ok, nil
}

// ReleaseLease gives up owner's lease of deployment id; it does nothing when
// owner does not hold it.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("store: release lease: %w", err)
	}
	if err := releaseLeaseScript.Run(ctx, s.client, []string{s.deploymentKey(id, "lease")}, owner).Err(); err != nil {
		return fmt.Errorf("store: release lease of deployment %q for %q: %w", id, owner, err)
	}
	return nil
}

// LeaseOwner returns who holds deployment id's lease, or ErrNotFound.
func (s *Store) LeaseOwner(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("store: lease owner: %w", err)
	}
	owner, err := s.client.Get(ctx, s.deploymentKey(id, "lease")).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("store: lease of deployment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: lease of deployment %q: %w", id, err)
	}
	return owner, nil
}
