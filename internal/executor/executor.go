// Package executor declares what the agent needs from whatever runs a task's
// container: a Controller per task that walks it through its life. The real
// implementation drives containerd (containerdexec); a fake one (fakeexec)
// runs whole clusters inside one test process.
package executor

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// Executor makes Controllers and describes the node it runs on.
type Executor interface {
	// Describe reports the node's hostname, platform, resources and engine.
	Describe(ctx context.Context) (*swarm.NodeDescription, error)
	// Controller returns the controller for t. It does no I/O; calling it
	// twice for the same task gives controllers over the same container.
	// deps holds the secrets and configs t references, as its node was sent
	// them; it may be nil for a task that references none.
	Controller(t *swarm.Task, deps Dependencies) (Controller, error)
}

// Dependencies are the secrets and configs a node was sent for its tasks.
// A node receives only those its assigned tasks reference.
type Dependencies interface {
	// Secret returns the secret with the ID, data included.
	Secret(id string) (*swarm.Secret, bool)
	// Config returns the config with the ID, data included.
	Config(id string) (*swarm.Config, bool)
}

// Controller drives one task's container. Every method is idempotent so that
// an agent that restarts can adopt what it finds: Prepare on a task whose
// container exists does nothing, Start on a running one does nothing.
type Controller interface {
	// Prepare makes all the task needs to start: the image (pulled if
	// missing), the network sandbox and the container. An image that cannot
	// be had is an errdefs.NotFound error whose message is "No such image: REF".
	Prepare(ctx context.Context) error
	// Start starts the task's process.
	Start(ctx context.Context) error
	// Wait blocks until the task's process exits, also when it had exited
	// before Wait was called.
	Wait(ctx context.Context) (ExitStatus, error)
	// Shutdown asks the process to stop with the stop signal and kills it
	// when the stop grace period is over.
	Shutdown(ctx context.Context) error
	// Terminate kills the process at once.
	Terminate(ctx context.Context) error
	// Remove deletes the container and everything Prepare made for it.
	Remove(ctx context.Context) error
	// ContainerStatus reports the container's ID and, while it runs, its PID.
	ContainerStatus(ctx context.Context) (*swarm.ContainerStatus, error)
}

// ErrUnhealthy is why a task whose container failed its health check
// ended; the text is Docker's, which `docker service ps` shows after
// "task: non-zero exit (137): ".
var ErrUnhealthy = errors.New("dockerexec: unhealthy container")

// ErrExited is WaitHealthy's error when the container's process ended
// before its health check passed: Wait tells how it ended.
var ErrExited = errors.New("container exited before its health check passed")

// HealthWaiter is implemented by Controllers whose containers may have a
// health check (the service's, or their image's HEALTHCHECK). The agent
// reports a task running only once WaitHealthy returned nil, and kills a
// running task's container once WaitUnhealthy returned.
type HealthWaiter interface {
	// WaitHealthy blocks until the container's health check has passed,
	// and returns nil at once when the container has no health check.
	// It returns ErrUnhealthy when the check failed its retries first,
	// and ErrExited when the process ended first.
	WaitHealthy(ctx context.Context) error
	// WaitUnhealthy blocks until the container's health check has failed
	// its retries in a row, and returns nil then. When the container has
	// no health check, or its process ended, it blocks until ctx ends.
	WaitUnhealthy(ctx context.Context) error
}

// ExitStatus is how a task's process ended.
type ExitStatus struct {
	Code      int
	OOMKilled bool
	At        time.Time
}

// Network gives a container its network namespace, attached to the node's
// default bridge.
type Network interface {
	// Sandbox creates (or finds, when it exists) the network namespace for
	// the container id, attaches it and returns the namespace's path and
	// the endpoint in it.
	// With wayOut the interface is only its way out of its overlays
	// (dockerd's docker_gwbridge), kept apart from the other ports.
	Sandbox(ctx context.Context, id string, wayOut bool) (nsPath string, ep *Endpoint, err error)
	// Isolated creates (or finds) the namespace for container id with no
	// interface on the bridge: a task whose networks are all internal
	// has no way out.
	Isolated(ctx context.Context, id string) (nsPath string, err error)
	// Join gives container id's existing namespace an interface named
	// ifname on the bridge, without the default route, and returns it:
	// docker network connect bridge.
	Join(ctx context.Context, id, ifname string, wayOut bool) (*Endpoint, error)
	// Leave removes what Join (or Sandbox) gave, keeping the namespace:
	// docker network disconnect bridge.
	Leave(ctx context.Context, id string) error
	// Release detaches the container's namespace and removes it.
	Release(ctx context.Context, id string) error
	// NetnsPath is where the namespace of container id is, or will be:
	// one mounted there already is the one Sandbox and Isolated plumb.
	NetnsPath(id string) string
	// Gateway is the bridge's own address on the node.
	Gateway() netip.Addr
}

// Attacher puts a task's namespace on the swarm networks the task is
// attached to: an interface on each, its DNS server and its load
// balancing (the node's dataplane).
type Attacher interface {
	// Attach gives the container's namespace at nsPath what t's network
	// attachments ask for, before the container starts, and returns the
	// endpoints made. It is called for every task, also one with no
	// attachment (its host-mode ports need its namespace).
	Attach(ctx context.Context, containerID, nsPath string, t *swarm.Task) ([]Endpoint, error)
	// Detach removes what Attach made.
	Detach(ctx context.Context, containerID string) error
}

// Endpoint is a container's interface on a network.
type Endpoint struct {
	NetworkID   string // empty on the node's own bridge
	NetworkName string
	Addr        netip.Prefix // the container's address with the network's prefix length
	Gateway     netip.Addr
	MAC         net.HardwareAddr
	// Ifname is its name in the container's namespace; empty for eth0,
	// the node bridge's first.
	Ifname string `json:",omitempty"`
}
