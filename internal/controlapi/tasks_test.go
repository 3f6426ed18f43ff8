package controlapi

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

func TestListTasksFilters(t *testing.T) {
	a, s := newAPI(t)
	webID := mustCreate(t, a, validSpec("web"))
	dbID := mustCreate(t, a, validSpec("db"))
	running, shutdown := swarm.TaskStateRunning, swarm.TaskStateShutdown
	labelled := task("tlab", dbID, "node2id", 1, running, running, 1)
	labelled.Annotations.Labels = map[string]string{"com.docker.stack.namespace": "shop"}
	// A plain container's attachment shows, as in dockerd (its default
	// filter is runtime container or none), only when asked for by
	// runtime.
	att := task("tatt", "", "node2id", 0, running, running, 0)
	att.Spec = swarm.TaskSpec{Runtime: swarm.RuntimeNetworkAttachment, NetworkAttachmentSpec: &swarm.NetworkAttachmentSpec{ContainerID: "c1"}}
	put(t, s, att,
		node("node1id", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady),
		node("node2id", "beta", swarm.NodeRoleWorker, swarm.NodeStateReady),
		task("tnew", webID, "node1id", 1, running, running, 1),
		task("told", webID, "node2id", 2, shutdown, shutdown, 0),
		labelled,
	)
	// Make web's spec version 2: tnew was made from version 1.
	web := stored(t, s, webID)
	next := clone(web.Spec)
	next.TaskTemplate.ForceUpdate = 1
	if err := a.UpdateService(t.Context(), webID, web.Version.Index, next, RollbackNone); err != nil {
		t.Fatal(err)
	}
	put(t, s, task("tcur", webID, "node1id", 1, swarm.TaskStatePending, running, 2))

	tests := []struct {
		name  string
		pairs [][2]string
		want  []string
	}{
		{"all", nil, []string{"tcur", "tlab", "tnew", "told"}},
		{"service by name", [][2]string{{"service", "web"}}, []string{"tcur", "tnew", "told"}},
		{"service by id", [][2]string{{"service", dbID}}, []string{"tlab"}},
		{"node by hostname", [][2]string{{"node", "beta"}}, []string{"tlab", "told"}},
		{"desired running", [][2]string{{"service", "web"}, {"desired-state", "running"}}, []string{"tcur", "tnew"}},
		{"desired shutdown and accepted", [][2]string{{"desired-state", "shutdown"}, {"desired-state", "accepted"}}, []string{"told"}},
		{"up to date", [][2]string{{"service", webID}, {"_up-to-date", "true"}}, []string{"tcur"}},
		{"name slot", [][2]string{{"name", "web.2"}}, []string{"told"}},
		{"name full", [][2]string{{"name", "web.1.tnew"}}, []string{"tnew"}},
		{"label", [][2]string{{"label", "com.docker.stack.namespace=shop"}}, []string{"tlab"}},
		{"id prefix", [][2]string{{"id", "tn"}}, []string{"tnew"}},
		{"runtime attachment", [][2]string{{"runtime", "attachment"}}, []string{"tatt"}},
		{"runtime attachment on a node", [][2]string{{"node", "beta"}, {"runtime", "attachment"}}, []string{"tatt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.ListTasks(t.Context(), filters.New(tt.pairs...))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, t := range got {
				ids = append(ids, t.ID)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("got %v, want %v", ids, tt.want)
			}
		})
	}

	_, err := a.ListTasks(t.Context(), filters.New([2]string{"service", "nope"}))
	wantErr(t, err, errdefs.KindNotFound, "service nope not found")
	_, err = a.ListTasks(t.Context(), filters.New([2]string{"node", "gamma"}))
	wantErr(t, err, errdefs.KindNotFound, "node gamma not found")
	_, err = a.ListTasks(t.Context(), filters.New([2]string{"desired-state", "sleeping"}))
	wantErr(t, err, errdefs.KindInvalid, "Invalid desired-state filter: 'sleeping'")
	_, err = a.ListTasks(t.Context(), filters.New([2]string{"colour", "x"}))
	wantErr(t, err, errdefs.KindInvalid, "invalid filter 'colour'")
}

func TestGetTask(t *testing.T) {
	a, s := newAPI(t)
	webID := mustCreate(t, a, validSpec("web"))
	global := task("gtask1", webID, "nodeA", 0, swarm.TaskStateRunning, swarm.TaskStateRunning, 1)
	put(t, s, task("task1abc", webID, "nodeA", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 1),
		task("task2abc", webID, "nodeA", 2, swarm.TaskStateRunning, swarm.TaskStateRunning, 1), global)
	for ref, want := range map[string]string{"task1abc": "task1abc", "task2": "task2abc", "web.1.task1abc": "task1abc", "web.nodeA.gtask1": "gtask1"} {
		got, err := a.GetTask(t.Context(), ref)
		if err != nil || got.ID != want {
			t.Errorf("GetTask(%s) got %s, %v; want %s", ref, got.ID, err, want)
		}
	}
	_, err := a.GetTask(t.Context(), "task")
	wantErr(t, err, errdefs.KindInvalid, "task task is ambiguous (2 matches found)")
	_, err = a.GetTask(t.Context(), "zzz")
	wantErr(t, err, errdefs.KindNotFound, "task zzz not found")
	var n int
	s.View(func(tx store.ReadTx) { n = len(store.All[*store.Task](tx)) })
	if n != 3 {
		t.Fatalf("got %d tasks, want 3", n)
	}
}

// A scale changes the service's version, not what its tasks run: the
// docker CLI's converge display waits for up-to-date tasks, so they must
// stay up to date or `docker service scale` never returns.
func TestScaleKeepsTasksUpToDate(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreate(t, a, validSpec("web"))
	svc := stored(t, s, id)
	running := task("t1", id, "node1id", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, svc.SpecVersion)
	running.Spec = svc.Spec.TaskTemplate
	put(t, s, running)
	scaled := clone(svc.Spec)
	n := uint64(5)
	scaled.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	if err := a.UpdateService(t.Context(), id, svc.Version.Index, scaled, RollbackNone); err != nil {
		t.Fatal(err)
	}
	got, err := a.ListTasks(t.Context(), filters.New([2]string{"service", id}, [2]string{"_up-to-date", "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("after a scale, up-to-date tasks = %v, want [t1]", got)
	}
}
