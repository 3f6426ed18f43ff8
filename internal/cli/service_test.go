package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

func TestServiceCreate(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, srv *fakeapi.Server, spec swarm.ServiceSpec)
	}{
		{
			name: "converges",
			args: []string{"service", "create", "--name", "web", "--replicas", "3", "--update-monitor", "1s", "-p", "8080:80", "busybox", "httpd", "-f"},
			check: func(t *testing.T, srv *fakeapi.Server, spec swarm.ServiceSpec) {
				cs := spec.TaskTemplate.ContainerSpec
				if want := "busybox:latest@" + fakeapi.TestDigest; cs.Image != want {
					t.Errorf("got image %q, want it pinned to the registry's digest %q", cs.Image, want)
				}
				if p := spec.TaskTemplate.Placement; p == nil || len(p.Platforms) != 1 || p.Platforms[0].OS != "linux" {
					t.Errorf("got placement %+v, want the image's platforms", p)
				}
				if len(cs.Args) != 2 || cs.Args[0] != "httpd" {
					t.Errorf("got args %v, want [httpd -f]", cs.Args)
				}
				if r := spec.Mode.Replicated; r == nil || r.Replicas == nil || *r.Replicas != 3 {
					t.Errorf("got mode %+v, want 3 replicas", spec.Mode)
				}
				polls := srv.Find("GET", "/tasks")
				if len(polls) == 0 || polls[0].Query.Get("filters") == "" || !strings.Contains(polls[0].Query.Get("filters"), `"_up-to-date":{"true":true}`) {
					t.Errorf("got task polls %v, want them filtered to the service's up-to-date tasks", polls)
				}
			},
		},
		{
			name: "detached",
			args: []string{"service", "create", "-d", "--name", "web", "busybox"},
			check: func(t *testing.T, srv *fakeapi.Server, _ swarm.ServiceSpec) {
				if n := len(srv.Find("GET", "/tasks")); n != 0 {
					t.Errorf("got %d task polls, want none when detached", n)
				}
			},
		},
		{
			name: "quiet",
			args: []string{"service", "create", "-q", "--name", "web", "--update-monitor", "1s", "busybox"},
			check: func(t *testing.T, srv *fakeapi.Server, _ swarm.ServiceSpec) {
				if n := len(srv.Find("GET", "/tasks")); n == 0 {
					t.Errorf("got no task polls, want quiet to wait all the same")
				}
			},
		},
		{
			name: "no resolve image",
			args: []string{"service", "create", "-d", "--no-resolve-image", "--network", "backend", "busybox:1.36"},
			check: func(t *testing.T, srv *fakeapi.Server, spec swarm.ServiceSpec) {
				if img := spec.TaskTemplate.ContainerSpec.Image; img != "busybox:1.36" {
					t.Errorf("got image %q, want it left unpinned", img)
				}
				if n := len(srv.Find("GET", "/distribution/busybox:1.36/json")); n != 0 {
					t.Errorf("got %d distribution lookups, want none", n)
				}
				if nets := spec.TaskTemplate.Networks; len(nets) != 1 || nets[0].Target != "net1backend00000000000000" {
					t.Errorf("got networks %+v, want backend by ID", nets)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := swarmServer(t)
			srv.Networks = []network.Summary{{Network: network.Network{ID: "net1backend00000000000000", Name: "backend", Scope: "swarm"}}}
			srv.BeforeTasks = fakeapi.Orchestrate
			r := shoal(t, srv, "", tt.args...)
			checkGolden(t, "service-create-"+tt.name, r)
			creates := srv.Find("POST", "/services/create")
			if len(creates) != 1 {
				t.Fatalf("got %d creates, want 1", len(creates))
			}
			var spec swarm.ServiceSpec
			creates[0].Decode(t, &spec)
			tt.check(t, srv, spec)
		})
	}
}

func TestServiceCreateRefusesBadFlags(t *testing.T) {
	srv := swarmServer(t)
	r := shoal(t, srv, "", "service", "create", "--mode", "global", "--replicas", "2", "busybox")
	checkGolden(t, "service-create-bad-flags", r)
	if n := len(srv.Find("POST", "/services/create")); n != 0 {
		t.Errorf("got %d creates, want none", n)
	}
}

