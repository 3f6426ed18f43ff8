package format

import (
	"bytes"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

func TestTruncateID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"swarm id", "9c4fj3p8xoz7wg1h2e5b6n0k1", "9c4fj3p8xoz7"},
		{"digest", "sha256:0123456789abcdef0123", "0123456789ab"},
		{"short", "abc", "abc"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TruncateID(tt.in); got != tt.want {
				t.Errorf("TruncateID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEllipsis(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "no such image", 30, "no such image"},
		{"exactly", "abcde", 5, "abcde"},
		{"cut", "task: non-zero exit (1): container failed", 30, "task: non-zero exit (1): cont…"},
		{"runes", "ééééé", 3, "éé…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ellipsis(tt.in, tt.max); got != tt.want {
				t.Errorf("Ellipsis(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestStateSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		state string
		ago   time.Duration
		want  string
	}{
		{"just now", "running", 300 * time.Millisecond, "Running less than a second ago"},
		{"seconds", "running", 5 * time.Second, "Running 5 seconds ago"},
		{"a minute", "shutdown", 70 * time.Second, "Shutdown about a minute ago"},
		{"minutes", "failed", 3 * time.Minute, "Failed 3 minutes ago"},
		{"hours", "complete", 2 * time.Hour, "Complete 2 hours ago"},
		{"days", "rejected", 50 * time.Hour, "Rejected 2 days ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StateSince(tt.state, now.Add(-tt.ago), now); got != tt.want {
				t.Errorf("StateSince(%q, -%s) = %q, want %q", tt.state, tt.ago, got, tt.want)
			}
		})
	}
}

func TestNaturalLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"web.2", "web.10", true},
		{"web.10", "web.2", false},
		{"web.1", "web.1", false},
		{"api", "web", true},
		{"node-9", "node-10", true},
		{"a01", "a1", false},
		{"a1", "a01", true},
		{"web", "web.1", true},
	}
	for _, tt := range tests {
		if got := NaturalLess(tt.a, tt.b); got != tt.want {
			t.Errorf("NaturalLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestServicePorts(t *testing.T) {
	ingress := func(pub, target uint32, proto string) swarm.PortConfig {
		return swarm.PortConfig{PublishedPort: pub, TargetPort: target, Protocol: networkProto(proto), PublishMode: swarm.PortConfigPublishModeIngress}
	}
	tests := []struct {
		name  string
		ports []swarm.PortConfig
		want  string
	}{
		{"none", nil, ""},
		{"one", []swarm.PortConfig{ingress(8080, 80, "tcp")}, "*:8080->80/tcp"},
		{"range both sides", []swarm.PortConfig{ingress(81, 81, "tcp"), ingress(80, 80, "tcp")}, "*:80-81->80-81/tcp"},
		{"many to one", []swarm.PortConfig{ingress(80, 80, "tcp"), ingress(81, 80, "tcp"), ingress(82, 80, "tcp")}, "*:80-82->80/tcp"},
		{"range then back", []swarm.PortConfig{ingress(80, 80, "tcp"), ingress(81, 81, "tcp"), ingress(82, 80, "tcp")}, "*:80-81->80-81/tcp, *:82->80/tcp"},
		{"protocols split", []swarm.PortConfig{ingress(53, 53, "udp"), ingress(53, 53, "tcp")}, "*:53->53/tcp, *:53->53/udp"},
		{"host mode hidden", []swarm.PortConfig{{PublishedPort: 9000, TargetPort: 9000, Protocol: "tcp", PublishMode: swarm.PortConfigPublishModeHost}}, ""},
		{"gap", []swarm.PortConfig{ingress(80, 80, "tcp"), ingress(90, 90, "tcp")}, "*:80->80/tcp, *:90->90/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServicePorts(tt.ports); got != tt.want {
				t.Errorf("ServicePorts = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	three, ten := uint64(3), uint64(10)
	status := &swarm.ServiceStatus{RunningTasks: 2, DesiredTasks: 3, CompletedTasks: 4}
	tests := []struct {
		name string
		svc  swarm.Service
		want string
	}{
		{"replicated", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}}}, ServiceStatus: status}, "2/3"},
		{"no status", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}, "0/0"},
		{"max per node", swarm.Service{Spec: swarm.ServiceSpec{
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}},
			TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{MaxReplicas: 1}},
		}, ServiceStatus: status}, "2/3 (max 1 per node)"},
		{"replicated job", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{TotalCompletions: &ten}}}, ServiceStatus: status}, "2/3 (4/10 completed)"},
		{"global job", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}}, ServiceStatus: status}, "2/3 (4/7 completed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Replicas(tt.svc); got != tt.want {
				t.Errorf("Replicas = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestImageWithoutDigest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"busybox:1.36@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "busybox:1.36"},
		{"registry.local:5000/team/app:v2", "registry.local:5000/team/app:v2"},
		{"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{"Not A Reference", "Not A Reference"},
	}
	for _, tt := range tests {
		if got := ImageWithoutDigest(tt.in); got != tt.want {
			t.Errorf("ImageWithoutDigest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitRepoTag(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"busybox:latest", "busybox", "latest"},
		{"localhost:5000/app:v1", "localhost:5000/app", "v1"},
		{"localhost:5000/app", "localhost:5000/app", "<none>"},
	}
	for _, tt := range tests {
		repo, tag := splitRepoTag(tt.in)
		if repo != tt.repo || tag != tt.tag {
			t.Errorf("splitRepoTag(%q) = %q, %q, want %q, %q", tt.in, repo, tag, tt.repo, tt.tag)
		}
	}
}

func TestTableAlignsColumns(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, []string{"ID", "NAME"}, [][]string{{"abc", "web"}, {"abcdefghijkl", "api"}}); err != nil {
		t.Fatal(err)
	}
	want := "ID             NAME\nabc            web\nabcdefghijkl   api\n"
	if got := b.String(); got != want {
		t.Errorf("Table =\n%q\nwant\n%q", got, want)
	}
}
