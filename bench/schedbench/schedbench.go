// Package schedbench measures how fast a leader places tasks, through the
// path production takes: services created by controlapi on a store
// replicated by a real raft group (bbolt log, single member, in-memory
// transport), and the leader's controllers (orchestrator, scheduler,
// updater, reaper) run while it leads. With Agents, every simulated node
// also runs a real agent on the fake executor, with its own certificate,
// holding a session over TLS to a dispatcher on a real cluster port.
// cmd/shoal-bench runs it; BenchmarkScheduler is its twin for profiling.
package schedbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/manager/controller/leader"
	"github.com/shoal-project/shoal/internal/store"
)

// Config says what to place.
type Config struct {
	Nodes    int // simulated nodes, all ready workers
	Tasks    int // replicas in all, spread evenly over the services
	Services int // replicated services; at least 1
	// Agents runs an agent per node (fake executor, TLS session to the
	// dispatcher) and also waits for every task to run.
	Agents bool
	// Dir holds the raft state; a temporary directory when empty.
	Dir string
	// Progress receives a line a second, nil for none.
	Progress io.Writer
	Logger   *slog.Logger
}

// Result is what was measured. Times run from the first service creation.
type Result struct {
	Tasks    int
	Assigned time.Duration // until the last task was assigned to a node
	Running  time.Duration // until the last task ran; zero without agents
	Entries  uint64        // raft entries written meanwhile
	// CPU is the processor time the whole process used meanwhile: on a
	// shared machine it varies less than the wall-clock rates.
	CPU time.Duration
}

// AssignedPerSecond is the placement rate.
func (r Result) AssignedPerSecond() float64 { return perSecond(r.Tasks, r.Assigned) }