// webServer is a swarm running a three-replica service "web", converged.
func webServer(t *testing.T) *fakeapi.Server {
	t.Helper()
	srv := swarmServer(t)
	three := uint64(3)
	srv.Services = []swarm.Service{{
		ID:   "svcweb0000000000000000000",
		Meta: swarm.Meta{Version: swarm.Version{Index: 11}, CreatedAt: srv.Now.Add(-time.Hour)},
		Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "web", Labels: map[string]string{"tier": "front"}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
				Image: "busybox:1.35@" + fakeapi.TestDigest, Env: []string{"A=1"},
			}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
			UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Monitor: time.Second, FailureAction: "pause", Order: "stop-first"},
			EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
		},
		PreviousSpec: &swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: "web"},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:1.34"}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
		},
		Endpoint: swarm.Endpoint{Ports: []swarm.PortConfig{{PublishedPort: 8080, TargetPort: 80, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeIngress}}},
	}}
	for slot := 1; slot <= 3; slot++ {
		srv.Tasks = append(srv.Tasks, swarm.Task{
			ID:           "task" + string(rune('0'+slot)) + strings.Repeat("x", 20),
			Meta:         swarm.Meta{Version: swarm.Version{Index: 11}, CreatedAt: srv.Now.Add(-time.Hour)},
			ServiceID:    "svcweb0000000000000000000",
			Slot:         slot,
			NodeID:       srv.Nodes[slot%2].ID,
			DesiredState: swarm.TaskStateRunning,
			Spec:         srv.Services[0].Spec.TaskTemplate,
			Status:       swarm.TaskStatus{State: swarm.TaskStateRunning, Timestamp: srv.Now.Add(-time.Duration(slot) * time.Minute)},
		})
	}
	return srv
}

func TestServiceUpdate(t *testing.T) {
	srv := webServer(t)
	srv.BeforeTasks = fakeapi.Orchestrate
	r := shoal(t, srv, "", "service", "update", "--image", "busybox:1.36", "--env-add", "B=2", "--label-rm", "tier", "web")
	checkGolden(t, "service-update", r)
	reqs := srv.Find("POST", "/services/svcweb0000000000000000000/update")
	if len(reqs) != 1 {
		t.Fatalf("got %d updates, want 1", len(reqs))
	}
	q := reqs[0].Query
	if q.Get("version") != "11" || q.Get("registryAuthFrom") != "spec" || q.Get("rollback") != "" {
		t.Errorf("got query %v, want version=11 registryAuthFrom=spec and no rollback", q)
	}
	var spec swarm.ServiceSpec
	reqs[0].Decode(t, &spec)
	cs := spec.TaskTemplate.ContainerSpec
	if cs.Image != "busybox:1.36@"+fakeapi.TestDigest || strings.Join(cs.Env, " ") != "A=1 B=2" || len(spec.Labels) != 0 {
		t.Errorf("got image %q env %v labels %v", cs.Image, cs.Env, spec.Labels)
	}
}

func TestServiceUpdateRollbackFlag(t *testing.T) {
	srv := webServer(t)
	r := shoal(t, srv, "", "service", "update", "--rollback", "-d", "web")
	checkGolden(t, "service-update-rollback", r)
	if q := srv.Find("POST", "/services/svcweb0000000000000000000/update")[0].Query; q.Get("rollback") != "previous" {
		t.Errorf("got query %v, want rollback=previous", q)
	}
	r = shoal(t, srv, "", "service", "update", "--rollback", "--image", "x", "web")
	checkGolden(t, "service-update-rollback-with-flags", r)
}

func TestServiceUpdatePaused(t *testing.T) {
	srv := webServer(t)
	polls := 0
	srv.BeforeTasks = func(s *fakeapi.Server) {
		fakeapi.Orchestrate(s)
		polls++
		if polls == 3 {
			s.Services[0].UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure or early termination of task task9"}
		}
	}
	r := shoal(t, srv, "", "service", "update", "--force", "web")
	checkGolden(t, "service-update-paused", r)
	var spec swarm.ServiceSpec
	srv.Find("POST", "/services/svcweb0000000000000000000/update")[0].Decode(t, &spec)
	if spec.TaskTemplate.ForceUpdate != 1 {
		t.Errorf("got ForceUpdate %d, want 1", spec.TaskTemplate.ForceUpdate)
	}
}

