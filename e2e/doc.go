// Package e2e holds the end-to-end tests: the lorafuota binary built once and
// run as separate processes — `lorafuota serve` with a real Redis, `lorafuota
// sim serve` publishing ChirpStack's events to a real mosquitto, and the CLI
// client (`deploy`, `status`, `inventory`) — all on loopback. Its only code is
// in its tests.
package e2e
