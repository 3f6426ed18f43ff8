package events

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/consensus"
	"github.com/shoal-project/shoal/internal/store"
)

func svc(id, name, image string, replicas uint64, update swarm.UpdateState) *store.Service {
	s := &store.Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}}}
	if update != "" {
		s.UpdateStatus = &swarm.UpdateStatus{State: update}
	}
	return s
}

func globalSvc(id, name string) *store.Service {
	return &store.Service{Service: swarm.Service{ID: id, Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name},
		Mode:        swarm.ServiceMode{Global: &swarm.GlobalService{}},
	}}}
}

func nd(id, hostname string, role swarm.NodeRole, avail swarm.NodeAvailability, state swarm.NodeState, mgr *swarm.ManagerStatus) *store.Node {
	return &store.Node{Node: swarm.Node{
		ID:            id,
		Spec:          swarm.NodeSpec{Role: role, Availability: avail},
		Description:   swarm.NodeDescription{Hostname: hostname},
		Status:        swarm.NodeStatus{State: state},
		ManagerStatus: mgr,
	}}
}

func TestSwarmEvent(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	leader := &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable}
	follower := &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable}
	unreachable := &swarm.ManagerStatus{Reachability: swarm.ReachabilityUnreachable}
	tests := []struct {
		name     string
		old, cur any
		want     events.Message
		wantOK   bool
	}{
		{"service create", nil, svc("s1", "web", "busybox:1", 1, ""),
			events.Message{Type: "service", Action: "create", Actor: events.Actor{ID: "s1", Attributes: map[string]string{"name": "web"}}}, true},
		{"service scale", svc("s1", "web", "busybox:1", 1, ""), svc("s1", "web", "busybox:1", 3, ""),
			events.Message{Type: "service", Action: "update", Actor: events.Actor{ID: "s1", Attributes: map[string]string{"name": "web", "replicas.old": "1", "replicas.new": "3"}}}, true},
		{"service image and update start", svc("s1", "web", "busybox:1", 3, ""), svc("s1", "web", "busybox:2", 3, swarm.UpdateStateUpdating),
			events.Message{Type: "service", Action: "update", Actor: events.Actor{ID: "s1", Attributes: map[string]string{
				"name": "web", "image.old": "busybox:1", "image.new": "busybox:2", "updatestate.new": "updating"}}}, true},
		{"service update completes", svc("s1", "web", "busybox:2", 3, swarm.UpdateStateUpdating), svc("s1", "web", "busybox:2", 3, swarm.UpdateStateCompleted),
			events.Message{Type: "service", Action: "update", Actor: events.Actor{ID: "s1", Attributes: map[string]string{
				"name": "web", "updatestate.old": "updating", "updatestate.new": "completed"}}}, true},
		{"service update state unchanged", svc("s1", "web", "busybox:2", 3, swarm.UpdateStateCompleted), svc("s1", "web", "busybox:2", 3, swarm.UpdateStateCompleted),
			events.Message{Type: "service", Action: "update", Actor: events.Actor{ID: "s1", Attributes: map[string]string{"name": "web"}}}, true},
		{"global service: no replicas", globalSvc("s2", "agent"), globalSvc("s2", "agent"),
			events.Message{Type: "service", Action: "update", Actor: events.Actor{ID: "s2", Attributes: map[string]string{"name": "agent"}}}, true},
		{"service remove", svc("s1", "web", "busybox:2", 3, swarm.UpdateStateCompleted), nil,
			events.Message{Type: "service", Action: "remove", Actor: events.Actor{ID: "s1", Attributes: map[string]string{"name": "web"}}}, true},
		{"node drained", nd("n1", "host-a", "worker", "active", "ready", nil), nd("n1", "host-a", "worker", "drain", "ready", nil),
			events.Message{Type: "node", Action: "update", Actor: events.Actor{ID: "n1", Attributes: map[string]string{
				"name": "host-a", "availability.old": "active", "availability.new": "drain"}}}, true},
		{"node promoted and down", nd("n1", "host-a", "worker", "active", "ready", nil), nd("n1", "host-a", "manager", "active", "down", nil),
			events.Message{Type: "node", Action: "update", Actor: events.Actor{ID: "n1", Attributes: map[string]string{
				"name": "host-a", "role.old": "worker", "role.new": "manager", "state.old": "ready", "state.new": "down"}}}, true},
		{"manager takes the lead", nd("n1", "host-a", "manager", "active", "ready", follower), nd("n1", "host-a", "manager", "active", "ready", leader),
			events.Message{Type: "node", Action: "update", Actor: events.Actor{ID: "n1", Attributes: map[string]string{
				"name": "host-a", "leader.old": "false", "leader.new": "true"}}}, true},
		{"manager unreachable", nd("n1", "host-a", "manager", "active", "ready", follower), nd("n1", "host-a", "manager", "active", "ready", unreachable),
			events.Message{Type: "node", Action: "update", Actor: events.Actor{ID: "n1", Attributes: map[string]string{
				"name": "host-a", "reachability.old": "reachable", "reachability.new": "unreachable"}}}, true},
		{"node named by its spec", nil, &store.Node{Node: swarm.Node{ID: "n2", Spec: swarm.NodeSpec{Annotations: swarm.Annotations{Name: "edge"}}, Description: swarm.NodeDescription{Hostname: "h"}}},
			events.Message{Type: "node", Action: "create", Actor: events.Actor{ID: "n2", Attributes: map[string]string{"name": "edge"}}}, true},
		{"secret create", nil, &store.Secret{Secret: swarm.Secret{ID: "x1", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}}}},
			events.Message{Type: "secret", Action: "create", Actor: events.Actor{ID: "x1", Attributes: map[string]string{"name": "pw"}}}, true},
		{"config remove", &store.Config{Config: swarm.Config{ID: "c1", Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "conf"}}}}, nil,
			events.Message{Type: "config", Action: "remove", Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "conf"}}}, true},
		{"network create", nil, &store.Network{Network: swarm.Network{ID: "w1", Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: "ingress"}}}},
			events.Message{Type: "network", Action: "create", Actor: events.Actor{ID: "w1", Attributes: map[string]string{"name": "ingress"}}}, true},
		{"tasks have no events", nil, &store.Task{}, events.Message{}, false},
		{"nor the cluster", nil, &store.Cluster{}, events.Message{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := SwarmEvent(tt.old, tt.cur, when)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			tt.want.Scope, tt.want.Time, tt.want.TimeNano = "swarm", when.Unix(), when.UnixNano()
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// manager is a single-member raft group over dir, as a manager has.
type manager struct {
	st *store.Store
	rn *consensus.Node
}

// openManager opens the group; watch, when set, is started on the store
// before raft applies anything, as a restarted manager's log is applied
// while the watch runs.
func openManager(t *testing.T, dir string, bootstrap bool, watch func(*store.Store)) *manager {
	t.Helper()
	st := store.New()
	if watch != nil {
		watch(st)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress("m1"))
	rn, err := consensus.Open(consensus.Config{
		Dir: dir, LocalID: "m1", Transport: trans,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond,
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	if bootstrap {
		if err := rn.Bootstrap(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := rn.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for !rn.IsLeader() {
		time.Sleep(5 * time.Millisecond)
	}
	return &manager{st: st, rn: rn}
}

// next reads the next event from sub, failing after a while.
func next(t *testing.T, sub *Subscription) events.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended: %v", sub.Err())
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return events.Message{}
}

func summary(m events.Message) string {
	s := string(m.Type) + " " + string(m.Action) + " " + m.Actor.Attributes["name"]
	for _, k := range []string{"replicas.old", "replicas.new", "image.old", "image.new"} {
		if v, ok := m.Actor.Attributes[k]; ok {
			s += " " + k + "=" + v
		}
	}
	return s
}

// TestWatchStore runs the watch over a real raft group: a service's whole
// life comes out as events stamped with the batches' times, and a restart,
// which applies the raft log again, publishes nothing twice.
func TestWatchStore(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(t.TempDir(), "events.jsonl")
	b, err := New(Config{Path: hist})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	m := openManager(t, filepath.Join(dir, "raft"), true, func(st *store.Store) {
		go func() { defer close(done); b.WatchStore(ctx, st) }()
	})
	_, sub := b.Subscribe(time.Time{}, time.Time{}, Filter{})

	update := func(fn func(tx *store.WriteTx) error) {
		t.Helper()
		if err := m.st.Update(t.Context(), fn); err != nil {
			t.Fatal(err)
		}
	}
	update(func(tx *store.WriteTx) error {
		return tx.Put(&store.Cluster{Swarm: swarm.Swarm{ClusterInfo: swarm.ClusterInfo{ID: "cl1"}}})
	})
	update(func(tx *store.WriteTx) error { return tx.Put(svc("s1", "web", "busybox:1", 1, "")) })
	update(func(tx *store.WriteTx) error {
		c := store.Clone(store.Get[*store.Service](tx.ReadTx, "s1"))
		*c.Spec.Mode.Replicated.Replicas = 3
		c.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "busybox:2"}
		return tx.Put(c)
	})
	update(func(tx *store.WriteTx) error { return tx.Put(&store.Task{Task: swarm.Task{ID: "t1", ServiceID: "s1"}}) })
	update(func(tx *store.WriteTx) error { return tx.Delete(store.Get[*store.Service](tx.ReadTx, "s1")) })

	want := []string{
		"service create web",
		"service update web replicas.old=1 replicas.new=3 image.old=busybox:1 image.new=busybox:2",
		"service remove web",
	}
	var got []string
	var first events.Message
	for range want {
		e := next(t, sub)
		if first.Type == "" {
			first = e
		}
		got = append(got, summary(e))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("events (-want +got):\n%s", d)
	}
	if first.Scope != "swarm" || first.TimeNano == 0 {
		t.Errorf("first event %+v: want scope swarm and the batch's time", first)
	}
	sub.Close()
	cancel()
	<-done
	if err := m.rn.Shutdown(); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// Restart: the same raft directory and history.
	b = newBus(t, Config{Path: hist})
	_, sub = b.Subscribe(time.Time{}, time.Time{}, Filter{})
	defer sub.Close()
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	m = openManager(t, filepath.Join(dir, "raft"), false, func(st *store.Store) { go b.WatchStore(ctx, st) })
	defer m.rn.Shutdown()
	update(func(tx *store.WriteTx) error {
		return tx.Put(&store.Secret{Secret: swarm.Secret{ID: "x1", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}}}})
	})
	if e := next(t, sub); summary(e) != "secret create pw" {
		t.Errorf("after the restart got %q, want the new secret's create (the replayed log publishes nothing)", summary(e))
	}
	past, sub2 := b.Subscribe(time.Unix(1, 0), time.Time{}, Filter{})
	sub2.Close()
	got = nil
	for _, e := range past {
		got = append(got, summary(e))
	}
	if d := cmp.Diff(append(want, "secret create pw"), got); d != "" {
		t.Errorf("history after the restart (-want +got):\n%s", d)
	}
}