func TestServiceRollback(t *testing.T) {
	srv := webServer(t)
	srv.BeforeTasks = func(s *fakeapi.Server) {
		s.Services[0].UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, Message: "manually requested rollback"}
		fakeapi.Orchestrate(s)
	}
	r := shoal(t, srv, "", "service", "rollback", "web")
	checkGolden(t, "service-rollback", r)
	reqs := srv.Find("POST", "/services/svcweb0000000000000000000/update")
	if len(reqs) != 1 || reqs[0].Query.Get("rollback") != "previous" || reqs[0].Query.Get("version") != "11" {
		t.Errorf("got %v, want one update with rollback=previous at version 11", reqs)
	}
}

func TestServiceScale(t *testing.T) {
	srv := webServer(t)
	srv.Services = append(srv.Services, swarm.Service{
		ID: "svcagent00000000000000000", Meta: swarm.Meta{Version: swarm.Version{Index: 3}},
		Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "agent"}, Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}},
	})
	srv.BeforeTasks = fakeapi.Orchestrate
	r := shoal(t, srv, "", "service", "scale", "web=5", "agent=2")
	checkGolden(t, "service-scale", r)
	var spec swarm.ServiceSpec
	srv.Find("POST", "/services/svcweb0000000000000000000/update")[0].Decode(t, &spec)
	if r := spec.Mode.Replicated.Replicas; r == nil || *r != 5 {
		t.Errorf("got replicas %v, want 5", r)
	}
	checkGolden(t, "service-scale-bad-arg", shoal(t, srv, "", "service", "scale", "web"))
}

func TestServiceList(t *testing.T) {
	srv := webServer(t)
	srv.Tasks[2].Status.State = swarm.TaskStatePreparing
	checkGolden(t, "service-ls", shoal(t, srv, "", "service", "ls"))
	if q := srv.Find("GET", "/services")[0].Query; q.Get("status") != "true" {
		t.Errorf("got query %v, want status=true", q)
	}
	checkGolden(t, "service-ls-quiet", shoal(t, srv, "", "service", "ls", "-q"))
}

func TestServicePs(t *testing.T) {
	srv := webServer(t)
	old := srv.Tasks[0]
	old.ID = "taskold" + strings.Repeat("y", 18)
	old.CreatedAt = srv.Now.Add(-2 * time.Hour)
	old.DesiredState, old.Status.State, old.Status.Err = swarm.TaskStateShutdown, swarm.TaskStateFailed, "task: non-zero exit (137)"
	srv.Tasks = append(srv.Tasks, old)
	checkGolden(t, "service-ps", shoal(t, srv, "", "service", "ps", "web"))
	checkGolden(t, "service-ps-quiet-no-trunc", shoal(t, srv, "", "service", "ps", "-q", "--no-trunc", "svcweb"))
	checkGolden(t, "service-ps-missing", shoal(t, srv, "", "service", "ps", "web", "nosuch"))
	shoal(t, srv, "", "service", "ps", "-f", "desired-state=running", "web")
	reqs := srv.Find("GET", "/tasks")
	filters := reqs[len(reqs)-1].Query.Get("filters")
	if !strings.Contains(filters, `"desired-state":{"running":true}`) || !strings.Contains(filters, `"service":{"svcweb0000000000000000000":true}`) {
		t.Errorf("got filters %s, want desired-state and service", filters)
	}
}

