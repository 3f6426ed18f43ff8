package controlapi

import (
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/store"
)

func TestCreateServiceStoresNormalizedSpec(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreate(t, a, validSpec("web"))
	svc := stored(t, s, id)
	if svc.SpecVersion != 1 || svc.Spec.Name != "web" || *svc.Spec.Mode.Replicated.Replicas != 1 {
		t.Fatalf("got %+v, want web at spec version 1 with 1 replica", svc)
	}
	if svc.Endpoint.Spec.Mode != swarm.ResolutionModeVIP {
		t.Errorf("endpoint mode got %q, want vip", svc.Endpoint.Spec.Mode)
	}
	if len(id) != 25 {
		t.Errorf("id %q: got %d characters, want 25", id, len(id))
	}
}

func TestCreateServiceRefusals(t *testing.T) {
	a, s := newAPI(t)
	mustCreate(t, a, validSpec("web"))
	before := snapshot(t, s)

	_, err := a.CreateService(t.Context(), validSpec("web"))
	wantErr(t, err, errdefs.KindConflict, "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists")
	_, err = a.CreateService(t.Context(), validSpec("WEB"))
	wantErr(t, err, errdefs.KindConflict, "service WEB already exists")
	bad := validSpec("db")
	bad.TaskTemplate.ContainerSpec.Image = "BAD:Image::ref"
	_, err = a.CreateService(t.Context(), bad)
	wantErr(t, err, errdefs.KindInvalid, `ContainerSpec: "BAD:Image::ref" is not a valid repository/tag`)

	if after := snapshot(t, s); after != before {
		t.Fatal("a refused create changed the store")
	}
}

func TestCreateServiceGeneratesName(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreate(t, a, validSpec(""))
	if name := stored(t, s, id).Spec.Name; validateName(name) != nil {
		t.Fatalf("generated name %q is not a valid service name", name)
	}
}

func TestPublishedPorts(t *testing.T) {
	a, s := newAPI(t)
	if _, err := a.CreateNetwork(t.Context(), network.CreateRequest{Name: "ingress", Driver: "overlay", Ingress: true}); err != nil {
		t.Fatal(err)
	}
	withPorts := func(name string, ports ...swarm.PortConfig) swarm.ServiceSpec {
		spec := validSpec(name)
		spec.EndpointSpec = &swarm.EndpointSpec{Ports: ports}
		return spec
	}
	webID := mustCreate(t, a, withPorts("web", swarm.PortConfig{TargetPort: 80, PublishedPort: 8080}, swarm.PortConfig{TargetPort: 443}))
	web := stored(t, s, webID)
	if got := web.Endpoint.Ports; len(got) != 2 || got[0].PublishedPort != 8080 || got[1].PublishedPort != 30000 {
		t.Fatalf("web ports got %+v, want 8080 and 30000 (the first dynamic port)", got)
	}
	before := snapshot(t, s)
	_, err := a.CreateService(t.Context(), withPorts("other", swarm.PortConfig{TargetPort: 80, PublishedPort: 8080}))
	wantErr(t, err, errdefs.KindInvalid, "port '8080' is already in use by service 'web' ("+webID+") as an ingress port")
	_, err = a.CreateService(t.Context(), withPorts("dyn", swarm.PortConfig{TargetPort: 1, PublishedPort: 30000}))
	wantErr(t, err, errdefs.KindInvalid, "port '30000' is already in use by service 'web'")
	if snapshot(t, s) != before {
		t.Fatal("a refused create changed the store")
	}
	// udp 8080 is another port.
	mustCreate(t, a, withPorts("dns", swarm.PortConfig{TargetPort: 53, PublishedPort: 8080, Protocol: "udp"}))
	otherID := mustCreate(t, a, withPorts("other", swarm.PortConfig{TargetPort: 9}))
	if got := stored(t, s, otherID).Endpoint.Ports[0].PublishedPort; got != 30001 {
		t.Fatalf("second dynamic port got %d, want 30001", got)
	}

	// An update keeps the dynamic port the service holds.
	web = stored(t, s, webID)
	spec := web.Spec
	spec.Labels = map[string]string{"changed": "yes"}
	if err := a.UpdateService(t.Context(), webID, web.Version.Index, spec, RollbackNone); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, webID).Endpoint.Ports; got[1].PublishedPort != 30000 {
		t.Fatalf("after update web ports got %+v, want the dynamic port 30000 kept", got)
	}
}

