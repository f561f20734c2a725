// Package server is `lorafuota serve`: many deployments, each driven by a
// fuota/runner.Runner, behind two gRPC APIs and an HTTP endpoint
// (shared/ARCHITECTURE.md, "The server").
//
// # Pieces
//
// A Manager holds the deployments. It creates one from a Request (plan,
// deployment config, deployment, runner), keeps what the engine's record
// does not hold (the request, its name and times, the image) in the store
// beside it, resumes every deployment that is not done when it opens, and
// owns each running deployment through a store lease that it renews, so two
// servers on one Redis never run the same deployment; a deployment whose
// owner stopped renewing is taken over. The Manager is the integration's
// Handler: it hands each event to the runner of the deployment that manages
// the device, and its Managed method is the integration Filter's, so events
// of other devices are ignored. A device is in at most one running
// deployment. Logs and verdicts go to the store's per-deployment log and to
// slog; a verdict with a firmware version updates the fleet inventory.
//
// The Manager reads time only from the clock.Clock it is given: clock.Wall
// under serve, a clock.Virtual in tests, where the whole server runs in
// virtual time against the simulator, or, with [testing] time_scale, the
// wall clock sped up (clock.Scaled) to keep the time of a sped-up `sim
// serve` in another process. Its own timer (lease renewal, taking over
// deployments, finishing done ones) runs on that clock.
//
// DeploymentService (api/lorafuotapb) is lorafuota's own API and FuotaService
// is ChirpStack's (api.FuotaService), mapped onto the Manager: a ChirpStack
// deployment is a draft until StartDeployment, and its devices, gateways and
// settings change only before. Both need a bearer token (Auth); TLS is
// optional. The HTTP server has /metrics (Prometheus, on a registry of its
// own), /healthz and ChirpStack's HTTP integration endpoint.
//
// Config is the TOML file (`lorafuota config` prints DefaultConfigTOML);
// Run puts everything together from it.
package server
