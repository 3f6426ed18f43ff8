package containerdexec

import (
	"context"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/runtimes"
)

// Runtimes are the daemon's OCI runtimes, which docker info lists.
func (e *Executor) Runtimes() *runtimes.Set {
	return e.cfg.Runtimes
}

// withRuntime resolves the runtime host names (the default when none),
// records its name there for docker inspect, as dockerd does, and returns
// what runs it: the containerd options of the container and what its
// spec needs on top of the rest. Both are empty for runc, so that a runc
// container is made as it always was. The runtime stays with the
// containerd container, so every later start of it uses the same.
func withRuntime(set *runtimes.Set, host *container.HostConfig) ([]client.NewContainerOpts, []oci.SpecOpts, error) {
	r, err := set.Resolve(host.Runtime)
	if err != nil {
		return nil, nil, err
	}
	host.Runtime = r.Name
	var (
		ctrOpts  []client.NewContainerOpts
		specOpts []oci.SpecOpts
	)
	if o := runtimes.ShimOptions(r); o != nil {
		ctrOpts = append(ctrOpts, client.WithRuntime(runtimes.Shim, o))
	}
	if v := runtimes.SpecVersion(r); v != "" {
		specOpts = append(specOpts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Version = v
			return nil
		})
	}
	return ctrOpts, specOpts, nil
}