func TestPublishPortsHostMode(t *testing.T) {
	host := swarm.PortConfig{TargetPort: 80, PublishedPort: 8080, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeHost}
	ingress := host
	ingress.PublishMode = swarm.PortConfigPublishModeIngress
	other := &store.Service{Service: swarm.Service{ID: "s1", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "a"}}, Endpoint: swarm.Endpoint{Ports: []swarm.PortConfig{host}}}}
	used := portsInUse([]*store.Service{other}, "self")
	if _, err := publishPorts([]swarm.PortConfig{host}, nil, used); err != nil {
		t.Errorf("two host-mode services on one port: got %v, want allowed", err)
	}
	_, err := publishPorts([]swarm.PortConfig{ingress}, nil, used)
	wantErr(t, err, errdefs.KindInvalid, "as a host-published port")
	if got, err := publishPorts([]swarm.PortConfig{{TargetPort: 80, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeHost}}, nil, used); err != nil || got[0].PublishedPort != 0 {
		t.Errorf("host-mode port 0 got %+v, %v; want left 0 for the node to choose", got, err)
	}
}

func TestGetServiceLookup(t *testing.T) {
	a, s := newAPI(t)
	put(t, s,
		&store.Service{Service: swarm.Service{ID: "abc111", Spec: validSpec("web")}},
		&store.Service{Service: swarm.Service{ID: "abc222", Spec: validSpec("db")}},
		&store.Service{Service: swarm.Service{ID: "xyz333", Spec: validSpec("abc111x")}},
	)
	tests := []struct {
		ref    string
		wantID string
		kind   errdefs.Kind
		msg    string
	}{
		{ref: "abc111", wantID: "abc111"},
		{ref: "web", wantID: "abc111"},
		{ref: "WEB", wantID: "abc111"},
		{ref: "abc111x", wantID: "xyz333"},
		{ref: "xyz", wantID: "xyz333"},
		{ref: "abc", kind: errdefs.KindInvalid, msg: "service abc is ambiguous (2 matches found)"},
		{ref: "nope", kind: errdefs.KindNotFound, msg: "service nope not found"},
		{ref: "", kind: errdefs.KindNotFound, msg: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := a.GetService(t.Context(), tt.ref, false)
			if tt.msg != "" {
				wantErr(t, err, tt.kind, tt.msg)
				return
			}
			if err != nil || got.ID != tt.wantID {
				t.Fatalf("got %s, %v; want %s", got.ID, err, tt.wantID)
			}
		})
	}
}

