package dispatcher

import (
	"context"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/network/view"
	"github.com/shoal-project/shoal/internal/rootca"
	"github.com/shoal-project/shoal/internal/store"
)

// router is a leadership term's one store subscription: it wakes the
// sessions that an applied change concerns, and keeps the part of the
// session message that is the same for every node. Sessions then read
// only their own node and tasks, so a round of changes costs each session
// the size of its own assignment set, not the size of the cluster.
type router struct {
	sub *store.Subscription
	// wide is the cluster-wide part of the session message, replaced
	// (never changed in place) when it changes; never nil.
	wide atomic.Pointer[clusterWide]
	// networks is the swarm's network view, rebuilt when a change may
	// have moved it; never nil. Each session cuts its node's part.
	networks atomic.Pointer[view.Cluster]
	// taskNode is the node each task was last seen on, so that a task
	// leaving a node still wakes that node's session. Only the routing
	// goroutine uses it once the router is made.
	taskNode map[string]string
}

// clusterWide is what every session message carries alike.
type clusterWide struct {
	managers   []string        // the managers' cluster addresses, sorted
	managerIDs map[string]bool // the node IDs of those managers
	period     time.Duration
	rootCA     swarm.TLSInfo
	// err is why rootCA could not be worked out; sessions end with it.
	err error
}

// newRouter subscribes, then reads the state the events will change: a
// change committed between the two shows as an event, never as a gap.
func newRouter(s *store.Store) *router {
	r := &router{sub: s.Subscribe()}
	s.View(func(tx store.ReadTx) {
		r.wide.Store(readClusterWide(tx))
		r.taskNode = readTaskNodes(tx)
		r.networks.Store(view.Build(view.Read(tx)))
	})
	return r
}

// run routes events until ctx ends, waking sessions with wake: the
// sessions of the nodes named, or every session when all is set.
func (r *router) run(ctx context.Context, s *store.Store, wake func(nodes map[string]bool, all bool)) {
	defer r.sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.sub.Wake():
		}
		rt := route(r.sub.Drain(), r.wide.Load().managerIDs, r.taskNode)
		all := rt.reset
		if rt.reset || rt.wide {
			var wide *clusterWide
			s.View(func(tx store.ReadTx) {
				wide = readClusterWide(tx)
				if rt.reset {
					r.taskNode = readTaskNodes(tx)
				}
			})
			if !sameClusterWide(r.wide.Load(), wide) {
				r.wide.Store(wide)
				all = true
			}
		}
		if rt.reset || rt.networks {
			// Every node's view may have moved: the sessions cut theirs
			// and send it only when it did.
			s.View(func(tx store.ReadTx) { r.networks.Store(view.Build(view.Read(tx))) })
			all = true
		}
		if !all && (len(rt.secrets) > 0 || len(rt.configs) > 0) {
			// Secrets and configs change seldom (created, relabelled,
			// removed): finding their nodes by reading every task costs
			// less than keeping an index of who uses what.
			s.View(func(tx store.ReadTx) {
				for _, t := range store.All[*store.Task](tx) {
					if usesAny(t, rt.secrets, rt.configs) {
						rt.mark(t.NodeID)
					}
				}
			})
		}
		if all || len(rt.nodes) > 0 {
			wake(rt.nodes, all)
		}
	}
}

// routing is where a batch of events must go.
type routing struct {
	nodes map[string]bool // the nodes whose own object or tasks changed
	wide  bool            // the cluster-wide part may have changed
	reset bool            // the store was replaced: everything may have
	// networks says the network view may have changed: a network, a
	// service, a node or a task on a network changed.
	networks bool
	// secrets and configs are the IDs of those that changed: the nodes
	// with tasks using them are to be found.
	secrets, configs map[string]bool
}

func (rt *routing) mark(nodeID string) {
	if nodeID == "" {
		return
	}
	if rt.nodes == nil {
		rt.nodes = map[string]bool{}
	}
	rt.nodes[nodeID] = true
}

// route decides which sessions events concern: a task's node (and the
// node it was on before, should it have moved), a node's own session,
// everyone for the cluster object, a node that is or was a manager (in
// managers), or a restored snapshot, and the nodes using a secret or
// config that changed (left in rt.secrets and rt.configs for the caller,
// who reads the tasks). It records in taskNode where each task now is.
func route(evs []store.Event, managers map[string]bool, taskNode map[string]string) routing {
	var rt routing
	for _, ev := range evs {
		switch o := ev.Object.(type) {
		case nil: // the store was replaced by a snapshot
			rt.reset = true
		case *store.Cluster:
			rt.wide = true
			rt.networks = true
		case *store.Network, *store.Service:
			rt.networks = true
		case *store.Node:
			rt.mark(o.ID)
			rt.networks = true
			if o.ManagerStatus != nil || managers[o.ID] {
				rt.wide = true
			}
		case *store.Task:
			rt.mark(o.NodeID)
			if view.Concerns(o) {
				rt.networks = true
			}
			if prev, ok := taskNode[o.ID]; ok && prev != o.NodeID {
				rt.mark(prev)
			}
			switch {
			case ev.Op == store.OpDelete || o.NodeID == "":
				delete(taskNode, o.ID)
			case taskNode[o.ID] != o.NodeID:
				taskNode[o.ID] = o.NodeID
			}
		case *store.Secret:
			if rt.secrets == nil {
				rt.secrets = map[string]bool{}
			}
			rt.secrets[o.ID] = true
		case *store.Config:
			if rt.configs == nil {
				rt.configs = map[string]bool{}
			}
			rt.configs[o.ID] = true
		}
	}
	return rt
}

// readClusterWide reads the cluster-wide part of the session message.
func readClusterWide(tx store.ReadTx) *clusterWide {
	w := &clusterWide{period: heartbeatPeriod(tx), managerIDs: map[string]bool{}}
	if c := store.TheCluster(tx); c != nil {
		w.rootCA, w.err = rootca.Desired(c)
	}
	for _, n := range store.All[*store.Node](tx) {
		if n.ManagerStatus != nil && n.ManagerStatus.Addr != "" {
			w.managers = append(w.managers, n.ManagerStatus.Addr)
			w.managerIDs[n.ID] = true
		}
	}
	slices.Sort(w.managers)
	return w
}

// readTaskNodes reads which node each assigned task is on.
func readTaskNodes(tx store.ReadTx) map[string]string {
	m := map[string]string{}
	for _, t := range store.All[*store.Task](tx) {
		if t.NodeID != "" {
			m[t.ID] = t.NodeID
		}
	}
	return m
}

// sameClusterWide reports whether a and b tell agents the same.
func sameClusterWide(a, b *clusterWide) bool {
	if a == b {
		return true
	}
	return a.period == b.period && slices.Equal(a.managers, b.managers) && reflect.DeepEqual(a.managerIDs, b.managerIDs) &&
		reflect.DeepEqual(a.rootCA, b.rootCA) && errString(a.err) == errString(b.err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
