package apiserver

import (
	"context"
	"io"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// Cluster is this node's swarm membership (internal/node).
type Cluster interface {
	Init(ctx context.Context, req swarm.InitRequest) (nodeID string, err error)
	Join(ctx context.Context, req swarm.JoinRequest) error
	Leave(ctx context.Context, force bool) error
	Unlock(ctx context.Context, key string) error
	// Info is the Swarm section of GET /info.
	Info(ctx context.Context) swarm.Info
	// Control returns the control API, or the errdefs.Unavailable error
	// dockerd gives when this node is not a manager.
	Control() (*controlapi.API, error)
}

// Containers are this node's containers (containerdexec.Executor).
type Containers interface {
	List(ctx context.Context, all bool, filters map[string][]string) ([]container.Summary, error)
	Inspect(ctx context.Context, idOrName string) (container.InspectResponse, error)
	Logs(ctx context.Context, idOrName string, opts containerdexec.LogOptions, out func(stream int, ts time.Time, line []byte) error) error
	ExecCreate(ctx context.Context, idOrName string, cfg container.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, execID string, stdin io.Reader, stdout, stderr io.Writer) error
	ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error)
	Remove(ctx context.Context, idOrName string, force bool) error
}

// Images is this node's image store (images.Store).
type Images interface {
	Pull(ctx context.Context, ref string, progress func(status string)) (client.Image, error)
	Import(ctx context.Context, r io.Reader, ref string, changes []string) (string, error)
	Load(ctx context.Context, r io.Reader) ([]string, error)
	List(ctx context.Context) ([]image.Summary, error)
	Inspect(ctx context.Context, ref string) (image.InspectResponse, error)
	Tag(ctx context.Context, src, dst string) error
	Remove(ctx context.Context, ref string, force bool) ([]image.DeleteResponse, error)
	Distribution(ctx context.Context, ref string) (registry.DistributionInspect, error)
}

// LogSelector names whose logs ServiceLogs reads: every task of a service
// (including tasks started while following), or the given tasks. IDs are
// full IDs, already resolved.
type LogSelector struct {
	ServiceID string
	TaskIDs   []string
}

// ServiceLogs reads the logs of swarm tasks wherever they run.
type ServiceLogs interface {
	// Logs calls write with each line, in order per task; stream is
	// containerdexec.StreamStdout or StreamStderr.
	Logs(ctx context.Context, sel LogSelector, opts containerdexec.LogOptions,
		write func(taskID, nodeID string, stream int, ts time.Time, line []byte) error) error
}

// LocalNetworks are this node's own networks: the predefined bridge,
// host and none (internal/engine).
type LocalNetworks interface {
	LocalNetworks(ctx context.Context) ([]network.Inspect, error)
}

// System describes the daemon and its host for GET /info and /version.
type System interface {
	// Info returns the host's and the daemon's fields of GET /info (ID,
	// Name, NCPU, MemTotal, KernelVersion, OperatingSystem, Driver, …);
	// the server adds the Swarm section and the container and image
	// counts.
	Info(ctx context.Context) (system.Info, error)
}
