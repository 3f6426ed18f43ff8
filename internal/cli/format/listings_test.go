package format

import (
	"bytes"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/shoal-project/shoal/internal/cli/internal/golden"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func networkProto(p string) network.IPProtocol { return network.IPProtocol(p) }

func ptr[T any](v T) *T { return &v }

func task(id, svc string, slot int, node string, desired, state swarm.TaskState, age time.Duration, created time.Duration) swarm.Task {
	return swarm.Task{
		ID:           id,
		Meta:         swarm.Meta{CreatedAt: now.Add(-created)},
		ServiceID:    svc,
		Slot:         slot,
		NodeID:       node,
		DesiredState: desired,
		Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:1.36@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		Status:       swarm.TaskStatus{State: state, Timestamp: now.Add(-age)},
	}
}

func taskFixture() TaskListing {
	failed := task("t0failedaaaaaaaaaaaaaaaaa", "svc1", 2, "node1", swarm.TaskStateShutdown, swarm.TaskStateFailed, 3*time.Minute, 10*time.Minute)
	failed.Status.Err = "task: non-zero exit (1): the command could not be run"
	withPort := task("t3runningcccccccccccccccc", "svc1", 10, "node2", swarm.TaskStateRunning, swarm.TaskStateRunning, 5*time.Second, time.Minute)
	withPort.Status.PortStatus.Ports = []swarm.PortConfig{{PublishedPort: 30001, TargetPort: 80, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeHost}}
	return TaskListing{
		Tasks: []swarm.Task{
			failed,
			task("t1runningaaaaaaaaaaaaaaaa", "svc1", 1, "node1", swarm.TaskStateRunning, swarm.TaskStateRunning, 5*time.Second, 5*time.Minute),
			task("t2runningbbbbbbbbbbbbbbbb", "svc1", 2, "node2", swarm.TaskStateRunning, swarm.TaskStatePreparing, 70*time.Second, 2*time.Minute),
			withPort,
			task("t4globaldddddddddddddddddd", "svc2", 0, "node1", swarm.TaskStateRunning, swarm.TaskStateRunning, 2*time.Hour, 3*time.Hour),
		},
		ServiceNames: map[string]string{"svc1": "web", "svc2": "agent"},
		NodeNames:    map[string]string{"node1": "alpha", "node2": "beta"},
		Now:          now,
	}
}

func TestTaskTableGolden(t *testing.T) {
	tests := []struct {
		name    string
		noTrunc bool
	}{
		{"tasks", false},
		{"tasks-no-trunc", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := taskFixture()
			l.NoTrunc = tt.noTrunc
			var b bytes.Buffer
			if err := Table(&b, TaskHeader, TaskRows(l)); err != nil {
				t.Fatal(err)
			}
			for _, id := range TaskIDs(l) {
				b.WriteString(id + "\n")
			}
			golden.Check(t, "testdata/"+tt.name+".golden", b.Bytes())
		})
	}
}

func TestServiceTableGolden(t *testing.T) {
	three := uint64(3)
	services := []swarm.Service{
		{
			ID: "w9v2qg0n3nm3ic5e0r0xvyq8n",
			Spec: swarm.ServiceSpec{
				Annotations:  swarm.Annotations{Name: "web"},
				Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
			},
			Endpoint: swarm.Endpoint{Ports: []swarm.PortConfig{
				{PublishedPort: 8080, TargetPort: 80, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeIngress},
				{PublishedPort: 8081, TargetPort: 81, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeIngress},
			}},
			ServiceStatus: &swarm.ServiceStatus{RunningTasks: 3, DesiredTasks: 3},
		},
		{
			ID: "a1b2c3d4e5f6g7h8i9j0k1l2m",
			Spec: swarm.ServiceSpec{
				Annotations:  swarm.Annotations{Name: "agent"},
				Mode:         swarm.ServiceMode{Global: &swarm.GlobalService{}},
				TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest"}},
			},
			ServiceStatus: &swarm.ServiceStatus{RunningTasks: 1, DesiredTasks: 2},
		},
	}
	var b bytes.Buffer
	if err := Table(&b, ServiceHeader, ServiceRows(services)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ServiceIDs(services) {
		b.WriteString(id + "\n")
	}
	golden.Check(t, "testdata/services.golden", b.Bytes())
}

func nodeFixture() []swarm.Node {
	return []swarm.Node{
		{
			ID:            "zz2manager000000000000000",
			Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
			Description:   swarm.NodeDescription{Hostname: "node-10", Engine: swarm.EngineDescription{EngineVersion: "0.1.0"}},
			Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.10"},
			ManagerStatus: &swarm.ManagerStatus{Reachability: swarm.ReachabilityUnreachable, Addr: "10.0.0.10:2377"},
		},
		{
			ID:   "aa1leader0000000000000000",
			Meta: swarm.Meta{CreatedAt: time.Date(2026, 2, 28, 9, 30, 0, 0, time.UTC)},
			Spec: swarm.NodeSpec{
				Annotations:  swarm.Annotations{Labels: map[string]string{"zone": "a", "ssd": ""}},
				Role:         swarm.NodeRoleManager,
				Availability: swarm.NodeAvailabilityActive,
			},
			Description: swarm.NodeDescription{
				Hostname:  "node-2",
				Platform:  swarm.Platform{OS: "linux", Architecture: "x86_64"},
				Resources: swarm.Resources{NanoCPUs: 2e9, MemoryBytes: 24 << 30},
				Engine:    swarm.EngineDescription{EngineVersion: "0.1.0", Plugins: []swarm.PluginDescription{{Type: "Network", Name: "overlay"}, {Type: "Network", Name: "bridge"}}},
			},
			Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.2"},
			ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.2:2377"},
		},
		{
			ID:          "mm3worker0000000000000000",
			Spec:        swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityDrain},
			Description: swarm.NodeDescription{Hostname: "node-3", Engine: swarm.EngineDescription{EngineVersion: "0.1.0"}},
			Status:      swarm.NodeStatus{State: swarm.NodeStateDown, Message: "heartbeat failure"},
		},
	}
}

