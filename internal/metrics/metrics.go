// Package metrics holds the daemon's Prometheus metrics and serves them at
// /metrics (shoal daemon --metrics-addr). Names follow SwarmKit's and
// dockerd's where they measure the same thing (swarm_*, engine_daemon_*),
// so existing dashboards and alerts work; what only Shoal measures is
// named shoal_*. The parts that do the work observe them; gauges that are
// counts of things are read when scraped, from the thing itself.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds every metric of the daemon, and the Go runtime's and the
// process's.
var Registry = prometheus.NewRegistry()

// latencyBuckets are for things that take from a millisecond to tens of
// seconds (raft, store, API, container actions).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// startBuckets are for a task's way from NEW to RUNNING: an image pull and
// a container start, up to minutes.
var startBuckets = []float64{.05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

func histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	Registry.MustRegister(h)
	return h
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	Registry.MustRegister(h)
	return h
}

func counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	Registry.MustRegister(c)
	return c
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(c)
	return c
}

func gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	Registry.MustRegister(g)
	return g
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	Registry.MustRegister(g)
	return g
}

// SwarmKit's names.
var (
	RaftTransactionLatency = histogram("swarm_raft_transaction_latency_seconds",
		"Raft transaction latency: a store update proposed by this manager, until committed and applied here.", latencyBuckets)
	StoreReadTxLatency = histogram("swarm_store_read_tx_latency_seconds",
		"Raft store read tx latency: one read transaction over a store snapshot.", latencyBuckets)
	StoreWriteTxLatency = histogram("swarm_store_write_tx_latency_seconds",
		"Raft store write tx latency: one update, from building the batch until it is applied (raft included).", latencyBuckets)
	StoreBatchLatency = histogram("swarm_store_batch_latency_seconds",
		"Raft store batch latency: applying one committed batch to the store's tables.", latencyBuckets)
	SchedulingDelay = histogram("swarm_dispatcher_scheduling_delay_seconds",
		"Scheduling delay: from a task's creation (NEW) until the leader records it RUNNING.", startBuckets)
)

// dockerd's names.
var (
	ContainerActions = histogramVec("engine_daemon_container_actions_seconds",
		"The number of seconds it takes to process each container action.", latencyBuckets, "action")
	ImageActions = histogramVec("engine_daemon_image_actions_seconds",
		"The number of seconds it takes to process each image action.", latencyBuckets, "action")
	EventsTotal        = counter("engine_daemon_events_total", "The number of events logged.")
	HealthChecks       = counter("engine_daemon_health_checks_total", "The total number of health checks.")
	HealthChecksFailed = counter("engine_daemon_health_checks_failed_total", "The total number of failed health checks.")
	EngineInfo         = gaugeVec("engine_daemon_engine_info",
		"The information related to the engine and the OS it is running on.",
		"version", "commit", "architecture", "graphdriver", "kernel", "os", "os_type", "os_version", "daemon_id")
	EngineCPUs   = gauge("engine_daemon_engine_cpus_cpus", "The number of cpus that the host system of the engine has.")
	EngineMemory = gauge("engine_daemon_engine_memory_bytes", "The number of bytes of memory that the host system of the engine has.")
)

// Shoal's own.
var (
	RaftApplyLatency = histogram("shoal_raft_apply_latency_seconds",
		"Time to apply one committed raft entry to this manager's store (every manager).", latencyBuckets)
	RaftCommitLatency = histogram("shoal_raft_commit_latency_seconds",
		"Time from proposing an entry until raft hands it back committed, on the manager that proposed it.", latencyBuckets)
	LeaderChanges = counter("shoal_raft_leader_changes_total",
		"Times this manager saw the raft group's leader change (including to none).")
	TaskTransitions = counterVec("shoal_task_state_transitions_total",
		"Task state changes recorded in the store, by old and new state and why (see docs/METRICS.md).", "from", "to", "reason")
	TaskTimeToRunning = histogram("shoal_task_new_to_running_seconds",
		"Time from a task's creation (NEW) to the RUNNING the node reported, by the task's own timestamps.", startBuckets)
	APIRequestLatency = histogramVec("shoal_api_request_duration_seconds",
		"Docker Engine API requests served here, by route and HTTP status (streams last as long as they stream).", latencyBuckets, "route", "status")
	ImagePeerFetches = counterVec("shoal_image_peer_fetches_total",
		"Images this node fetched from another node of the swarm, by the holder's role (peer: a worker, manager) and result (ok, failed).", "source", "result")
	ImagePeerServedBytes = counter("shoal_image_peer_served_bytes_total",
		"Bytes of image blobs this node sent to other nodes of the swarm.")
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The actions there are, shown before they first happen, as dockerd
	// does.
	for _, a := range []string{"create", "start", "delete"} {
		ContainerActions.WithLabelValues(a)
	}
	for _, a := range []string{"pull", "tag", "delete", "import", "load"} {
		ImageActions.WithLabelValues(a)
	}
}