func TestGetServiceInsertDefaults(t *testing.T) {
	a, _ := newAPI(t)
	id := mustCreate(t, a, validSpec("web"))
	plain, err := a.GetService(t.Context(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Spec.UpdateConfig != nil {
		t.Fatalf("without insertDefaults UpdateConfig got %+v, want nil", plain.Spec.UpdateConfig)
	}
	got, err := a.GetService(t.Context(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	rp := got.Spec.TaskTemplate.RestartPolicy
	if rp == nil || rp.Condition != "any" || *rp.Delay != defaultRestartDelay || *rp.MaxAttempts != 0 {
		t.Errorf("restart policy got %+v, want any/5s/0", rp)
	}
	if uc := got.Spec.UpdateConfig; uc == nil || uc.Parallelism != 1 || uc.FailureAction != "pause" || uc.Monitor != defaultMonitor || uc.Order != "stop-first" {
		t.Errorf("update config got %+v, want Docker's defaults", uc)
	}
	if got.Spec.RollbackConfig == nil || *got.Spec.TaskTemplate.ContainerSpec.StopGracePeriod != defaultStopGrace {
		t.Errorf("rollback config %+v or stop grace missing", got.Spec.RollbackConfig)
	}
	again, _ := a.GetService(t.Context(), id, false)
	if again.Spec.UpdateConfig != nil {
		t.Fatal("insertDefaults changed the stored service")
	}
}

func TestUpdateService(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreate(t, a, validSpec("web"))
	svc := stored(t, s, id)

	// Stale version.
	before := snapshot(t, s)
	err := a.UpdateService(t.Context(), id, svc.Version.Index-1, svc.Spec, RollbackNone)
	wantErr(t, err, errdefs.KindConflict, "update out of sequence")

	// Refusals change nothing.
	renamed := svc.Spec
	renamed.Name = "web2"
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, renamed, RollbackNone), errdefs.KindNotImplemented, "renaming services is not supported")
	global := clone(svc.Spec)
	global.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, global, RollbackNone), errdefs.KindNotImplemented, "service mode change is not allowed")
	bad := clone(svc.Spec)
	bad.TaskTemplate.ContainerSpec.Image = "BAD:Image::ref"
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, bad, RollbackNone), errdefs.KindInvalid, "is not a valid repository/tag")
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, svc.Spec, "sideways"), errdefs.KindInvalid, "unrecognized rollback option sideways")
	wantErr(t, a.UpdateService(t.Context(), id, svc.Version.Index, svc.Spec, RollbackPrevious), errdefs.KindPrecondition, "service "+id+" does not have a previous spec")
	if snapshot(t, s) != before {
		t.Fatal("a refused update changed the store")
	}

	// The same spec again: a new version, as Docker's (clients read it
	// back to see the update took), but no new spec version, so no task
	// is replaced.
	if err := a.UpdateService(t.Context(), id, svc.Version.Index, svc.Spec, RollbackNone); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, id); got.SpecVersion != 1 || got.PreviousSpec != nil || got.Version.Index <= svc.Version.Index {
		t.Fatalf("after a no-change update got version %d spec version %d previous %v, want past %d, 1 and none", got.Version.Index, got.SpecVersion, got.PreviousSpec, svc.Version.Index)
	}
	svc = stored(t, s, id)

	// A real change.
	scaled := clone(svc.Spec)
	scaled.Mode.Replicated.Replicas = ptr(uint64(3))
	if err := a.UpdateService(t.Context(), "web", svc.Version.Index, scaled, RollbackNone); err != nil {
		t.Fatal(err)
	}
	got := stored(t, s, id)
	if got.SpecVersion != 2 || *got.Spec.Mode.Replicated.Replicas != 3 || got.PreviousSpec == nil || *got.PreviousSpec.Mode.Replicated.Replicas != 1 {
		t.Fatalf("after scaling got spec version %d spec %+v previous %+v, want 2, 3 replicas, previous 1", got.SpecVersion, got.Spec.Mode, got.PreviousSpec)
	}

	// ForceUpdate alone is a change.
	forced := clone(got.Spec)
	forced.TaskTemplate.ForceUpdate++
	if err := a.UpdateService(t.Context(), id, got.Version.Index, forced, RollbackNone); err != nil {
		t.Fatal(err)
	}
	got = stored(t, s, id)
	if got.SpecVersion != 3 {
		t.Fatalf("after force update got spec version %d, want 3", got.SpecVersion)
	}

	// Rollback swaps the previous spec back.
	if err := a.UpdateService(t.Context(), id, got.Version.Index, swarm.ServiceSpec{}, RollbackPrevious); err != nil {
		t.Fatal(err)
	}
	got = stored(t, s, id)
	if got.SpecVersion != 4 || got.Spec.TaskTemplate.ForceUpdate != 0 || got.PreviousSpec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("after rollback got spec version %d force %d previous force %d, want 4, 0, 1", got.SpecVersion, got.Spec.TaskTemplate.ForceUpdate, got.PreviousSpec.TaskTemplate.ForceUpdate)
	}
	us := got.UpdateStatus
	if us == nil || us.State != swarm.UpdateStateRollbackStarted || us.StartedAt == nil || !us.StartedAt.Equal(testNow) || us.Message != "manually requested rollback" {
		t.Fatalf("update status got %+v, want rollback_started at %v", us, testNow)
	}

	// The same spec again resumes: the update status is cleared.
	if err := a.UpdateService(t.Context(), id, got.Version.Index, got.Spec, RollbackNone); err != nil {
		t.Fatal(err)
	}
	if got = stored(t, s, id); got.UpdateStatus != nil || got.SpecVersion != 4 {
		t.Fatalf("after resending the spec got update status %+v spec version %d, want none and 4", got.UpdateStatus, got.SpecVersion)
	}
}

