package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/brocaar/lorawan"
	"github.com/redis/go-redis/v9"
)

// Put is a compare-and-set write of one record.
type Put struct {
	// State is a label kept beside the data (the deployment's or device's
	// phase), so lists can filter without decoding Data.
	State string
	Data  []byte
	// ExpectVersion is the version the record must have; 0 means it must not
	// exist yet. A successful write stores ExpectVersion+1.
	ExpectVersion int64
}

// DevicePut is a Put of one device's record within a deployment.
type DevicePut struct {
	DevEUI lorawan.EUI64
	Put
}

// Tx is one transition of a deployment: the writes and log entries that are
// stored together or not at all.
type Tx struct {
	Deployment *Put // nil: the deployment record is not written
	Devices    []DevicePut
	Log        []LogEntry
	// IdempotencyKey, when not empty, makes a repeated Apply of the same
	// transition a no-op that returns the first Result (see the package doc).
	IdempotencyKey string
}

// Result is what Apply stored.
type Result struct {
	DeploymentVersion int64    // new version of the deployment record; 0 if not written
	DeviceVersions    []int64  // new version of each Tx.Devices record, in order
	LogIDs            []string // stream ids of the Tx.Log entries, in order
	// Replayed is set when the idempotency key had been applied before and
	// nothing was written now.
	Replayed bool
}

// Deployment is a stored deployment record.
type Deployment struct {
	ID      string
	State   string
	Data    []byte
	Version int64
}

// Device is a stored device record of a deployment.
type Device struct {
	DevEUI  lorawan.EUI64
	State   string
	Data    []byte
	Version int64
}

// applyScript checks every version first and writes only when all match, so a
// conflict on any record leaves every key untouched. A known idempotency key
// returns the stored result before any check.
//
// KEYS: deployment, devices set, log, idempotency list, then one per device.
// ARGV: idempotency TTL ms (0: none), has deployment (1/0), deployment state,
// data, expected version, device count, then per device DevEUI, state, data,
// expected version, then log cap, log count, then per entry its field count
// and field/value pairs.
var applyScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  local prev = redis.call('LRANGE', KEYS[4], 0, -1)
  if #prev > 0 then
    table.insert(prev, 1, 'replayed')
    return prev
  end
end
local function version(key)
  local v = redis.call('HGET', key, 'version')
  if v then return tonumber(v) end
  return 0
end
local hasDep = ARGV[2] == '1'
local ndev = tonumber(ARGV[6])
if hasDep then
  local cur = version(KEYS[1])
  if cur ~= tonumber(ARGV[5]) then
    return {'conflict', '', ARGV[5], tostring(cur)}
  end
end
for i = 1, ndev do
  local a = 6 + (i - 1) * 4
  local cur = version(KEYS[4 + i])
  if cur ~= tonumber(ARGV[a + 4]) then
    return {'conflict', ARGV[a + 1], ARGV[a + 4], tostring(cur)}
  end
