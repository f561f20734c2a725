package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// A spec is what a server keeps of a deployment beside the engine's record:
// the request it was made from, its name, its times. Like the other records
// it is an opaque blob with a version, written with a compare-and-set. Specs
// have an index of their own, so that a restarted server also finds the
// deployments that have no engine record yet (drafts not started). The image
// a deployment sends is stored under its id too, since the engine's record
// holds only its hash.
//
//	{id}:spec   hash: data, version
//	{id}:image  string: the image
//	specs       set of ids with a spec (a superset, as for deployments)

// Spec is a stored spec record.
type Spec struct {
	ID      string
	Data    []byte
	Version int64
}

// putSpecScript writes the spec if its version is ARGV[2], and returns
// {"ok", new version} or {"conflict", stored version}.
var putSpecScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'version')
local cur = 0
if v then cur = tonumber(v) end
if cur ~= tonumber(ARGV[2]) then
  return {'conflict', tostring(cur)}
end
local nv = tostring(cur + 1)
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'version', nv)
return {'ok', nv}
`)

// PutSpec writes deployment id's spec if its version is expectVersion (0:
// it must not exist yet), and returns the new version. A version mismatch
// is a *ConflictError.
func (s *Store) PutSpec(ctx context.Context, id string, data []byte, expectVersion int64) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, fmt.Errorf("store: put spec: %w", err)
	}
	if expectVersion < 0 {
		return 0, fmt.Errorf("store: put spec of deployment %q: negative expected version %d", id, expectVersion)
	}
	// As in Apply, the index is written first and so is a superset.
	if expectVersion == 0 {
		if err := s.client.SAdd(ctx, s.prefix+"specs", id).Err(); err != nil {
			return 0, fmt.Errorf("store: put spec of deployment %q: index: %w", id, err)
		}
	}
	reply, err := putSpecScript.Run(ctx, s.client, []string{s.deploymentKey(id, "spec")}, data, expectVersion).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("store: put spec of deployment %q: %w", id, err)
	}
	if len(reply) != 2 {
		return 0, fmt.Errorf("store: put spec of deployment %q: malformed reply %q", id, reply)
	}
	v, err := strconv.ParseInt(reply[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: put spec of deployment %q: version %q: %w", id, reply[1], err)
	}
	switch reply[0] {
	case "ok":
		return v, nil
	case "conflict":
		return 0, fmt.Errorf("store: put spec: %w", &ConflictError{DeploymentID: id, Expected: expectVersion, Actual: v})
	}
	return 0, fmt.Errorf("store: put spec of deployment %q: unexpected reply %q", id, reply[0])
}

// specRecord decodes a spec hash; ok is false when the hash is empty.
func specRecord(id string, h map[string]string) (Spec, bool, error) {
	if len(h) == 0 {
		return Spec{}, false, nil
	}
	v, err := strconv.ParseInt(h["version"], 10, 64)
	if err != nil {
		return Spec{}, false, fmt.Errorf("version %q: %w", h["version"], err)
	}
	return Spec{ID: id, Data: []byte(h["data"]), Version: v}, true, nil
}

// GetSpec reads deployment id's spec, or ErrNotFound.
func (s *Store) GetSpec(ctx context.Context, id string) (Spec, error) {
	if err := checkID(id); err != nil {
		return Spec{}, fmt.Errorf("store: get spec: %w", err)
	}
	h, err := s.client.HGetAll(ctx, s.deploymentKey(id, "spec")).Result()
	if err != nil {
		return Spec{}, fmt.Errorf("store: get spec of deployment %q: %w", id, err)
	}
	sp, ok, err := specRecord(id, h)
	if err != nil {
		return Spec{}, fmt.Errorf("store: get spec of deployment %q: %w", id, err)
	}
	if !ok {
		return Spec{}, fmt.Errorf("store: spec of deployment %q: %w", id, ErrNotFound)
	}
	return sp, nil
}

// ListSpecs returns every spec, sorted by deployment id.
func (s *Store) ListSpecs(ctx context.Context) ([]Spec, error) {
	ids, err := s.client.SMembers(ctx, s.prefix+"specs").Result()
	if err != nil {
		return nil, fmt.Errorf("store: list specs: %w", err)
	}
	slices.Sort(ids)
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.deploymentKey(id, "spec"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list specs: %w", err)
	}
	var out []Spec
	for i, id := range ids {
		sp, ok, err := specRecord(id, cmds[i].Val())
		if err != nil {
			return nil, fmt.Errorf("store: list specs: %q: %w", id, err)
		}
		if ok {
			out = append(out, sp)
		}
	}
	return out, nil
}

// DeleteSpec removes deployment id's spec and image. The engine's records
// are DeleteDeployment's.
func (s *Store) DeleteSpec(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("store: delete spec: %w", err)
	}
	n, err := s.client.Del(ctx, s.deploymentKey(id, "spec"), s.deploymentKey(id, "image")).Result()
	if err != nil {
		return fmt.Errorf("store: delete spec of deployment %q: %w", id, err)
	}
	removed, err := s.client.SRem(ctx, s.prefix+"specs", id).Result()
	if err != nil {
		return fmt.Errorf("store: delete spec of deployment %q: index: %w", id, err)
	}
	if n == 0 && removed == 0 {
		return fmt.Errorf("store: delete spec of deployment %q: %w", id, ErrNotFound)
	}
	return nil
}

// PutImage stores the image deployment id sends, replacing any before.
func (s *Store) PutImage(ctx context.Context, id string, image []byte) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("store: put image: %w", err)
	}
	if err := s.client.Set(ctx, s.deploymentKey(id, "image"), image, 0).Err(); err != nil {
		return fmt.Errorf("store: put image of deployment %q (%d bytes): %w", id, len(image), err)
	}
	return nil
}

// GetImage returns the image of deployment id, or ErrNotFound.
func (s *Store) GetImage(ctx context.Context, id string) ([]byte, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("store: get image: %w", err)
	}
	b, err := s.client.Get(ctx, s.deploymentKey(id, "image")).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: image of deployment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: image of deployment %q: %w", id, err)
	}
	return b, nil
}