func TestUpdateJobAdvancesIteration(t *testing.T) {
	a, s := newAPI(t)
	spec := validSpec("job")
	spec.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}
	id := mustCreate(t, a, spec)
	svc := stored(t, s, id)
	// The iteration is the spec version the orchestrator gives the run's
	// tasks, from the start: docker's CLI follows the tasks of the
	// iteration it reads right after the create or update.
	if svc.JobStatus == nil || !svc.JobStatus.LastExecution.Equal(testNow) || svc.JobStatus.JobIteration.Index != svc.SpecVersion {
		t.Fatalf("job status got %+v, want set at creation with iteration %d", svc.JobStatus, svc.SpecVersion)
	}
	next := clone(svc.Spec)
	next.TaskTemplate.ForceUpdate = 1
	if err := a.UpdateService(t.Context(), id, svc.Version.Index, next, RollbackNone); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, s, id); got.JobStatus.JobIteration.Index != got.SpecVersion || got.SpecVersion != 2 {
		t.Fatalf("job iteration got %d, want the spec version 2", got.JobStatus.JobIteration.Index)
	}
}

func TestRemoveServiceMarksTasks(t *testing.T) {
	a, s := newAPI(t)
	id := mustCreate(t, a, validSpec("web"))
	put(t, s, task("t1", id, "n1", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 1), task("t2", "other", "n1", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 1))
	wantErr(t, a.RemoveService(t.Context(), "nope"), errdefs.KindNotFound, "service nope not found")
	if err := a.RemoveService(t.Context(), "web"); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx store.ReadTx) {
		if store.Get[*store.Service](tx, id) != nil {
			t.Error("service still stored")
		}
		if got := store.Get[*store.Task](tx, "t1").DesiredState; got != swarm.TaskStateRemove {
			t.Errorf("its task's desired state got %q, want remove", got)
		}
		if got := store.Get[*store.Task](tx, "t2").DesiredState; got != swarm.TaskStateRunning {
			t.Errorf("another service's task desired state got %q, want running", got)
		}
	})
}

func TestListServicesFilters(t *testing.T) {
	a, s := newAPI(t)
	web := validSpec("web")
	web.Labels = map[string]string{"com.docker.stack.namespace": "shop", "tier": "front"}
	glob := validSpec("agent")
	glob.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	webID := mustCreate(t, a, web)
	agentID := mustCreate(t, a, glob)
	mustCreate(t, a, validSpec("webhook"))
	_ = s

	tests := []struct {
		name  string
		pairs [][2]string
		want  []string
	}{
		{"none", nil, []string{"web", "agent", "webhook"}},
		{"name prefix", [][2]string{{"name", "web"}}, []string{"web", "webhook"}},
		{"id prefix", [][2]string{{"id", webID[:6]}}, []string{"web"}},
		{"label key", [][2]string{{"label", "com.docker.stack.namespace"}}, []string{"web"}},
		{"label value", [][2]string{{"label", "tier=back"}}, nil},
		{"mode", [][2]string{{"mode", "global"}}, []string{"agent"}},
		{"two names", [][2]string{{"name", "agent"}, {"name", "webh"}}, []string{"agent", "webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.ListServices(t.Context(), filters.New(tt.pairs...), false)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, s := range got {
				names[s.Spec.Name] = true
			}
			if len(names) != len(tt.want) {
				t.Fatalf("got %v, want %v", names, tt.want)
			}
			for _, w := range tt.want {
				if !names[w] {
					t.Fatalf("got %v, want %v", names, tt.want)
				}
			}
		})
	}
	_, err := a.ListServices(t.Context(), filters.New([2]string{"color", "red"}), false)
	wantErr(t, err, errdefs.KindInvalid, "invalid filter 'color'")
	_ = agentID
}

