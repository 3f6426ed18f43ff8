// Package clustermetrics measures the swarm from a manager's replicated
// store: counts of nodes, tasks, services, networks, secrets and configs
// and each service's running and desired tasks, read from a snapshot when
// Prometheus scrapes (SwarmKit's swarm_manager_* names, and Shoal's
// shoal_service_tasks); task state transitions and the time tasks take to
// run, counted from the store's watch (Watch); and leader changes, from
// raft (WatchLeader). Every manager serves the same figures.
package clustermetrics

import (
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/store"
	"github.com/shoal-project/shoal/internal/taskstate"
)

// Counts are the figures of one store snapshot.
type Counts struct {
	Nodes    map[swarm.NodeState]int
	Tasks    map[swarm.TaskState]int
	Services int
	Networks int
	Secrets  int
	Configs  int
	// ByService are each service's tasks, by service name.
	ByService map[string]ServiceTasks
}

// ServiceTasks are a service's running and desired tasks, as docker
// service ls counts its replicas.
type ServiceTasks struct {
	Running int
	Desired int
}

// nodeStates and taskStates are reported even at zero, so that a state
// appears in Prometheus before the first node or task is in it.
var (
	nodeStates = []swarm.NodeState{swarm.NodeStateUnknown, swarm.NodeStateDown, swarm.NodeStateReady, swarm.NodeStateDisconnected}
	taskStates = []swarm.TaskState{swarm.TaskStateNew, swarm.TaskStateAllocated, swarm.TaskStatePending, swarm.TaskStateAssigned,
		swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting, swarm.TaskStateRunning,
		swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateRemove,
		swarm.TaskStateOrphaned}
)

// Count reads the figures of a snapshot.
func Count(tx store.ReadTx) Counts {
	c := Counts{Nodes: map[swarm.NodeState]int{}, Tasks: map[swarm.TaskState]int{}, ByService: map[string]ServiceTasks{}}
	for _, n := range store.All[*store.Node](tx) {
		c.Nodes[n.Status.State]++
	}
	services := store.All[*store.Service](tx)
	c.Services = len(services)
	names := make(map[string]string, len(services))
	for _, s := range services {
		names[s.ID] = s.Spec.Name
		st := ServiceTasks{}
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			st.Desired = int(*r.Replicas)
		}
		c.ByService[s.Spec.Name] = st
	}
	replicated := map[string]bool{}
	for _, s := range services {
		replicated[s.Spec.Name] = s.Spec.Mode.Replicated != nil
	}
	for _, t := range store.All[*store.Task](tx) {
		c.Tasks[t.Status.State]++
		name, ok := names[t.ServiceID]
		if !ok {
			continue
		}
		st := c.ByService[name]
		if t.DesiredState == swarm.TaskStateRunning {
			if t.Status.State == swarm.TaskStateRunning {
				st.Running++
			}
			// Global services and jobs want one task per node or run:
			// those meant to run, as docker service ls counts them.
			if !replicated[name] {
				st.Desired++
			}
		}
		c.ByService[name] = st
	}
	c.Networks = len(store.All[*store.Network](tx))
	c.Secrets = len(store.All[*store.Secret](tx))
	c.Configs = len(store.All[*store.Config](tx))
	return c
}

// Source is the manager this node runs: its store (nil when it is not a
// manager) and whether it leads.
type Source func() (st *store.Store, leader bool)

// Collector serves the store's figures when scraped.
type Collector struct {
	src Source
}

// NewCollector returns a Collector over src; register it in
// metrics.Registry.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

var (
	descNodeManager = prometheus.NewDesc("swarm_node_manager", "Whether this node is a manager or not.", nil, nil)
	descLeader      = prometheus.NewDesc("swarm_manager_leader", "Indicates if this manager node is a leader.", nil, nil)
	descNodes       = prometheus.NewDesc("swarm_manager_nodes", "The number of nodes.", []string{"state"}, nil)
	descTasks       = prometheus.NewDesc("swarm_manager_tasks_total", "The number of tasks in the cluster object store.", []string{"state"}, nil)
	descServices    = prometheus.NewDesc("swarm_manager_services_total", "The number of services in the cluster object store.", nil, nil)
	descNetworks    = prometheus.NewDesc("swarm_manager_networks_total", "The number of networks in the cluster object store.", nil, nil)
	descSecrets     = prometheus.NewDesc("swarm_manager_secrets_total", "The number of secrets in the cluster object store.", nil, nil)
	descConfigs     = prometheus.NewDesc("swarm_manager_configs_total", "The number of configs in the cluster object store.", nil, nil)
	descServiceTask = prometheus.NewDesc("shoal_service_tasks", "A service's tasks: running, and desired as docker service ls counts them.", []string{"service", "state"}, nil)
)

// Describe sends the metrics' descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodeManager, descLeader, descNodes, descTasks, descServices, descNetworks, descSecrets, descConfigs, descServiceTask} {
		ch <- d
	}
}

// Collect reads a snapshot of the store. A worker reports only that it is
// not a manager: the swarm's figures are the managers' to give.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, leader := c.src()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	if st == nil {
		gauge(descNodeManager, 0)
		return
	}
	gauge(descNodeManager, 1)
	gauge(descLeader, btoi(leader))
	var counts Counts
	st.View(func(tx store.ReadTx) { counts = Count(tx) })
	for _, s := range nodeStates {
		gauge(descNodes, counts.Nodes[s], string(s))
	}
	for _, s := range taskStates {
		gauge(descTasks, counts.Tasks[s], string(s))
	}
	gauge(descServices, counts.Services)
	gauge(descNetworks, counts.Networks)
	gauge(descSecrets, counts.Secrets)
	gauge(descConfigs, counts.Configs)
	names := make([]string, 0, len(counts.ByService))
	for n := range counts.ByService {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		gauge(descServiceTask, counts.ByService[n].Running, n, "running")
		gauge(descServiceTask, counts.ByService[n].Desired, n, "desired")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Reason says why a task reached its new state, for the reason label of
// shoal_task_state_transitions_total: a small fixed set, never free text.
func Reason(t *store.Task) string {
	st := t.Status
	switch st.State {
	case swarm.TaskStateComplete:
		return "exit_zero"
	case swarm.TaskStateFailed:
		switch {
		case strings.Contains(st.Err, executor.ErrUnhealthy.Error()):
			return "unhealthy"
		case strings.Contains(st.Err, "OOM killed"):
			return "oom"
		case strings.HasPrefix(st.Err, "task: non-zero exit"):
			return "exit_nonzero"
		}
		return "error"
	case swarm.TaskStateRejected:
		return "rejected"
	case swarm.TaskStateShutdown, swarm.TaskStateRemove:
		if taskstate.Rank(t.DesiredState) >= taskstate.Rank(swarm.TaskStateShutdown) {
			return "desired_" + string(t.DesiredState)
		}
		return "shutdown"
	case swarm.TaskStateOrphaned:
		return "node_down"
	}
	return "progress"
}
