package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/store"
)

func ptr[T any](v T) *T { return &v }

func serviceSpec(name string) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox"}},
	}
}

func putObjects(t *testing.T, s *store.Store, objs ...*store.Task) {
	t.Helper()
	err := s.Update(t.Context(), func(tx *store.WriteTx) error {
		for _, o := range objs {
			if err := tx.Put(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func putNodes(t *testing.T, s *store.Store, nodes ...*store.Node) {
	t.Helper()
	err := s.Update(t.Context(), func(tx *store.WriteTx) error {
		for _, n := range nodes {
			if err := tx.Put(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testNode(id, host string, role swarm.NodeRole, state swarm.NodeState) *store.Node {
	n := &store.Node{Node: swarm.Node{ID: id,
		Spec:        swarm.NodeSpec{Role: role, Availability: swarm.NodeAvailabilityActive},
		Description: swarm.NodeDescription{Hostname: host},
		Status:      swarm.NodeStatus{State: state}}}
	if role == swarm.NodeRoleManager {
		n.ManagerStatus = &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable}
	}
	return n
}

func createService(t *testing.T, c *apiClient, spec any) string {
	t.Helper()
	r := c.do("POST", "/v1.50/services/create", spec)
	if r.code != http.StatusCreated {
		t.Fatalf("create got %d %s, want 201", r.code, r.body)
	}
	return decode[swarm.ServiceCreateResponse](t, r).ID
}

// TestServiceErrors sends each bad request of ENDPOINTS.md's error table
// and checks the status, the message and that the store did not change.
func TestServiceErrors(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	published := serviceSpec("web")
	published.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 23491}}}
	webID := createService(t, c, published)
	putNodes(t, tc.store, testNode("mgr1", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady), testNode("wrk1", "beta", swarm.NodeRoleWorker, swarm.NodeStateReady))
	before := storeState(t, tc.store)

	badImage := serviceSpec("x")
	badImage.TaskTemplate.ContainerSpec.Image = "BAD:Image::ref"
	portTaken := serviceSpec("y")
	portTaken.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 8080, PublishedPort: 23491}}}
	badConstraint := serviceSpec("z")
	badConstraint.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{"node.role=manager"}}
	globalReplicas := serviceSpec("g")
	globalReplicas.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}, Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(2))}}
	badRestart := serviceSpec("r")
	badRestart.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: "always"}

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		code   int
		msg    string
	}{
		{"duplicate name", "POST", "/services/create", serviceSpec("web"), 409, "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists"},
		{"bad image", "POST", "/services/create", badImage, 400, `rpc error: code = InvalidArgument desc = ContainerSpec: "BAD:Image::ref" is not a valid repository/tag`},
		{"bad name", "POST", "/services/create", serviceSpec("bad name!"), 400, "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"},
		{"bad constraint", "POST", "/services/create", badConstraint, 400, "constraint expected one operator from ==, !="},
		{"port taken", "POST", "/services/create", portTaken, 400, "rpc error: code = InvalidArgument desc = port '23491' is already in use by service 'web' (" + webID + ") as an ingress port"},
		{"global with replicas", "POST", "/services/create", globalReplicas, 400, "Mode.Replicated, Mode.Global"},
		{"restart condition", "POST", "/services/create", badRestart, 400, "RestartPolicy.Condition"},
		{"negative replicas", "POST", "/services/create",
			`{"Name":"neg","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":-1}}}`, 400, "Mode.Replicated.Replicas"},
		{"malformed json", "POST", "/services/create", `{"Name":`, 400, "invalid JSON"},
		{"empty body", "POST", "/services/create", nil, 400, "invalid JSON: got EOF while reading request body"},
		{"wrong type", "POST", "/services/create", `{"Name":5}`, 400, "ServiceSpec.Annotations.Name of type string"},
		{"no service", "GET", "/services/nope", nil, 404, "service nope not found"},
		{"rm no service", "DELETE", "/services/nope", nil, 404, "service nope not found"},
		{"no task", "GET", "/tasks/nope", nil, 404, "task nope not found"},
		{"no node", "GET", "/nodes/nope", nil, 404, "node nope not found"},
		{"self is the CLI's", "GET", "/nodes/self", nil, 404, "node self not found"},
		{"stale version", "POST", "/services/web/update?version=1", serviceSpec("web"), 409, "update out of sequence"},
		{"missing version", "POST", "/services/web/update", serviceSpec("web"), 400, "invalid service version ''"},
		{"no previous spec", "POST", fmt.Sprintf("/services/web/update?version=%d&rollback=previous", serviceVersion(t, tc, webID)), serviceSpec("web"), 400,
			"rpc error: code = FailedPrecondition desc = service " + webID + " does not have a previous spec"},
		{"bad filters", "GET", "/services?filters=" + url.QueryEscape("{bad"), nil, 400, "invalid filter"},
		{"unknown filter", "GET", "/services?filters=" + url.QueryEscape(`{"colour":{"red":true}}`), nil, 400, "invalid filter 'colour'"},
		{"task filter service unknown", "GET", "/tasks?filters=" + url.QueryEscape(`{"service":{"nope":true}}`), nil, 404, "service nope not found"},
		{"demote last manager", "POST", fmt.Sprintf("/nodes/mgr1/update?version=%d", nodeVersion(t, tc, "mgr1")), swarm.NodeSpec{Role: "worker", Availability: "active"}, 400,
			"rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm"},
		{"bad availability", "POST", fmt.Sprintf("/nodes/wrk1/update?version=%d", nodeVersion(t, tc, "wrk1")), swarm.NodeSpec{Role: "worker", Availability: "sleepy"}, 400, "Availability"},
		{"rm manager", "DELETE", "/nodes/mgr1?force=1", nil, 400, "node mgr1 is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal"},
		{"rm node not down", "DELETE", "/nodes/beta", nil, 400, "node wrk1 is not down and can't be removed"},
		{"unlock not locked", "POST", "/swarm/unlock", swarm.UnlockRequest{UnlockKey: "SWMKEY-1-x"}, 409, "swarm is not locked"},
		{"init in swarm", "POST", "/swarm/init", swarm.InitRequest{ListenAddr: "0.0.0.0:2377"}, 503, "This node is already part of a swarm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, c.do(tt.method, tt.path, tt.body), tt.code, tt.msg)
			if after := storeState(t, tc.store); after != before {
				t.Fatal("the refused request changed the store")
			}
		})
	}
}