func TestListServicesStatus(t *testing.T) {
	a, s := newAPI(t)
	rep := validSpec("web")
	rep.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(3))}}
	webID := mustCreate(t, a, rep)
	glob := validSpec("agent")
	glob.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	agentID := mustCreate(t, a, glob)
	job := validSpec("job")
	job.Mode = swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: ptr(uint64(2)), TotalCompletions: ptr(uint64(5))}}
	jobID := mustCreate(t, a, job)
	running, down := swarm.TaskStateRunning, swarm.NodeStateDown
	put(t, s,
		node("n1", "h1", swarm.NodeRoleManager, swarm.NodeStateReady),
		node("n2", "h2", swarm.NodeRoleWorker, swarm.NodeStateReady),
		node("n3", "h3", swarm.NodeRoleWorker, down),
		task("w1", webID, "n1", 1, running, running, 1),
		task("w2", webID, "n2", 2, swarm.TaskStateStarting, running, 1),
		task("w3", webID, "n3", 3, running, running, 1), // its node is down
		task("w0", webID, "n1", 1, swarm.TaskStateShutdown, swarm.TaskStateShutdown, 1),
		task("g1", agentID, "n1", 0, running, running, 1),
		task("g2", agentID, "n2", 0, running, running, 1),
		task("g3", agentID, "n3", 0, running, running, 1),
		jobTask("j1", jobID, "n1", 1, swarm.TaskStateComplete, swarm.TaskStateComplete, 1),
		jobTask("j2", jobID, "n2", 2, swarm.TaskStateComplete, swarm.TaskStateComplete, 1),
		jobTask("j3", jobID, "n2", 3, swarm.TaskStateComplete, swarm.TaskStateComplete, 1),
		jobTask("j4", jobID, "n1", 4, running, running, 1),
	)
	got, err := a.ListServices(t.Context(), noFilters(), true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]swarm.ServiceStatus{
		webID:   {RunningTasks: 1, DesiredTasks: 3},
		agentID: {RunningTasks: 2, DesiredTasks: 2},
		jobID:   {RunningTasks: 1, DesiredTasks: 2, CompletedTasks: 3},
	}
	for _, svc := range got {
		if svc.ServiceStatus == nil || *svc.ServiceStatus != want[svc.ID] {
			t.Errorf("%s: status got %+v, want %+v", svc.Spec.Name, svc.ServiceStatus, want[svc.ID])
		}
	}
	plain, _ := a.ListServices(t.Context(), noFilters(), false)
	if plain[0].ServiceStatus != nil {
		t.Error("status given without status=true")
	}
}

func jobTask(id, serviceID, nodeID string, slot int, state, desired swarm.TaskState, iteration uint64) *store.Task {
	t := task(id, serviceID, nodeID, slot, state, desired, iteration)
	t.JobIteration = &swarm.Version{Index: iteration}
	return t
}

