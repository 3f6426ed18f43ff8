package stack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"
)

func TestDeployOrder(t *testing.T) {
	svc := func(name string, deps ...string) Service {
		s := Service{Name: name}
		for _, d := range deps {
			s.DependsOn = append(s.DependsOn, Dependency{Service: d, Condition: "service_healthy"})
		}
		return s
	}
	tests := []struct {
		name     string
		services []Service
		want     string
	}{
		{"no dependencies: by name", []Service{svc("web"), svc("db"), svc("cache")}, "cache db web"},
		{"a chain", []Service{svc("web", "migrate"), svc("migrate", "db"), svc("db")}, "db migrate web"},
		{"a service waits for all it depends on", []Service{svc("a", "z"), svc("z"), svc("m")}, "m z a"},
		{"diamond", []Service{svc("top", "l", "r"), svc("l", "base"), svc("r", "base"), svc("base")}, "base l r top"},
		{"cycle", []Service{svc("a", "b"), svc("b", "a")}, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deployOrder(tt.services)
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
			}
			out := strings.Join(names, " ")
			if err != nil {
				out = "error"
			}
			if out != tt.want {
				t.Errorf("order %q, want %q", out, tt.want)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	replicas := func(n uint64) swarm.ServiceMode {
		return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
	}
	base := func() swarm.ServiceSpec {
		return swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "stk_web", Labels: map[string]string{"a": "1"}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
				Image: "busybox", Env: []string{"A=1"}, Privileges: &swarm.Privileges{},
			}},
			EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 8080}}},
		}
	}
	tests := []struct {
		name   string
		stored func(*swarm.ServiceSpec)
		want   bool
	}{
		{"same", func(*swarm.ServiceSpec) {}, true},
		{"the daemon filled in defaults", func(s *swarm.ServiceSpec) {
			s.Mode = replicas(1)
			s.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, FailureAction: "pause"}
			s.EndpointSpec.Mode = "vip"
			s.EndpointSpec.Ports[0].Protocol = "tcp"
			s.EndpointSpec.Ports[0].PublishMode = "ingress"
		}, true},
		{"the image was changed by hand", func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "nginx" }, false},
		{"an env var was added by hand", func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = append(s.TaskTemplate.ContainerSpec.Env, "B=2")
		}, false},
		{"a port was removed by hand", func(s *swarm.ServiceSpec) { s.EndpointSpec.Ports = nil }, false},
		{"a label was changed by hand", func(s *swarm.ServiceSpec) { s.Labels["a"] = "2" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := base()
			tt.stored(&stored)
			if got := covers(stored, base()); got != tt.want {
				t.Errorf("covers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSpecDigestFollowsTheSpec(t *testing.T) {
	a := swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox", Env: []string{"A=1"}}}}
	b := a
	b.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "busybox", Env: []string{"A=2"}}
	if specDigest(a) != specDigest(a) {
		t.Error("the digest of one spec changes")
	}
	if specDigest(a) == specDigest(b) {
		t.Error("two specs have the same digest")
	}
}

func TestUpdatedSpecKeepsThePinnedImage(t *testing.T) {
	existing := swarm.Service{Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Labels: map[string]string{LabelImage: "nginx:1"}},
		TaskTemplate: swarm.TaskSpec{ForceUpdate: 3, ContainerSpec: &swarm.ContainerSpec{Image: "nginx:1@sha256:abc"}},
	}}
	spec := func(image string) swarm.ServiceSpec {
		return swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}}}
	}
	tests := []struct {
		resolve, image, wantImage string
		wantQuery                 bool
	}{
		{ResolveImageNever, "nginx:1", "nginx:1@sha256:abc", false},
		{ResolveImageNever, "nginx:2", "nginx:2", false},
		{ResolveImageChanged, "nginx:1", "nginx:1@sha256:abc", false},
		{ResolveImageChanged, "nginx:2", "nginx:2", true},
		{ResolveImageAlways, "nginx:1", "nginx:1", true},
	}
	for _, tt := range tests {
		got, query := updatedSpec(spec(tt.image), existing, tt.resolve)
		if got.TaskTemplate.ContainerSpec.Image != tt.wantImage || query != tt.wantQuery {
			t.Errorf("%s %s: image %s, query %v; want %s, %v", tt.resolve, tt.image,
				got.TaskTemplate.ContainerSpec.Image, query, tt.wantImage, tt.wantQuery)
		}
		if got.TaskTemplate.ForceUpdate != 3 {
			t.Errorf("%s %s: ForceUpdate %d, want the service's 3", tt.resolve, tt.image, got.TaskTemplate.ForceUpdate)
		}
	}
}

