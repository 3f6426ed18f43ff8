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
	"github.com/shoal-project/shoal/internal/engine"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
	"github.com/shoal-project/shoal/internal/filters"
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

// Containers are this node's containers, plain and tasks'
// (engine.Containers).
type Containers interface {
	List(ctx context.Context, all bool, filters map[string][]string) ([]container.Summary, error)
	Inspect(ctx context.Context, idOrName string) (container.InspectResponse, error)
	Logs(ctx context.Context, idOrName string, opts containerdexec.LogOptions, out func(stream int, ts time.Time, line []byte) error) error
	ExecCreate(ctx context.Context, idOrName string, cfg container.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, execID string, stdin io.Reader, stdout, stderr io.Writer) error
	ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error)
	// Remove removes a container; a running one only with force; a plain
	// container's anonymous volumes only with removeVolumes.
	Remove(ctx context.Context, idOrName string, force, removeVolumes bool) error
}

// Lifecycle makes and drives this node's plain containers
// (engine.Containers): those made through the API, not by the swarm.
type Lifecycle interface {
	Create(ctx context.Context, name string, req container.CreateRequest) (container.CreateResponse, error)
	// Start reports false when the container runs already.
	Start(ctx context.Context, idOrName string) (bool, error)
	// Stop reports false when the container did not run.
	Stop(ctx context.Context, idOrName, signal string, timeout *int) (bool, error)
	Restart(ctx context.Context, idOrName, signal string, timeout *int) error
	Kill(ctx context.Context, idOrName, signal string) error
	Pause(ctx context.Context, idOrName string) error
	Unpause(ctx context.Context, idOrName string) error
	// Wait resolves the container, then returns what blocks until the
	// condition is met and gives the exit code.
	Wait(ctx context.Context, idOrName string, cond container.WaitCondition) (func(ctx context.Context) (int, error), error)
	// Attach calls ready with whether the container has a TTY, for the
	// client's streams, then carries them until the container's run ends,
	// the client detaches or ctx ends.
	Attach(ctx context.Context, idOrName string, ready func(tty bool) (engine.AttachOptions, error)) error
	Resize(ctx context.Context, idOrName string, height, width uint) error
	ExecResize(ctx context.Context, execID string, height, width uint) error
	Top(ctx context.Context, idOrName, psArgs string) (container.TopResponse, error)
	Rename(ctx context.Context, idOrName, name string) error
	Update(ctx context.Context, idOrName string, cfg container.UpdateConfig) (container.UpdateResponse, error)
	Prune(ctx context.Context, filters map[string][]string) (container.PruneReport, error)
	// StatPath, CopyFrom and CopyTo serve docker cp; CopyFrom gives ready
	// the path's stat, for the header, and writes the tar where it says.
	StatPath(ctx context.Context, idOrName, path string) (container.PathStat, error)
	CopyFrom(ctx context.Context, idOrName, path string, ready func(container.PathStat) (io.Writer, error)) error
	CopyTo(ctx context.Context, idOrName, path string, r io.Reader, noOverwriteDirNonDir bool) error
	// Export writes the tar of the container's root filesystem where
	// ready says, ready called before the first byte.
	Export(ctx context.Context, idOrName string, ready func() io.Writer) error
	// Changes lists what the container changed against its image.
	Changes(ctx context.Context, idOrName string) ([]container.FilesystemChange, error)
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

// LocalNetworkAdmin makes, removes and connects containers to the node's
// user-defined local networks (internal/engine); the LocalNetworks
// backend may be one.
type LocalNetworkAdmin interface {
	// CreateNetwork makes a bridge network; names are the networks of
	// the swarm the node shows, whose names it must not take.
	CreateNetwork(ctx context.Context, req network.CreateRequest, names []string) (string, error)
	RemoveNetwork(ctx context.Context, ref string) error
	PruneNetworks(ctx context.Context, args filters.Args) ([]string, error)
	ConnectContainer(ctx context.Context, netRef, ctrRef string, s *network.EndpointSettings) error
	DisconnectContainer(ctx context.Context, netRef, ctrRef string) error
}

// WorkerNetworks are the swarm networks a node carries, which a worker
// lists beside its own as dockerd does (a manager lists all the swarm's);
// the LocalNetworks backend may have them.
type WorkerNetworks interface {
	NodeSwarmNetworks() []network.Inspect
}

// System describes the daemon and its host for GET /info and /version.
type System interface {
	// Info returns the host's and the daemon's fields of GET /info (ID,
	// Name, NCPU, MemTotal, KernelVersion, OperatingSystem, Driver, …);
	// the server adds the Swarm section and the container and image
	// counts.
	Info(ctx context.Context) (system.Info, error)
}
