package server

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/integration"
)

// stats are the Manager's counters since it was made.
type stats struct {
	mu                                                  sync.Mutex
	verdicts                                            map[fuota.Outcome]uint64
	fragments, enqueueErrors, runnerErrors, storeErrors uint64
}

func (s *stats) add(p *uint64) {
	s.mu.Lock()
	*p++
	s.mu.Unlock()
}

func (s *stats) verdict(o fuota.Outcome) {
	s.mu.Lock()
	s.verdicts[o]++
	s.mu.Unlock()
}

// account counts what a deployment sent since it was last counted. e.mu is
// held.
func (m *Manager) account(e *entry, p fuota.Progress) {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	if d := p.FragmentsSent - e.counted.fragments; d > 0 {
		m.stats.fragments += uint64(d)
	}
	if d := p.EnqueueErrors - e.counted.enqueueErrors; d > 0 {
		m.stats.enqueueErrors += uint64(d)
	}
	e.counted = progressCount{fragments: p.FragmentsSent, enqueueErrors: p.EnqueueErrors}
}

// Counts are the Manager's numbers for the metrics.
type Counts struct {
	// Deployments counts the deployments this server knows by phase;
	// drafts are "draft", deployments run by another server "remote".
	Deployments map[string]int
	// DevicesPending counts the devices without a verdict in the
	// deployments running here.
	DevicesPending int
	// The counters run from the Manager's start: verdicts by outcome,
	// fragments sent and enqueue errors of the deployments running here,
	// runner failures, and failed writes of logs, specs and inventory.
	Verdicts                                                map[fuota.Outcome]uint64
	FragmentsSent, EnqueueErrors, RunnerErrors, StoreErrors uint64
}

// Counts returns the Manager's numbers.
func (m *Manager) Counts() Counts {
	c := Counts{Deployments: map[string]int{}}
	for _, e := range m.snapshot() {
		e.mu.Lock()
		state, r, phase := e.state, e.run, e.phase
		e.mu.Unlock()
		switch state {
		case stateDraft:
			c.Deployments["draft"]++
		case stateStarting:
			c.Deployments[string(fuota.PhaseNew)]++
		case stateRunning:
			st := r.Status()
			e.mu.Lock()
			m.account(e, st.Progress)
			e.mu.Unlock()
			c.Deployments[string(st.Phase)]++
			c.DevicesPending += st.Progress.Devices
			for _, n := range st.Progress.Outcomes {
				c.DevicesPending -= n
			}
		case stateRemote:
			c.Deployments["remote"]++
		case stateFinished:
			c.Deployments[string(phase)]++
		}
	}
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	c.Verdicts = make(map[fuota.Outcome]uint64, len(m.stats.verdicts))
	for o, n := range m.stats.verdicts {
		c.Verdicts[o] = n
	}
	c.FragmentsSent, c.EnqueueErrors = m.stats.fragments, m.stats.enqueueErrors
	c.RunnerErrors, c.StoreErrors = m.stats.runnerErrors, m.stats.storeErrors
	return c
}

// EventSource is an integration source whose counters the metrics show:
// *integration.MQTTSource and *integration.HTTPHandler.
type EventSource interface {
	Stats() integration.Stats
}

// metricPhases are the deployment phases always reported, so that a
// dashboard sees zeros rather than gaps.
var metricPhases = []string{"draft", string(fuota.PhaseNew), string(fuota.PhaseSetup), string(fuota.PhaseSession),
	string(fuota.PhaseMulticast), string(fuota.PhaseStatus), string(fuota.PhaseDone), string(fuota.PhaseCanceled), "remote"}

var metricOutcomes = []fuota.Outcome{fuota.Updated, fuota.Received, fuota.Failed, fuota.Canceled, fuota.Skipped}

// collector exposes a Manager and its event sources to Prometheus.
type collector struct {
	m       *Manager
	sources map[string]EventSource

	deployments, pending, verdicts, fragments, enqueueErrors *prometheus.Desc
	runnerErrors, storeErrors, received, dropped             *prometheus.Desc
}

// NewRegistry returns a Prometheus registry of the server's own (not the
// global one) with the Manager's metrics, those of the event sources by
// name ("mqtt", "http"), and the Go and process collectors.
func NewRegistry(m *Manager, sources map[string]EventSource) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(m, sources),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newCollector(m *Manager, sources map[string]EventSource) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("lorafuota_"+name, help, labels, nil)
	}
	return &collector{
		m: m, sources: sources,
		deployments:   d("deployments", "Deployments known to this server, by phase (draft: not started; remote: run by another server).", "phase"),
		pending:       d("devices_pending", "Devices without a verdict in the deployments running on this server."),
		verdicts:      d("device_verdicts_total", "Device verdicts issued by this server, by outcome.", "outcome"),
		fragments:     d("fragments_sent_total", "Multicast fragments handed to ChirpStack by this server."),
		enqueueErrors: d("enqueue_errors_total", "Multicast enqueues ChirpStack refused."),
		runnerErrors:  d("runner_errors_total", "Failures of a deployment's step or of persisting it."),
		storeErrors:   d("store_errors_total", "Failed writes of deployment logs, specs and the inventory."),
		received:      d("integration_events_received_total", "ChirpStack integration events taken in, by source.", "source"),
		dropped:       d("integration_events_dropped_total", "ChirpStack integration events not handed on, by source and reason.", "source", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.deployments, c.pending, c.verdicts, c.fragments, c.enqueueErrors,
		c.runnerErrors, c.storeErrors, c.received, c.dropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counts := c.m.Counts()
	for _, p := range metricPhases {
		ch <- prometheus.MustNewConstMetric(c.deployments, prometheus.GaugeValue, float64(counts.Deployments[p]), p)
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(counts.DevicesPending))
	for _, o := range metricOutcomes {
		ch <- prometheus.MustNewConstMetric(c.verdicts, prometheus.CounterValue, float64(counts.Verdicts[o]), string(o))
	}
	ch <- prometheus.MustNewConstMetric(c.fragments, prometheus.CounterValue, float64(counts.FragmentsSent))
	ch <- prometheus.MustNewConstMetric(c.enqueueErrors, prometheus.CounterValue, float64(counts.EnqueueErrors))
	ch <- prometheus.MustNewConstMetric(c.runnerErrors, prometheus.CounterValue, float64(counts.RunnerErrors))
	ch <- prometheus.MustNewConstMetric(c.storeErrors, prometheus.CounterValue, float64(counts.StoreErrors))
	for name, src := range c.sources {
		s := src.Stats()
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.Received), name)
		for _, r := range []struct {
			reason string
			n      uint64
		}{
			{"ignored_event", s.IgnoredEvents}, {"ignored_fport", s.IgnoredFPort}, {"ignored_device", s.IgnoredDevice},
			{"malformed", s.Malformed}, {"unauthorized", s.Unauthorized},
		} {
			ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(r.n), name, r.reason)
		}
	}
}
