package containerdexec

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/shimgroup"
)

// shimGroupKey is what containers sharing a shim must have in common: the
// runtime (the shim's BinaryName) and whether they run remapped.
func shimGroupKey(host *container.HostConfig, remapped bool) string {
	if remapped {
		return host.Runtime + "/userns"
	}
	return host.Runtime
}

// withShimGroup annotates a new plain container's spec with the shim group
// the pool assigns it; none when grouping is off.
func (e *Executor) withShimGroup(host *container.HostConfig, remapped bool) []oci.SpecOpts {
	g := e.groups.Assign(shimGroupKey(host, remapped))
	if g == "" {
		return nil
	}
	return []oci.SpecOpts{oci.WithAnnotations(map[string]string{shimgroup.Annotation: g})}
}

// shimGroupOf is the shim group ctr's spec names, from the metadata it was
// loaded with; "" for none.
func shimGroupOf(ctx context.Context, ctr client.Container) string {
	info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil || info.Spec == nil {
		return ""
	}
	var s struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(info.Spec.GetValue(), &s) != nil {
		return ""
	}
	return s.Annotations[shimgroup.Annotation]
}

// joinShimGroup is called before ctr's task is created, and done once the
// create returned, with whether it made the task. A container whose group
// may not be joined any more (see package shimgroup) loses the group from
// its spec, for a shim of its own.
func (e *Executor) joinShimGroup(ctx context.Context, ctr client.Container) (group string, done func(created bool), err error) {
	group = shimGroupOf(ctx, ctr)
	if group == "" {
		return "", func(bool) {}, nil
	}
	if done, ok := e.groups.Join(group); ok {
		return group, done, nil
	}
	err = ctr.Update(ctx, func(_ context.Context, _ *client.Client, c *containers.Container) error {
		var s oci.Spec
		if err := json.Unmarshal(c.Spec.GetValue(), &s); err != nil {
			return err
		}
		delete(s.Annotations, shimgroup.Annotation)
		var err error
		c.Spec, err = typeurl.MarshalAnyToProto(&s)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("leave shim group %s: %w", group, err)
	}
	return "", func(bool) {}, nil
}

// closeShimGroup is called before a task of ctr is deleted: the group's
// shim may exit with it, so no container joins it from now on.
func (e *Executor) closeShimGroup(ctx context.Context, ctr client.Container) {
	if e.groups.Size() > 1 {
		e.groups.Close(shimGroupOf(ctx, ctr))
	}
}