end
local out = {'ok'}
if hasDep then
  local v = tostring(tonumber(ARGV[5]) + 1)
  redis.call('HSET', KEYS[1], 'state', ARGV[3], 'data', ARGV[4], 'version', v)
  out[#out + 1] = v
else
  out[#out + 1] = '0'
end
for i = 1, ndev do
  local a = 6 + (i - 1) * 4
  local v = tostring(tonumber(ARGV[a + 4]) + 1)
  redis.call('HSET', KEYS[4 + i], 'state', ARGV[a + 2], 'data', ARGV[a + 3], 'version', v)
  redis.call('SADD', KEYS[2], ARGV[a + 1])
  out[#out + 1] = v
end
local p = 7 + ndev * 4
local cap = ARGV[p]
local nlog = tonumber(ARGV[p + 1])
p = p + 2
for i = 1, nlog do
  local nf = tonumber(ARGV[p])
  local args = {'XADD', KEYS[3], 'MAXLEN', '~', cap, '*'}
  for j = 1, nf * 2 do args[#args + 1] = ARGV[p + j] end
  out[#out + 1] = redis.call(unpack(args))
  p = p + 1 + nf * 2
end
if ttl > 0 then
  for i = 2, #out do redis.call('RPUSH', KEYS[4], out[i]) end
  redis.call('PEXPIRE', KEYS[4], ttl)
end
return out
`)

// Apply stores tx for deployment id atomically: either every version check
// passes and every write and log entry is stored, or nothing changes and the
// error is a *ConflictError. With an idempotency key that was applied before,
// it changes nothing and returns the first Result with Replayed set.
func (s *Store) Apply(ctx context.Context, id string, tx Tx) (Result, error) {
	if err := checkID(id); err != nil {
		return Result{}, fmt.Errorf("store: apply: %w", err)
	}
	keys := []string{
		s.deploymentKey(id, "deployment"),
		s.deploymentKey(id, "devices"),
		s.deploymentKey(id, "log"),
		s.deploymentKey(id, "tx:"+tx.IdempotencyKey),
	}
	ttl := int64(0)
	if tx.IdempotencyKey != "" {
		ttl = s.idemTTL.Milliseconds()
	}
	args := []any{ttl}
	if d := tx.Deployment; d != nil {
		if d.ExpectVersion < 0 {
			return Result{}, fmt.Errorf("store: apply deployment %q: negative expected version %d", id, d.ExpectVersion)
		}
		args = append(args, 1, d.State, d.Data, d.ExpectVersion)
	} else {
		args = append(args, 0, "", "", 0)
	}
	args = append(args, len(tx.Devices))
	seen := make(map[lorawan.EUI64]bool, len(tx.Devices))
	for _, d := range tx.Devices {
		if seen[d.DevEUI] {
			return Result{}, fmt.Errorf("store: apply deployment %q: device %s written twice in one transition", id, d.DevEUI)
		}
		seen[d.DevEUI] = true
		if d.ExpectVersion < 0 {
			return Result{}, fmt.Errorf("store: apply deployment %q device %s: negative expected version %d", id, d.DevEUI, d.ExpectVersion)
		}
		keys = append(keys, s.deviceKey(id, d.DevEUI))
		args = append(args, d.DevEUI.String(), d.State, d.Data, d.ExpectVersion)
	}
	args = append(args, s.logCap, len(tx.Log))
	for _, e := range tx.Log {
		f := e.encode()
		args = append(args, len(f)/2)
		for _, v := range f {
			args = append(args, v)
		}
	}

	// The index of deployments lives outside the deployment's hash slot, so it
	// cannot be written by the script on a Cluster. Adding the id before the
	// record exists keeps the index a superset: a crash in between leaves an
	// id without a record, which ListDeployments skips, never a running
	// deployment that a restarted server would not find.
	if d := tx.Deployment; d != nil && d.ExpectVersion == 0 {
		if err := s.client.SAdd(ctx, s.prefix+"deployments", id).Err(); err != nil {
			return Result{}, fmt.Errorf("store: apply deployment %q: index: %w", id, err)
		}
	}

	reply, err := applyScript.Run(ctx, s.client, keys, args...).StringSlice()
	if err != nil {
		return Result{}, fmt.Errorf("store: apply deployment %q: %w", id, err)
	}
	if len(reply) == 0 {
		return Result{}, fmt.Errorf("store: apply deployment %q: empty reply", id)
	}
	switch reply[0] {
	case "conflict":
		if len(reply) != 4 {
			return Result{}, fmt.Errorf("store: apply deployment %q: malformed reply %q", id, reply)
		}
		ce := &ConflictError{DeploymentID: id}
		if reply[1] != "" {
			var eui lorawan.EUI64
			if err := eui.UnmarshalText([]byte(reply[1])); err != nil {
				return Result{}, fmt.Errorf("store: apply deployment %q: conflict on %q: %w", id, reply[1], err)
			}
			ce.DevEUI = &eui
		}
		ce.Expected, _ = strconv.ParseInt(reply[2], 10, 64)
		ce.Actual, _ = strconv.ParseInt(reply[3], 10, 64)
		return Result{}, ce
	case "ok", "replayed":
		res, err := parseResult(reply[1:], len(tx.Devices))
		if err != nil {
			return Result{}, fmt.Errorf("store: apply deployment %q: %w", id, err)
		}
		res.Replayed = reply[0] == "replayed"
		return res, nil
	}
	return Result{}, fmt.Errorf("store: apply deployment %q: unexpected reply %q", id, reply[0])
}

// parseResult decodes the version list the apply script returns and stores
// under an idempotency key.
func parseResult(r []string, ndev int) (Result, error) {
	if len(r) < 1+ndev {
		// A replay with another number of devices than the first apply is a
		// caller bug; refuse it rather than misreport versions.
		return Result{}, fmt.Errorf("result of %d values does not cover %d devices", len(r), ndev)
	}
	var res Result
	var err error
	if res.DeploymentVersion, err = strconv.ParseInt(r[0], 10, 64); err != nil {
		return Result{}, fmt.Errorf("deployment version %q: %w", r[0], err)
	}
	for _, v := range r[1 : 1+ndev] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Result{}, fmt.Errorf("device version %q: %w", v, err)
		}
		res.DeviceVersions = append(res.DeviceVersions, n)
	}
	res.LogIDs = r[1+ndev:]
	return res, nil
}

// PutDeployment writes deployment id's record if its version is
// p.ExpectVersion, and returns the new version.
func (s *Store) PutDeployment(ctx context.Context, id string, p Put) (int64, error) {
	res, err := s.Apply(ctx, id, Tx{Deployment: &p})
	return res.DeploymentVersion, err
}

// PutDevice writes the record of device devEUI in deployment id if its version
// is p.ExpectVersion, and returns the new version.
func (s *Store) PutDevice(ctx context.Context, id string, devEUI lorawan.EUI64, p Put) (int64, error) {
	res, err := s.Apply(ctx, id, Tx{Devices: []DevicePut{{DevEUI: devEUI, Put: p}}})
	if err != nil {
		return 0, err
	}
	return res.DeviceVersions[0], nil
}

func (s *Store) deviceKey(id string, devEUI lorawan.EUI64) string {
	return s.deploymentKey(id, "device:"+devEUI.String())
}

// record decodes a record hash; ok is false when the hash is empty.
func record(h map[string]string) (state string, data []byte, version int64, ok bool, err error) {
	if len(h) == 0 {
		return "", nil, 0, false, nil
	}
	version, err = strconv.ParseInt(h["version"], 10, 64)
	if err != nil {
		return "", nil, 0, false, fmt.Errorf("version %q: %w", h["version"], err)
	}
	return h["state"], []byte(h["data"]), version, true, nil
}

// GetDeployment reads deployment id's record.
func (s *Store) GetDeployment(ctx context.Context, id string) (Deployment, error) {
	if err := checkID(id); err != nil {
		return Deployment{}, fmt.Errorf("store: get deployment: %w", err)
	}
	h, err := s.client.HGetAll(ctx, s.deploymentKey(id, "deployment")).Result()
	if err != nil {
		return Deployment{}, fmt.Errorf("store: get deployment %q: %w", id, err)
	}
	state, data, version, ok, err := record(h)
	if err != nil {
		return Deployment{}, fmt.Errorf("store: get deployment %q: %w", id, err)
	}
	if !ok {
		return Deployment{}, fmt.Errorf("store: deployment %q: %w", id, ErrNotFound)
	}
	return Deployment{ID: id, State: state, Data: data, Version: version}, nil
}

// ListDeployments returns the deployments whose state is one of states (all
// when none is given), sorted by id. It reads every indexed record, so
// finished deployments should be deleted once they are no longer needed.
func (s *Store) ListDeployments(ctx context.Context, states ...string) ([]Deployment, error) {
	ids, err := s.client.SMembers(ctx, s.prefix+"deployments").Result()
	if err != nil {
		return nil, fmt.Errorf("store: list deployments: %w", err)
	}
	slices.Sort(ids)
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.deploymentKey(id, "deployment"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list deployments: %w", err)
	}
	var out []Deployment
	for i, id := range ids {
		state, data, version, ok, err := record(cmds[i].Val())
		if err != nil {
			return nil, fmt.Errorf("store: list deployments: %q: %w", id, err)
		}
		// An indexed id without a record is a creation that has not
		// happened (yet); see Apply.
		if !ok || len(states) > 0 && !slices.Contains(states, state) {
			continue
		}
		out = append(out, Deployment{ID: id, State: state, Data: data, Version: version})
	}
	return out, nil
}

// GetDevice reads the record of device devEUI in deployment id.
func (s *Store) GetDevice(ctx context.Context, id string, devEUI lorawan.EUI64) (Device, error) {
	if err := checkID(id); err != nil {
		return Device{}, fmt.Errorf("store: get device %s: %w", devEUI, err)
	}
	h, err := s.client.HGetAll(ctx, s.deviceKey(id, devEUI)).Result()
	if err != nil {
		return Device{}, fmt.Errorf("store: get deployment %q device %s: %w", id, devEUI, err)
	}
	state, data, version, ok, err := record(h)
	if err != nil {
		return Device{}, fmt.Errorf("store: get deployment %q device %s: %w", id, devEUI, err)
	}
	if !ok {
		return Device{}, fmt.Errorf("store: deployment %q device %s: %w", id, devEUI, ErrNotFound)
	}
	return Device{DevEUI: devEUI, State: state, Data: data, Version: version}, nil
}

// ListDevices returns every device record of deployment id, sorted by DevEUI.
func (s *Store) ListDevices(ctx context.Context, id string) ([]Device, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	members, err := s.client.SMembers(ctx, s.deploymentKey(id, "devices")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: list devices of deployment %q: %w", id, err)
	}
	euis := make([]lorawan.EUI64, len(members))
	for i, m := range members {
		if err := euis[i].UnmarshalText([]byte(m)); err != nil {
			return nil, fmt.Errorf("store: list devices of deployment %q: member %q: %w", id, m, err)
		}
	}
	slices.SortFunc(euis, func(a, b lorawan.EUI64) int { return strings.Compare(a.String(), b.String()) })
	cmds := make([]*redis.MapStringStringCmd, len(euis))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, eui := range euis {
			cmds[i] = p.HGetAll(ctx, s.deviceKey(id, eui))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list devices of deployment %q: %w", id, err)
	}
	out := make([]Device, 0, len(euis))
	for i, eui := range euis {
		state, data, version, ok, err := record(cmds[i].Val())
		if err != nil {
			return nil, fmt.Errorf("store: list devices of deployment %q: device %s: %w", id, eui, err)
		}
		if ok {
			out = append(out, Device{DevEUI: eui, State: state, Data: data, Version: version})
		}
	}
	return out, nil
}

// DeleteDeployment removes deployment id: its record, device records, log
// and lease. Idempotency keys expire on their own; SessionCnt counters and
// McAddr allocations are not touched (release the addresses first).
func (s *Store) DeleteDeployment(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("store: delete deployment: %w", err)
	}
	devices := s.deploymentKey(id, "devices")
	var deleted int64
	// WATCH the device set so that a device added while deleting aborts the
	// transaction instead of leaving an orphan record.
	del := func(tx *redis.Tx) error {
		members, err := tx.SMembers(ctx, devices).Result()
		if err != nil {
			return err
		}
		keys := []string{
			s.deploymentKey(id, "deployment"), devices,
			s.deploymentKey(id, "log"), s.deploymentKey(id, "lease"),
		}
		for _, m := range members {
			keys = append(keys, s.deploymentKey(id, "device:"+m))
		}
		cmds, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, keys...)
			return nil
		})
		if err == nil {
			deleted = cmds[0].(*redis.IntCmd).Val()
		}
		return err
	}
	var err error
	for range 10 {
		if err = s.client.Watch(ctx, del, devices); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("store: delete deployment %q: %w", id, err)
	}
	removed, err := s.client.SRem(ctx, s.prefix+"deployments", id).Result()
	if err != nil {
		return fmt.Errorf("store: delete deployment %q: index: %w", id, err)
	}
	if deleted == 0 && removed == 0 {
		return fmt.Errorf("store: delete deployment %q: %w", id, ErrNotFound)
	}
	return nil
}