func TestNodeTableGolden(t *testing.T) {
	nodes := nodeFixture()
	var b bytes.Buffer
	if err := Table(&b, NodeHeader, NodeRows(nodes, "aa1leader0000000000000000")); err != nil {
		t.Fatal(err)
	}
	for _, id := range NodeIDs(nodes) {
		b.WriteString(id + "\n")
	}
	golden.Check(t, "testdata/nodes.golden", b.Bytes())
}

func TestNodePrettyGolden(t *testing.T) {
	var b bytes.Buffer
	for _, n := range nodeFixture()[1:] {
		if err := NodePretty(&b, n); err != nil {
			t.Fatal(err)
		}
	}
	golden.Check(t, "testdata/node-pretty.golden", b.Bytes())
}

func TestServicePrettyGolden(t *testing.T) {
	three := uint64(3)
	started := now.Add(-90 * time.Second)
	full := swarm.Service{
		ID: "w9v2qg0n3nm3ic5e0r0xvyq8n",
		Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "web", Labels: map[string]string{"tier": "front"}},
			Mode:        swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{
					Image:  "busybox:1.36",
					Args:   []string{"httpd", "-f"},
					Env:    []string{"A=1", "B=2"},
					Dir:    "/srv",
					User:   "nobody",
					Init:   ptr(false),
					Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "data", Target: "/data"}},
					Healthcheck: &container.HealthConfig{
						Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Retries: 3,
					},
				},
				Resources: &swarm.ResourceRequirements{
					Limits:       &swarm.Limit{NanoCPUs: 5e8, MemoryBytes: 64 << 20, Pids: 100},
					Reservations: &swarm.Resources{NanoCPUs: 25e7},
				},
				Placement: &swarm.Placement{
					Constraints: []string{"node.role==worker"},
					Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}},
					MaxReplicas: 2,
				},
				Networks:  []swarm.NetworkAttachmentConfig{{Target: "net1"}},
				LogDriver: &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m"}},
			},
			UpdateConfig:   &swarm.UpdateConfig{Parallelism: 1, Delay: 10 * time.Second, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"},
			RollbackConfig: &swarm.UpdateConfig{Parallelism: 0, FailureAction: "pause", Order: "start-first"},
			EndpointSpec:   &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
		},
		Endpoint:     swarm.Endpoint{Ports: []swarm.PortConfig{{PublishedPort: 8080, TargetPort: 80, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeIngress}}},
		UpdateStatus: &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started, Message: "update in progress"},
	}
	minimal := swarm.Service{
		ID: "a1b2c3d4e5f6g7h8i9j0k1l2m",
		Spec: swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: "agent"},
			Mode:         swarm.ServiceMode{Global: &swarm.GlobalService{}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest"}},
		},
	}
	var b bytes.Buffer
	for _, s := range []swarm.Service{full, minimal} {
		if err := ServicePretty(&b, s, map[string]string{"net1": "backend"}, now); err != nil {
			t.Fatal(err)
		}
	}
	golden.Check(t, "testdata/service-pretty.golden", b.Bytes())
}

func TestImageTableGolden(t *testing.T) {
	images := []image.Summary{
		{ID: "sha256:1111111111111111111111111111111111111111111111111111111111111111", RepoTags: []string{"busybox:latest", "busybox:1.36"}, Created: now.Add(-48 * time.Hour).Unix(), Size: 4_261_550},
		{ID: "sha256:2222222222222222222222222222222222222222222222222222222222222222", RepoTags: []string{"localhost:5000/app:v2"}, Created: now.Add(-10 * time.Minute).Unix(), Size: 123_456_789},
		{ID: "sha256:3333333333333333333333333333333333333333333333333333333333333333", RepoDigests: []string{"app@sha256:4444444444444444444444444444444444444444444444444444444444444444"}, Created: now.Add(-time.Hour).Unix(), Size: 1000},
		{ID: "sha256:5555555555555555555555555555555555555555555555555555555555555555", Created: now.Add(-3 * time.Hour).Unix(), Size: 0},
	}
	var b bytes.Buffer
	if err := Table(&b, ImageHeader, ImageRows(images, false, now)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ImageIDs(images, false) {
		b.WriteString(id + "\n")
	}
	golden.Check(t, "testdata/images.golden", b.Bytes())
}