func TestRotation(t *testing.T) {
	v1 := fileObject{ID: "1", Name: "stk_pw", Labels: map[string]string{LabelNamespace: "stk"}}
	v2 := fileObject{ID: "2", Name: "stk_pw-2", Labels: map[string]string{LabelRotates: "stk_pw", LabelGeneration: "2"}}
	v3 := fileObject{ID: "3", Name: "stk_pw-3", Labels: map[string]string{LabelRotates: "stk_pw", LabelGeneration: "3"}}
	other := fileObject{ID: "9", Name: "stk_other"}
	objs := []fileObject{v2, other, v1, v3}

	if got, _ := latest(versions(objs, "stk_pw")); got.ID != "3" {
		t.Errorf("latest version %s, want stk_pw-3", got.Name)
	}
	if got, _ := latest(versions(objs, "stk_other")); got.ID != "9" {
		t.Errorf("latest of a never rotated object %s, want itself", got.Name)
	}
	if _, ok := latest(versions(objs, "stk_new")); ok {
		t.Error("an object that does not exist has a latest version")
	}
	var got []string
	for _, r := range superseded(objs, map[string]bool{"2": true}) {
		got = append(got, r.old.Name+">"+r.by)
	}
	if want := []string{"stk_pw>stk_pw-3"}; !cmp.Equal(got, want) {
		t.Errorf("superseded %v, want %v (stk_pw-2 is held by a live task, stk_other was never rotated)", got, want)
	}
}

func TestProgressOf(t *testing.T) {
	two := uint64(2)
	task := func(state, desired swarm.TaskState) swarm.Task {
		return swarm.Task{DesiredState: desired, Status: swarm.TaskStatus{State: state, Err: "exit 1"}}
	}
	replicated := swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}}}
	job := swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{TotalCompletions: &two}}}}
	global := swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}
	tests := []struct {
		name      string
		svc       swarm.Service
		tasks     []swarm.Task
		condition string
		done      bool
		failed    int
	}{
		{"one of two healthy", replicated, []swarm.Task{task("running", "running"), task("starting", "running")}, "service_healthy", false, 0},
		{"both healthy", replicated, []swarm.Task{task("running", "running"), task("running", "running")}, "service_healthy", true, 0},
		{"a task shutting down does not count", replicated, []swarm.Task{task("running", "running"), task("running", "shutdown")}, "service_healthy", false, 0},
		{"job half done", job, []swarm.Task{task("complete", "complete"), task("running", "complete")}, "service_completed_successfully", false, 0},
		{"job done after a failure", job, []swarm.Task{task("complete", "complete"), task("failed", "shutdown"), task("complete", "complete")}, "service_completed_successfully", true, 1},
		{"global: all its tasks", global, []swarm.Task{task("running", "running"), task("running", "running")}, "service_healthy", true, 0},
		{"global: one still starting", global, []swarm.Task{task("running", "running"), task("preparing", "running")}, "service_healthy", false, 0},
		{"global: no task yet", global, nil, "service_healthy", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := progressOf(tt.svc, tt.tasks, tt.condition)
			if p.done() != tt.done || p.failed != tt.failed {
				t.Errorf("%v: done %v failed %d, want %v %d", p, p.done(), p.failed, tt.done, tt.failed)
			}
		})
	}
}