// TestJobServiceStatus follows the counts `docker service ls` shows for
// jobs through a run, as SwarmKit's ListServiceStatuses gives them: a
// replicated job of 2 completions shows 0/2 (2/2 completed) once done, a
// global job's desired tasks are those of the run not yet completed, and a
// new run (a spec change) counts its own tasks only.
func TestJobServiceStatus(t *testing.T) {
	one, two := uint64(1), uint64(2)
	rjob := &store.Service{Service: swarm.Service{ID: "r", Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{
		ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &two, TotalCompletions: &two}}},
		JobStatus: &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}}}, SpecVersion: 1}
	rjob2 := store.Clone(rjob)
	rjob2.SpecVersion, rjob2.JobStatus = 2, &swarm.JobStatus{JobIteration: swarm.Version{Index: 2}}
	serial := store.Clone(rjob)
	serial.Spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &two}
	gjob := &store.Service{Service: swarm.Service{ID: "g", Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}},
		JobStatus: &swarm.JobStatus{JobIteration: swarm.Version{Index: 1}}}, SpecVersion: 1}
	const (
		run, done, shut = swarm.TaskStateRunning, swarm.TaskStateComplete, swarm.TaskStateShutdown
		pend, failed    = swarm.TaskStatePending, swarm.TaskStateFailed
	)
	tests := []struct {
		name  string
		svc   *store.Service
		tasks []*store.Task
		want  swarm.ServiceStatus
	}{
		{"replicated job, no task yet", rjob, nil, swarm.ServiceStatus{DesiredTasks: 2}},
		{"replicated job, pending", rjob, []*store.Task{jobTask("a", "r", "", 1, pend, run, 1), jobTask("b", "r", "", 2, pend, run, 1)},
			swarm.ServiceStatus{DesiredTasks: 2}},
		{"replicated job, running", rjob, []*store.Task{jobTask("a", "r", "n1", 1, run, run, 1), jobTask("b", "r", "n1", 2, run, run, 1)},
			swarm.ServiceStatus{RunningTasks: 2, DesiredTasks: 2}},
		{"replicated job, one done", rjob, []*store.Task{jobTask("a", "r", "n1", 1, done, done, 1), jobTask("b", "r", "n1", 2, run, run, 1)},
			swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 2, CompletedTasks: 1}},
		{"replicated job, done: 0/2 (2/2 completed)", rjob, []*store.Task{jobTask("a", "r", "n1", 1, done, done, 1), jobTask("b", "r", "n1", 2, done, done, 1)},
			swarm.ServiceStatus{DesiredTasks: 2, CompletedTasks: 2}},
		{"replicated job, completed before the orchestrator saw it", rjob, []*store.Task{jobTask("a", "r", "n1", 1, done, run, 1)},
			swarm.ServiceStatus{DesiredTasks: 2, CompletedTasks: 1}},
		{"replicated job, a failure and its restart", rjob, []*store.Task{jobTask("a", "r", "n1", 1, failed, shut, 1), jobTask("a2", "r", "n1", 1, run, run, 1)},
			swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 2}},
		{"replicated job one at a time, done", serial, []*store.Task{jobTask("a", "r", "n1", 1, done, done, 1), jobTask("b", "r", "n1", 2, done, done, 1)},
			swarm.ServiceStatus{DesiredTasks: 1, CompletedTasks: 2}},
		{"replicated job, a new run counts its own tasks", rjob2, []*store.Task{jobTask("a", "r", "n1", 1, done, done, 1), jobTask("b", "r", "n1", 2, done, done, 1), jobTask("c", "r", "n1", 1, run, run, 2)},
			swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 2}},
		{"global job, no task yet", gjob, nil, swarm.ServiceStatus{}},
		{"global job, running on both nodes", gjob, []*store.Task{jobTask("a", "g", "n1", 0, run, run, 1), jobTask("b", "g", "n2", 0, pend, run, 1)},
			swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 2}},
		{"global job, one done", gjob, []*store.Task{jobTask("a", "g", "n1", 0, done, done, 1), jobTask("b", "g", "n2", 0, run, run, 1)},
			swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 1, CompletedTasks: 1}},
		{"global job, done: 0/0 (2/2 completed)", gjob, []*store.Task{jobTask("a", "g", "n1", 0, done, done, 1), jobTask("b", "g", "n2", 0, done, done, 1)},
			swarm.ServiceStatus{CompletedTasks: 2}},
		{"global job, a task on a down node", gjob, []*store.Task{jobTask("a", "g", "n1", 0, done, done, 1), jobTask("b", "g", "n3", 0, run, run, 1)},
			swarm.ServiceStatus{CompletedTasks: 1}},
	}
	up := func(id string) bool { return id == "n1" || id == "n2" }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serviceStatus(tt.svc, tt.tasks, up); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
