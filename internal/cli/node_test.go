package cli

import (
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

func TestNodeList(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"table", []string{"node", "ls"}},
		{"quiet", []string{"node", "ls", "-q"}},
		{"bad filter", []string{"node", "ls", "--filter", "role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			srv.Nodes = append(srv.Nodes, swarm.Node{
				ID:            "mgr2ccccccccccccccccccccc",
				Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityPause},
				Description:   swarm.NodeDescription{Hostname: "gamma", Engine: swarm.EngineDescription{EngineVersion: "0.1.0"}},
				Status:        swarm.NodeStatus{State: swarm.NodeStateDown},
				ManagerStatus: &swarm.ManagerStatus{Reachability: swarm.ReachabilityUnreachable},
			})
			checkGolden(t, "node-ls-"+tt.name, shoal(t, srv, "", tt.args...))
		})
	}
}

func TestNodeListSendsFilters(t *testing.T) {
	srv := swarmServer(t)
	shoal(t, srv, "", "node", "ls", "-f", "role=manager")
	if got := srv.Find("GET", "/nodes")[0].Query.Get("filters"); got != `{"role":{"manager":true}}` {
		t.Errorf("got filters %s, want role=manager", got)
	}
}

func TestNodeInspect(t *testing.T) {
	srv := swarmServer(t)
	r := shoal(t, srv, "", "node", "inspect", "self", "beta")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var nodes []swarm.Node
	if err := json.Unmarshal([]byte(r.stdout), &nodes); err != nil {
		t.Fatalf("output is not a JSON array of nodes: %v\n%s", err, r.stdout)
	}
	if len(nodes) != 2 || nodes[0].ID != "mgr1aaaaaaaaaaaaaaaaaaaaa" || nodes[1].ID != "wrk1bbbbbbbbbbbbbbbbbbbbb" {
		t.Errorf("got nodes %v, want self then beta", nodes)
	}
	if len(srv.Find("GET", "/info")) != 1 || len(srv.Find("GET", "/nodes/mgr1aaaaaaaaaaaaaaaaaaaaa")) != 1 {
		t.Errorf("want self resolved through /info, then fetched by ID; got %v", srv.Requests())
	}
	checkGolden(t, "node-inspect-pretty", shoal(t, srv, "", "node", "inspect", "--pretty", "self"))
}

func TestNodeUpdate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(t *testing.T, spec swarm.NodeSpec)
	}{
		{
			name: "availability and labels",
			args: []string{"node", "update", "--availability", "drain", "--label-add", "ssd=true", "--label-add", "rack", "--label-rm", "zone", "self"},
			check: func(t *testing.T, spec swarm.NodeSpec) {
				if spec.Availability != swarm.NodeAvailabilityDrain {
					t.Errorf("got availability %q, want drain", spec.Availability)
				}
				want := map[string]string{"ssd": "true", "rack": ""}
				if len(spec.Labels) != 2 || spec.Labels["ssd"] != "true" || spec.Labels["rack"] != "" {
					t.Errorf("got labels %v, want %v", spec.Labels, want)
				}
				if spec.Role != swarm.NodeRoleManager {
					t.Errorf("got role %q, want the manager role kept", spec.Role)
				}
			},
		},
		{
			name:  "role",
			args:  []string{"node", "update", "--role", "manager", "beta"},
			check: func(t *testing.T, spec swarm.NodeSpec) { wantRole(t, spec, swarm.NodeRoleManager) },
		},
		{name: "missing label", args: []string{"node", "update", "--label-rm", "nope", "self"}, wantErr: true},
		{name: "bad availability", args: []string{"node", "update", "--availability", "off", "self"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			r := shoal(t, srv, "", tt.args...)
			checkGolden(t, "node-update-"+tt.name, r)
			var updates []string
			for _, req := range srv.Requests() {
				if req.Method == "POST" {
					updates = append(updates, req.Path+"?version="+req.Query.Get("version"))
				}
			}
			if tt.wantErr {
				if len(updates) != 0 {
					t.Errorf("got updates %v, want none", updates)
				}
				return
			}
			if len(updates) != 1 {
				t.Fatalf("got updates %v, want one", updates)
			}
			var spec swarm.NodeSpec
			for _, req := range srv.Requests() {
				if req.Method == "POST" {
					req.Decode(t, &spec)
				}
			}
			tt.check(t, spec)
		})
	}
}

func wantRole(t *testing.T, spec swarm.NodeSpec, role swarm.NodeRole) {
	t.Helper()
	if spec.Role != role {
		t.Errorf("got role %q, want %q", spec.Role, role)
	}
}

func TestNodePromoteDemote(t *testing.T) {
	srv := swarmServer(t)
	r := shoal(t, srv, "", "node", "promote", "beta", "alpha")
	checkGolden(t, "node-promote", r)
	reqs := srv.Find("POST", "/nodes/wrk1bbbbbbbbbbbbbbbbbbbbb/update")
	if len(reqs) != 1 || reqs[0].Query.Get("version") != "9" {
		t.Fatalf("got %v, want one update of beta at version 9", reqs)
	}
	var spec swarm.NodeSpec
	reqs[0].Decode(t, &spec)
	wantRole(t, spec, swarm.NodeRoleManager)

	if reqs := srv.Find("POST", "/nodes/mgr1aaaaaaaaaaaaaaaaaaaaa/update"); len(reqs) != 0 {
		t.Errorf("got %d updates of alpha, already a manager, want none", len(reqs))
	}

	r = shoal(t, srv, "", "node", "demote", "beta")
	checkGolden(t, "node-demote", r)
}

func TestNodeRemove(t *testing.T) {
	srv := swarmServer(t)
	srv.Nodes[1].Status.State = swarm.NodeStateDown
	r := shoal(t, srv, "", "node", "rm", "beta", "nosuch", "alpha")
	checkGolden(t, "node-rm", r)
	r = shoal(t, srv, "", "node", "rm", "--force", "alpha")
	if r.err != nil || srv.Find("DELETE", "/nodes/alpha")[1].Query.Get("force") != "1" {
		t.Errorf("got %v, want alpha removed with force=1", r)
	}
}

func TestNodePs(t *testing.T) {
	srv := swarmServer(t)
	srv.Services = []swarm.Service{{ID: "svc1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"}}}}
	srv.Tasks = []swarm.Task{
		{ID: "task1xxxxxxxxxxxxxxxxxxxx", ServiceID: "svc1", Slot: 1, NodeID: "mgr1aaaaaaaaaaaaaaaaaaaaa", DesiredState: swarm.TaskStateRunning,
			Spec:   swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest"}},
			Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: srv.Now.Add(-42 * 1e9)}},
		{ID: "task2xxxxxxxxxxxxxxxxxxxx", ServiceID: "svc1", Slot: 2, NodeID: "wrk1bbbbbbbbbbbbbbbbbbbbb", DesiredState: swarm.TaskStateRunning,
			Spec:   swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest"}},
			Status: swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: srv.Now}},
	}
	checkGolden(t, "node-ps-self", shoal(t, srv, "", "node", "ps"))
	checkGolden(t, "node-ps-beta", shoal(t, srv, "", "node", "ps", "-q", "beta"))
}