func TestServiceInspect(t *testing.T) {
	srv := webServer(t)
	r := shoal(t, srv, "", "service", "inspect", "web")
	var services []swarm.Service
	if err := json.Unmarshal([]byte(r.stdout), &services); err != nil || len(services) != 1 || services[0].ID != "svcweb0000000000000000000" {
		t.Fatalf("got %v, %v; want a JSON array with web", services, err)
	}
	if q := srv.Find("GET", "/services/web")[0].Query; q.Get("insertDefaults") != "1" {
		t.Errorf("got query %v, want insertDefaults", q)
	}
	checkGolden(t, "service-inspect-pretty", shoal(t, srv, "", "service", "inspect", "--pretty", "web"))
	checkGolden(t, "service-inspect-missing", shoal(t, srv, "", "service", "inspect", "nosuch"))
}

func TestServiceRemove(t *testing.T) {
	srv := webServer(t)
	r := shoal(t, srv, "", "service", "rm", "web", "nosuch")
	checkGolden(t, "service-rm", r)
	if len(srv.Services) != 0 {
		t.Errorf("got services %v left, want web removed", srv.Services)
	}
}

// logStream builds a multiplexed log body: one frame per line, on stdout, or
// on stderr for lines starting "2 ".
func logStream(t *testing.T, lines ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		stream := byte(stdcopy.Stdout)
		if rest, ok := strings.CutPrefix(l, "2 "); ok {
			stream, l = byte(stdcopy.Stderr), rest
		}
		payload := []byte(l + "\n")
		header := []byte{stream, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(header[4:], uint32(len(payload)))
		b.Write(header)
		b.Write(payload)
	}
	return b.Bytes()
}

func TestServiceLogs(t *testing.T) {
	ctx1 := "com.docker.swarm.node.id=mgr1aaaaaaaaaaaaaaaaaaaaa,com.docker.swarm.service.id=svcweb0000000000000000000,com.docker.swarm.task.id=task1xxxxxxxxxxxxxxxxxxxx"
	ctx2 := "com.docker.swarm.node.id=wrk1bbbbbbbbbbbbbbbbbbbbb,com.docker.swarm.service.id=svcweb0000000000000000000,com.docker.swarm.task.id=task2xxxxxxxxxxxxxxxxxxxx"
	tests := []struct {
		name  string
		args  []string
		lines []string
	}{
		{"pretty", []string{"service", "logs", "web"}, []string{ctx1 + " hello", "2 " + ctx2 + " oops"}},
		{"no task ids", []string{"service", "logs", "--no-task-ids", "web"}, []string{ctx1 + " hello"}},
		{"timestamps", []string{"service", "logs", "-t", "web"}, []string{"2026-03-01T12:00:00.000000000Z " + ctx1 + " hello"}},
		{"raw", []string{"service", "logs", "--raw", "web"}, []string{"hello", "2 oops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := webServer(t)
			srv.Streams["GET /services/web/logs"] = logStream(t, tt.lines...)
			checkGolden(t, "service-logs-"+tt.name, shoal(t, srv, "", tt.args...))
		})
	}
}

func TestServiceLogsQuery(t *testing.T) {
	srv := webServer(t)
	srv.Streams["GET /services/web/logs"] = nil
	shoal(t, srv, "", "service", "logs", "-f", "--tail", "10", "-t", "web")
	q := srv.Find("GET", "/services/web/logs")[0].Query
	for k, want := range map[string]string{"follow": "1", "tail": "10", "timestamps": "1", "details": "1", "stdout": "1", "stderr": "1"} {
		if q.Get(k) != want {
			t.Errorf("got %s=%q, want %q", k, q.Get(k), want)
		}
	}
}

func TestServiceLogsOfATask(t *testing.T) {
	srv := webServer(t)
	ctx := "com.docker.swarm.node.id=mgr1aaaaaaaaaaaaaaaaaaaaa,com.docker.swarm.service.id=svcweb0000000000000000000,com.docker.swarm.task.id=task1xxxxxxxxxxxxxxxxxxxx"
	srv.Streams["GET /tasks/task1xxxxxxxxxxxxxxxxxxxx/logs"] = logStream(t, ctx+" from the task")
	checkGolden(t, "service-logs-task", shoal(t, srv, "", "service", "logs", "task1xxxxxxxxxxxxxxxxxxxx"))
	checkGolden(t, "service-logs-missing", shoal(t, srv, "", "service", "logs", "nosuch"))
}
