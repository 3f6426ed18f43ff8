package containerdexec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/moby/moby/api/types/swarm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// TestNative checks that errors keep their class whether the client has
// converted them already (its calls) or not (a task's exit channel).
func TestNative(t *testing.T) {
	notFound := status.Error(codes.NotFound, "task abc not found")
	unavail := status.Error(codes.Unavailable, "connection refused")
	for _, tt := range []struct {
		name         string
		err          error
		wantNotFound bool
		wantUnavail  bool
	}{
		{"gRPC NotFound", notFound, true, false},
		{"gRPC NotFound, wrapped", fmt.Errorf("wait: %w", notFound), true, false},
		{"converted NotFound", errgrpc.ToNative(notFound), true, false},
		{"converted NotFound, wrapped", fmt.Errorf("status of abc: %w", errgrpc.ToNative(notFound)), true, false},
		{"gRPC Unavailable", unavail, false, true},
		{"converted Unavailable", errgrpc.ToNative(unavail), false, true},
		{"plain error", errors.New("boom"), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := native(tt.err)
			if cerrdefs.IsNotFound(got) != tt.wantNotFound || cerrdefs.IsUnavailable(got) != tt.wantUnavail {
				t.Errorf("native(%v) = %v: got NotFound %v Unavailable %v, want %v %v",
					tt.err, got, cerrdefs.IsNotFound(got), cerrdefs.IsUnavailable(got), tt.wantNotFound, tt.wantUnavail)
			}
			if unavailable(tt.err) != tt.wantUnavail {
				t.Errorf("unavailable(%v): got %v, want %v", tt.err, !tt.wantUnavail, tt.wantUnavail)
			}
		})
	}
}

// TestExitError checks that a stop or wait counts a process as ended only
// when containerd says it exited or that it is gone, not when the wait
// itself broke off (containerd restarting under a stop).
func TestExitError(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name    string
		st      *client.ExitStatus
		wantErr bool
	}{
		{"exited 0", client.NewExitStatus(0, now, nil), false},
		{"exited 137", client.NewExitStatus(137, now, nil), false},
		{"task gone", client.NewExitStatus(client.UnknownExitStatus, now, status.Error(codes.NotFound, "task abc not found")), false},
		{"wait broke off", client.NewExitStatus(client.UnknownExitStatus, now, status.Error(codes.Unavailable, "transport is closing")), true},
		{"plain error", client.NewExitStatus(client.UnknownExitStatus, now, errors.New("boom")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := exitError("abc", *tt.st)
			if (err != nil) != tt.wantErr {
				t.Errorf("exitError = %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}

// TestControllerExpandsTemplates checks that a task's controller runs the
// task's container spec with its templates expanded for it on this node,
// and refuses one whose template fails, naming the field.
func TestControllerExpandsTemplates(t *testing.T) {
	e := &Executor{node: &swarm.NodeDescription{Hostname: "host1", Platform: swarm.Platform{OS: "linux", Architecture: "x86_64"}}}
	task := &swarm.Task{
		ID: "t1", ServiceID: "s1", NodeID: "n1", Slot: 3,
		Annotations: swarm.Annotations{Labels: map[string]string{LabelServiceName: "web"}},
		Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{
			Image:    "busybox",
			Hostname: "{{.Service.Name}}-{{.Task.Slot}}",
			Env:      []string{"WHERE={{.Node.Hostname}}/{{.Node.Platform.OS}}"},
		}},
	}
	ctl, err := e.Controller(task, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := ctl.(*controller).task.Spec.ContainerSpec
	if cs.Hostname != "web-3" || cs.Env[0] != "WHERE=host1/linux" {
		t.Errorf("controller's spec has hostname %q, env %q; want web-3, WHERE=host1/linux", cs.Hostname, cs.Env)
	}
	if task.Spec.ContainerSpec.Hostname != "{{.Service.Name}}-{{.Task.Slot}}" {
		t.Errorf("the task given was changed: hostname %q", task.Spec.ContainerSpec.Hostname)
	}

	task.Spec.ContainerSpec.Hostname = "{{.Service.Nope}}"
	_, err = e.Controller(task, nil)
	if !errdefs.Is(err, errdefs.KindInvalid) || !strings.Contains(err.Error(), "template: ContainerSpec.Hostname:1:10") {
		t.Fatalf("got %v, want an Invalid error naming ContainerSpec.Hostname", err)
	}
}
