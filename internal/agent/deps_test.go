package agent

import (
	"context"
	"crypto/tls"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc"

	"github.com/shoal-project/shoal/internal/clusterconn"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/store"
)

func storeSecret(id, data string) *store.Secret {
	return &store.Secret{Secret: swarm.Secret{ID: id, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "name-" + id}, Data: []byte(data)}}}
}

func storeConfig(id, data string) *store.Config {
	return &store.Config{Config: swarm.Config{ID: id, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "name-" + id}, Data: []byte(data)}}}
}

// held lists what d holds, as "secret ID=data" and "config ID=data".
func held(d *dependencies) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var got []string
	for id, s := range d.secrets {
		got = append(got, "secret "+id+"="+string(s.Spec.Data))
	}
	for id, c := range d.configs {
		got = append(got, "config "+id+"="+string(c.Spec.Data))
	}
	slices.Sort(got)
	return got
}

func TestDependenciesUpdate(t *testing.T) {
	tests := []struct {
		name string
		sets []dispatcher.AssignmentSet // applied in order
		want []string
	}{
		{name: "nothing yet", sets: []dispatcher.AssignmentSet{{Full: true}}},
		{name: "a full set", sets: []dispatcher.AssignmentSet{
			{Full: true, Secrets: []*store.Secret{storeSecret("s1", "a")}, Configs: []*store.Config{storeConfig("c1", "b")}},
		}, want: []string{"config c1=b", "secret s1=a"}},
		{name: "a partial set adds", sets: []dispatcher.AssignmentSet{
			{Full: true, Secrets: []*store.Secret{storeSecret("s1", "a")}},
			{Secrets: []*store.Secret{storeSecret("s2", "b")}, Configs: []*store.Config{storeConfig("c1", "c")}},
		}, want: []string{"config c1=c", "secret s1=a", "secret s2=b"}},
		{name: "a partial set without any keeps them", sets: []dispatcher.AssignmentSet{
			{Full: true, Secrets: []*store.Secret{storeSecret("s1", "a")}},
			{Tasks: []*store.Task{{Task: swarm.Task{ID: "t1"}}}},
		}, want: []string{"secret s1=a"}},
		{name: "a partial set replaces one with the same ID", sets: []dispatcher.AssignmentSet{
			{Full: true, Secrets: []*store.Secret{storeSecret("s1", "a")}},
			{Secrets: []*store.Secret{storeSecret("s1", "relabelled")}},
		}, want: []string{"secret s1=relabelled"}},
		{name: "a full set drops those not in it", sets: []dispatcher.AssignmentSet{
			{Full: true, Secrets: []*store.Secret{storeSecret("s1", "a"), storeSecret("s2", "b")}, Configs: []*store.Config{storeConfig("c1", "c")}},
			{Full: true, Secrets: []*store.Secret{storeSecret("s2", "b")}},
		}, want: []string{"secret s2=b"}},
		{name: "an empty full set drops all", sets: []dispatcher.AssignmentSet{
			{Full: true, Secrets: []*store.Secret{storeSecret("s1", "a")}, Configs: []*store.Config{storeConfig("c1", "c")}},
			{Full: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDependencies()
			for _, set := range tt.sets {
				d.update(set)
			}
			if diff := cmp.Diff(tt.want, held(d)); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
		})
	}
}

// checkingExec makes controllers that, as a real executor's do, fail
// Prepare when a secret or config the task uses is not among the
// node's dependencies, and records what they found.
type checkingExec struct {
	executor.Executor

	mu    sync.Mutex
	found map[string][]string // task ID → "secret ID=data", "config ID=data"; guarded by mu
}

func (e *checkingExec) Controller(t *swarm.Task, deps executor.Dependencies) (executor.Controller, error) {
	c, err := e.Executor.Controller(t, deps)
	if err != nil {
		return nil, err
	}
	return &checkingController{Controller: c, e: e, task: t, deps: deps}, nil
}

func (e *checkingExec) foundFor(taskID string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.found[taskID]
}

type checkingController struct {
	executor.Controller
	e    *checkingExec
	task *swarm.Task
	deps executor.Dependencies
}

func (c *checkingController) Prepare(ctx context.Context) error {
	var found []string
	for _, r := range c.task.Spec.ContainerSpec.Secrets {
		s, ok := c.deps.Secret(r.SecretID)
		if !ok {
			return errdefs.NotFound("secret %s not found on this node", r.SecretID)
		}
		found = append(found, "secret "+s.ID+"="+string(s.Spec.Data))
	}
	for _, r := range c.task.Spec.ContainerSpec.Configs {
		cf, ok := c.deps.Config(r.ConfigID)
		if !ok {
			return errdefs.NotFound("config %s not found on this node", r.ConfigID)
		}
		found = append(found, "config "+cf.ID+"="+string(cf.Spec.Data))
	}
	c.e.mu.Lock()
	c.e.found[c.task.ID] = found
	c.e.mu.Unlock()
	return c.Controller.Prepare(ctx)
}

// startCheckingAgent runs an agent for n whose controllers check their
// dependencies (checkingExec), until the test ends.
func (c *testCluster) startCheckingAgent(t *testing.T, n *testNode, manager string) *checkingExec {
	t.Helper()
	exec := &checkingExec{Executor: n.exec, found: map[string][]string{}}
	conf := clusterconn.ClientTLS(c.root.Trust(), &n.cert, clusterconn.ProtoGRPC)
	n.agent = New(Config{
		Executor: exec,
		Dial: func(ctx context.Context, addr string) (*grpc.ClientConn, error) {
			return clusterconn.DialGRPC(ctx, addr, func() *tls.Config { return conf })
		},
		Managers: func() []string { return []string{manager} },
		Clock:    c.clock,
		Logger:   testLogger(t).With("node.id", n.id),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.agent.Run(ctx); err != nil {
			t.Errorf("agent Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return exec
}

// A node running a task that uses a secret and a config receives them
// before the task prepares, another node never does, and the first drops
// them once the task is gone.
func TestSecretsReachOnlyTheirNodes(t *testing.T) {
	c := newTestCluster(t)
	m := c.startManager(t, dispatcher.Config{}, true)
	a, b := c.addNode(t, nil), c.addNode(t, nil)
	execA := c.startCheckingAgent(t, a, m.addr)
	execB := c.startCheckingAgent(t, b, m.addr)
	c.update(t, func(tx *store.WriteTx) error {
		if err := tx.Put(storeSecret("s1", "password")); err != nil {
			return err
		}
		return tx.Put(storeConfig("c1", "setting"))
	})
	c.assign(t, b.id, "tb")
	c.update(t, func(tx *store.WriteTx) error {
		task := store.Clone(store.Get[*store.Task](tx.ReadTx, "tb"))
		task.ID, task.NodeID = "ta", a.id
		task.Spec.ContainerSpec.Image = "busybox:ta"
		task.Spec.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretID: "s1", SecretName: "name-s1"}}
		task.Spec.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "c1", ConfigName: "name-c1"}}
		return tx.Put(task)
	})
	c.eventually(t, "both tasks to run", c.inState(swarm.TaskStateRunning, "ta", "tb"))

	want := []string{"secret s1=password", "config c1=setting"}
	if diff := cmp.Diff(want, execA.foundFor("ta")); diff != "" {
		t.Errorf("ta's Prepare found (-want +got):\n%s", diff)
	}
	if got := held(a.agent.deps); !cmp.Equal(got, []string{"config c1=setting", "secret s1=password"}) {
		t.Errorf("node a holds %v, want s1 and c1", got)
	}
	if got := held(b.agent.deps); len(got) != 0 || len(execB.foundFor("tb")) != 0 {
		t.Errorf("node b holds %v, its task found %v; want nothing", got, execB.foundFor("tb"))
	}

	c.setDesired(t, swarm.TaskStateRemove, "ta")
	c.eventually(t, "node a to drop s1 and c1", func() bool {
		return c.inState(swarm.TaskStateShutdown, "ta")() && len(held(a.agent.deps)) == 0
	})
	if got := held(b.agent.deps); len(got) != 0 {
		t.Errorf("node b holds %v, want nothing", got)
	}
}