// RunningPerSecond is the rate to running, zero without agents.
func (r Result) RunningPerSecond() float64 { return perSecond(r.Tasks, r.Running) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Run sets up the cluster, creates the services and waits until every
// task is assigned (and running, with Agents), or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Nodes < 1 || cfg.Tasks < 1 {
		return Result{}, errors.New("schedbench: need at least one node and one task")
	}
	cfg.Services = max(cfg.Services, 1)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "shoal-bench-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	st := store.New()
	rn, err := openRaft(ctx, cfg, st)
	if err != nil {
		return Result{}, err
	}
	defer rn.Shutdown()

	var nodes nodeSet
	if cfg.Agents {
		nodes, err = startAgents(ctx, cfg, st, rn)
	} else {
		nodes, err = putNodes(ctx, cfg, st)
	}
	if err != nil {
		return Result{}, err
	}
	leading, led := make(chan struct{}), make(chan struct{})
	defer func() {
		cancel()
		<-led
		nodes.stop()
	}()
	go func() {
		defer close(led)
		rn.RunWhileLeader(ctx, lead(cfg, st, nodes, leading))
	}()
	select {
	case <-leading:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	if err := nodes.ready(ctx); err != nil {
		return Result{}, err
	}

	// Subscribe before the first service exists, so no task is missed.
	sub := st.Subscribe()
	defer sub.Close()
	first := st.Index()
	api := controlapi.New(st, controlapi.WithLogger(cfg.Logger))
	start, cpu0 := time.Now(), cpuTime()
	for i := range cfg.Services {
		replicas := uint64(cfg.Tasks / cfg.Services)
		if i < cfg.Tasks%cfg.Services {
			replicas++
		}
		if _, err := api.CreateService(ctx, serviceSpec(i, replicas)); err != nil {
			return Result{}, fmt.Errorf("create service %d: %w", i, err)
		}
	}
	res, err := watch(ctx, cfg, sub, start)
	res.CPU = cpuTime() - cpu0
	res.Entries = st.Index() - first
	return res, err
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lead is what runs while the manager leads: the controllers, and the
// dispatcher when there are agents.
func lead(cfg Config, st *store.Store, nodes nodeSet, leading chan<- struct{}) func(context.Context) {
	var once sync.Once
	return func(ctx context.Context) {
		once.Do(func() { close(leading) })
		nodes.lead(ctx)
		if err := leader.New(st, cfg.Logger, leader.Config{}).Run(ctx); err != nil && ctx.Err() == nil {
			cfg.Logger.Error("controllers stopped", "err", err)
		}
	}
}

// openRaft starts a single-member raft group and waits until it leads.
func openRaft(ctx context.Context, cfg Config, st *store.Store) (*consensus.Node, error) {
	_, trans := raft.NewInmemTransport("")
	rn, err := consensus.Open(consensus.Config{Dir: cfg.Dir, LocalID: "bench-manager", Transport: trans, Logger: cfg.Logger}, st)
	if err != nil {
		return nil, err
	}
	if err := rn.Bootstrap(); err != nil {
		rn.Shutdown()
		return nil, err
	}
	for !rn.IsLeader() {
		select {
		case <-ctx.Done():
			rn.Shutdown()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return rn, nil
}

// nodeSet is the simulated nodes: plain node objects, or agents.
type nodeSet interface {
	lead(ctx context.Context)        // starts what serves nodes while leading
	ready(ctx context.Context) error // waits until every node is ready
	stop()
}

// putNodes writes ready worker nodes, as if they had joined.
func putNodes(ctx context.Context, cfg Config, st *store.Store) (nodeSet, error) {
	for from := 0; from < cfg.Nodes; from += 1000 {
		err := st.Update(ctx, func(tx *store.WriteTx) error {
			for i := from; i < min(from+1000, cfg.Nodes); i++ {
				n := nodeObject(fmt.Sprintf("node%05d", i))
				n.Status = swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "127.0.0.1"}
				if err := tx.Put(n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("put nodes: %w", err)
		}
	}
	return plainNodes{}, nil
}

type plainNodes struct{}

func (plainNodes) lead(context.Context)        {}
func (plainNodes) ready(context.Context) error { return nil }
func (plainNodes) stop()                       {}

// nodeObject is a worker as joining leaves it, before its agent describes
// it: 4 CPUs and 8 GiB, linux/amd64.
func nodeObject(id string) *store.Node {
	return &store.Node{Node: swarm.Node{
		ID: id,
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: map[string]string{}},
			Role:         swarm.NodeRoleWorker,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname:  id,
			Platform:  swarm.Platform{Architecture: "amd64", OS: "linux"},
			Resources: swarm.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30},
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateUnknown},
	}}
}

// serviceSpec is a plain replicated service, as docker service create
// --replicas sends it.
func serviceSpec(i int, replicas uint64) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: fmt.Sprintf("bench%03d", i)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest", Command: []string{"sleep", "1d"}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
}

// watch counts tasks reaching assigned (and running, with agents) from the
// store's events, printing progress each second.
func watch(ctx context.Context, cfg Config, sub *store.Subscription, start time.Time) (Result, error) {
	res := Result{Tasks: cfg.Tasks}
	assigned := make(map[string]bool, cfg.Tasks)
	running := make(map[string]bool, cfg.Tasks)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
			el := time.Since(start)
			line := fmt.Sprintf("%5.1fs assigned %d/%d (%.0f/s)", el.Seconds(), len(assigned), cfg.Tasks, perSecond(len(assigned), el))
			if cfg.Agents {
				line += fmt.Sprintf(" running %d/%d", len(running), cfg.Tasks)
			}
			fmt.Fprintln(cfg.Progress, line)
		case <-sub.Wake():
		}
		for _, ev := range sub.Drain() {
			t, ok := ev.Object.(*store.Task)
			if !ok || ev.Op != store.OpPut {
				continue
			}
			switch t.Status.State {
			case swarm.TaskStateAssigned, swarm.TaskStateAccepted, swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting:
				assigned[t.ID] = true
			case swarm.TaskStateRunning:
				assigned[t.ID] = true
				running[t.ID] = true
			}
		}
		now := time.Since(start)
		if res.Assigned == 0 && len(assigned) >= cfg.Tasks {
			res.Assigned = now
			if !cfg.Agents {
				return res, nil
			}
		}
		if cfg.Agents && len(running) >= cfg.Tasks {
			res.Running = now
			return res, nil
		}
	}
}
