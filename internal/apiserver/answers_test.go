package apiserver

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/store"
)

// A kept answer (service ls and inspect, task ls) is given again only for
// the state it was computed at: after any write (an update, a task's
// state, a removal) the next read shows it, each query keeps its own
// answer, and a swarm's new store is never answered from the old one's.
func TestKeptAnswersFollowTheStore(t *testing.T) {
	tc := newTestCluster(t)
	s := New(Config{Cluster: tc})
	c := newClient(t, serveServer(t, s))
	list := func(query string) []swarm.Service {
		t.Helper()
		r := c.do("GET", "/services"+query, nil)
		if r.code != 200 {
			t.Fatalf("GET /services%s: %d %s", query, r.code, r.body)
		}
		var out []swarm.Service
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for i := range 2 {
		if r := c.do("POST", "/services/create", fmt.Sprintf(`{"Name":"web%d","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, i)); r.code != 201 {
			t.Fatalf("create: %d %s", r.code, r.body)
		}
	}
	if got := list(""); len(got) != 2 {
		t.Fatalf("listed %d services, want 2", len(got))
	}
	if got := list(`?filters={"name":{"web1":true}}`); len(got) != 1 || got[0].Spec.Name != "web1" {
		t.Fatalf("listed %v by name web1, want web1 alone", got)
	}
	svc := list("")[0]
	inspect := func() swarm.Service {
		t.Helper()
		r := c.do("GET", "/services/"+svc.ID, nil)
		var out swarm.Service
		if err := json.Unmarshal(r.body, &out); r.code != 200 || err != nil {
			t.Fatalf("GET /services/%s: %d %s", svc.ID, r.code, r.body)
		}
		return out
	}
	tasks := func() int {
		t.Helper()
		r := c.do("GET", `/tasks?filters={"service":{"`+svc.ID+`":true}}`, nil)
		var out []swarm.Task
		if err := json.Unmarshal(r.body, &out); r.code != 200 || err != nil {
			t.Fatalf("GET /tasks: %d %s", r.code, r.body)
		}
		return len(out)
	}
	if inspect().Spec.Labels["v"] != "" || tasks() != 0 {
		t.Fatal("the service has a label or a task already")
	}

	// A label through the API.
	svc.Spec.Labels = map[string]string{"v": "2"}
	if r := c.do("POST", fmt.Sprintf("/services/%s/update?version=%d", svc.ID, svc.Version.Index), svc.Spec); r.code != 200 {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	for _, got := range list("") {
		if got.ID == svc.ID && got.Spec.Labels["v"] != "2" {
			t.Fatalf("the list after an update shows labels %v, want v=2", got.Spec.Labels)
		}
	}
	if got := inspect().Spec.Labels; got["v"] != "2" {
		t.Fatalf("inspect after an update shows labels %v, want v=2", got)
	}

	// A running task, written to the store as the dispatcher would.
	if err := tc.store.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Task{Task: swarm.Task{ID: "t1", ServiceID: svc.ID, NodeID: "node1", Slot: 1,
			DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}})
	}); err != nil {
		t.Fatal(err)
	}
	if err := tc.store.Update(t.Context(), func(tx *store.WriteTx) error {
		return tx.Put(&store.Node{Node: swarm.Node{ID: "node1", Status: swarm.NodeStatus{State: swarm.NodeStateReady}}})
	}); err != nil {
		t.Fatal(err)
	}
	if n := tasks(); n != 1 {
		t.Fatalf("task ls after a task was written shows %d, want 1", n)
	}
	for _, got := range list("?status=true") {
		if got.ID == svc.ID && (got.ServiceStatus == nil || got.ServiceStatus.RunningTasks != 1) {
			t.Fatalf("the list after a task started shows status %+v, want 1 running", got.ServiceStatus)
		}
	}

	if r := c.do("DELETE", "/services/"+svc.ID, nil); r.code != 200 {
		t.Fatalf("remove: %d %s", r.code, r.body)
	}
	if got := list(""); len(got) != 1 {
		t.Fatalf("listed %d services after a removal, want 1", len(got))
	}
	other := list("")[0]
	if r := c.do("GET", "/services/"+other.ID, nil); r.code != 200 {
		t.Fatalf("inspect %s: %d %s", other.ID, r.code, r.body)
	}

	// Another swarm, its store brought to the index the old one's list
	// was kept at.
	fresh := newTestCluster(t)
	for i := 0; fresh.store.Index() < tc.store.Index(); i++ {
		if err := fresh.store.Update(t.Context(), func(tx *store.WriteTx) error {
			return tx.Put(&store.Node{Node: swarm.Node{ID: fmt.Sprint("n", i)}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if fresh.store.Index() != tc.store.Index() {
		t.Fatalf("the new store is at %d, the old at %d: the test proves nothing", fresh.store.Index(), tc.store.Index())
	}
	tc.api, tc.store = controlapi.New(fresh.store), fresh.store
	if got := list(""); len(got) != 0 {
		t.Fatalf("a new swarm's store listed %d services of the old one", len(got))
	}
	if r := c.do("GET", "/services/"+other.ID, nil); r.code != 404 {
		t.Fatalf("a new swarm's store answered inspect of the old one's service: %d %s", r.code, r.body)
	}
}