func serviceVersion(t *testing.T, tc *testCluster, id string) uint64 {
	t.Helper()
	var v uint64
	tc.store.View(func(tx store.ReadTx) { v = store.Get[*store.Service](tx, id).Version.Index })
	return v
}

func nodeVersion(t *testing.T, tc *testCluster, id string) uint64 {
	t.Helper()
	var v uint64
	tc.store.View(func(tx store.ReadTx) { v = store.Get[*store.Node](tx, id).Version.Index })
	return v
}

func TestNotAManager(t *testing.T) {
	c := newClient(t, serve(t, Config{Cluster: &testCluster{}}))
	for _, path := range []string{"/swarm", "/nodes", "/services", "/tasks", "/services/x", "/swarm/unlockkey"} {
		wantError(t, c.do("GET", path, nil), http.StatusServiceUnavailable,
			`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
}

func TestFiltersBothForms(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	web := serviceSpec("web")
	web.Labels = map[string]string{"com.docker.stack.namespace": "shop"}
	createService(t, c, web)
	createService(t, c, serviceSpec("db"))
	for _, f := range []string{
		`{"label":{"com.docker.stack.namespace=shop":true}}`,
		`{"label":["com.docker.stack.namespace=shop"]}`,
		`{"name":{"we":true}}`,
		`{"name":["we"]}`,
	} {
		r := c.do("GET", "/services?filters="+url.QueryEscape(f), nil)
		got := decode[[]swarm.Service](t, r)
		if len(got) != 1 || got[0].Spec.Name != "web" {
			t.Errorf("filters %s: got %d services, want web only", f, len(got))
		}
	}
	if got := decode[[]swarm.Service](t, c.do("GET", "/services", nil)); len(got) != 2 {
		t.Errorf("without filters got %d services, want 2", len(got))
	}
	empty := c.do("GET", "/tasks", nil)
	if string(empty.body) != "[]\n" {
		t.Errorf("empty task list got %q, want []", empty.body)
	}
}

func TestServiceStatusAndUpToDate(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	spec := serviceSpec("web")
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(2))}}
	id := createService(t, c, spec)
	putNodes(t, tc.store, testNode("n1", "alpha", swarm.NodeRoleManager, swarm.NodeStateReady))
	running := swarm.TaskStateRunning
	task := func(tid string, slot int, state swarm.TaskState, specVersion uint64) *store.Task {
		return &store.Task{Task: swarm.Task{ID: tid, ServiceID: id, NodeID: "n1", Slot: slot, DesiredState: running, Status: swarm.TaskStatus{State: state}}, SpecVersion: specVersion}
	}
	putObjects(t, tc.store, task("t1", 1, running, 1), task("t2", 2, swarm.TaskStatePreparing, 1))

	list := decode[[]swarm.Service](t, c.do("GET", "/services?status=true", nil))
	if st := list[0].ServiceStatus; st == nil || st.RunningTasks != 1 || st.DesiredTasks != 2 {
		t.Fatalf("status got %+v, want 1 running of 2", list[0].ServiceStatus)
	}
	if list := decode[[]swarm.Service](t, c.do("GET", "/services", nil)); list[0].ServiceStatus != nil {
		t.Fatal("ServiceStatus sent without status=true")
	}

	// Update the service (spec version 2) and add a task made from it.
	svc := decode[swarm.Service](t, c.do("GET", "/services/web", nil))
	svc.Spec.TaskTemplate.ForceUpdate = 1
	if r := c.do("POST", fmt.Sprintf("/services/%s/update?version=%d", id, svc.Version.Index), svc.Spec); r.code != 200 || string(r.body) != "{\"Warnings\":[]}\n" {
		t.Fatalf("update got %d %s", r.code, r.body)
	}
	putObjects(t, tc.store, task("t3", 1, swarm.TaskStateStarting, 2))
	q := url.QueryEscape(fmt.Sprintf(`{"_up-to-date":{"true":true},"service":{%q:true}}`, id))
	tasks := decode[[]swarm.Task](t, c.do("GET", "/tasks?filters="+q, nil))
	var ids []string
	for _, tk := range tasks {
		ids = append(ids, tk.ID)
	}
	if !slices.Equal(ids, []string{"t3"}) {
		t.Fatalf("up-to-date tasks got %v, want [t3]", ids)
	}
}

func TestSwarmEndpoints(t *testing.T) {
	tc := newTestCluster(t)
	c := newClient(t, serve(t, Config{Cluster: tc}))
	wantError(t, c.do("GET", "/swarm", nil), http.StatusServiceUnavailable, "This node is not part of a swarm")
	if err := tc.store.Update(t.Context(), func(tx *store.WriteTx) error {
		cl := &store.Cluster{}
		cl.ID = "cluster1"
		cl.Spec = swarm.Spec{Annotations: swarm.Annotations{Name: "default"}}
		cl.JoinTokens = swarm.JoinTokens{Worker: "SWMTKN-1-w", Manager: "SWMTKN-1-m"}
		return tx.Put(cl)
	}); err != nil {
		t.Fatal(err)
	}
	sw := decode[swarm.Swarm](t, c.do("GET", "/swarm", nil))
	if sw.ID != "cluster1" || sw.JoinTokens.Worker != "SWMTKN-1-w" {
		t.Fatalf("swarm got %+v", sw)
	}
	spec := sw.Spec
	spec.EncryptionConfig.AutoLockManagers = true
	if r := c.do("POST", fmt.Sprintf("/swarm/update?version=%d", sw.Version.Index), spec); r.code != 200 {
		t.Fatalf("swarm update got %d %s", r.code, r.body)
	}
	key := decode[swarm.UnlockKeyResponse](t, c.do("GET", "/swarm/unlockkey", nil))
	if len(key.UnlockKey) < 20 {
		t.Fatalf("unlock key got %q", key.UnlockKey)
	}
	wantError(t, c.do("POST", fmt.Sprintf("/swarm/update?version=%d", sw.Version.Index), spec), http.StatusConflict, "update out of sequence")
	wantError(t, c.do("POST", "/swarm/update?version=x", spec), http.StatusBadRequest, "invalid swarm version 'x'")
	wantError(t, c.do("POST", "/swarm/leave", nil), http.StatusServiceUnavailable, "Use `--force`")
}
