// Package store is lorafuota's persistence layer: deployments, per-device state,
// an append-only log per deployment, TS004 v2 SessionCnt counters, multicast
// address allocations, ownership leases and the fleet inventory, all in Redis
// through go-redis (shared/ARCHITECTURE.md, "The server").
//
// The store knows nothing of the campaign engine. Deployment and device records
// are opaque blobs with a version and a state label; every write is a
// compare-and-set on that version, and Apply writes a deployment, any number of
// its devices and log entries in one Lua script, so a transition is either
// stored whole or not at all.
//
// # Idempotent transitions
//
// Apply takes an idempotency key. The engine should derive it from what caused
// the transition, never from the wall clock or a random source: the uplink's
// deduplication id, the tx-ack's downlink id, or the id of the timer or action
// being handled. A server that crashes after Apply succeeded but before it acted
// on the result replays the same event on restart; Apply then recognises the
// key, changes nothing and returns the stored Result with Replayed set, so the
// engine can continue with the actions that followed. Keys are kept for
// Config.IdempotencyTTL; a replay after that fails its version checks with
// ErrConflict instead, and the engine reloads the records.
//
// # Keys
//
// Every key starts with Config.Prefix ("lorafuota:" by default). The keys of one
// deployment carry the hash tag {deployment-id}, so that the multi-key scripts
// stay in one slot of a Redis Cluster:
//
//	{id}:deployment      hash: state, data, version
//	{id}:device:<deveui> hash: state, data, version
//	{id}:devices         set of DevEUIs with a record
//	{id}:log             stream, trimmed to about Config.LogCap entries
//	{id}:lease           string: the owning replica, with a TTL
//	{id}:tx:<key>        list: the Result of an applied transition, with a TTL
//	{id}:spec            hash: data, version (a server's own record, see PutSpec)
//	{id}:image           string: the image the deployment sends
//	deployments          set of deployment ids (a superset, see ListDeployments)
//	specs                set of deployment ids with a spec (a superset)
//	sessioncnt:<deveui>:<fragindex>  string: the last SessionCnt handed out
//	{mcaddr}:addrs       hash: McAddr (decimal) -> owner
//	{mcaddr}:owners      hash: owner -> McAddr (decimal)
//	{mcaddr}:next        hash: pool -> next address to probe
//	inventory            hash: DevEUI -> seen-at, firmware and hardware versions
//
// # Embedded Redis
//
// Open with Config.Addr "memory" starts an in-process Redis-compatible server
// (miniredis) and talks to it over loopback with the same client and scripts.
// Its state is lost when the process exits; it is meant for demo and for
// trying serve without a Redis server.
package store
