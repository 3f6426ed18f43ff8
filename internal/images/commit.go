package images

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/archive"
	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/layerdiff"
)

// CommitOptions are docker commit's: the name of the new image (dangling
// when empty), the history entry's comment and author, and Dockerfile
// instructions applied to its config (CMD, ENV, …).
type CommitOptions struct {
	Ref     string
	Comment string
	Author  string
	Changes []string
}

// Commit makes an image of a plain container: its image with the
// container's writable layer (what it changed on its root filesystem)
// added as one more layer, as docker commit does. It returns the new
// image's ID. The container keeps running; what it writes during the
// commit may or may not be in the layer.
func (s *Store) Commit(ctx context.Context, containerID string, opts CommitOptions) (string, error) {
	name := ""
	if opts.Ref != "" {
		named, err := normalize(opts.Ref)
		if err != nil {
			return "", err
		}
		if _, ok := named.(reference.Digested); ok {
			return "", errdefs.Invalid("cannot commit to a digest reference: %s", opts.Ref)
		}
		name = named.String()
	}
	now := time.Now().UTC()
	ctx = s.ctx(ctx)
	ctx, done, err := s.c.WithLease(ctx)
	if err != nil {
		return "", classify(fmt.Errorf("commit: %w", err))
	}
	defer done(context.WithoutCancel(ctx))
	defer timeAction("commit", now)

	ctr, err := s.c.ContainerService().Get(ctx, containerID)
	if err != nil {
		return "", classify(fmt.Errorf("commit: container %s: %w", containerID, err))
	}
	if ctr.SnapshotKey == "" {
		return "", errdefs.Invalid("commit: container %s has no root filesystem of its own", containerID)
	}
	rec, err := s.c.ImageService().Get(ctx, ctr.Image)
	if cerrdefs.IsNotFound(err) {
		return "", errdefs.Conflict("commit: the image %s of container %s was removed", ctr.Image, containerID)
	}
	if err != nil {
		return "", classify(fmt.Errorf("commit: image of container %s: %w", containerID, err))
	}
	inf, err := s.describe(ctx, rec)
	if err != nil {
		return "", classify(err)
	}
	cfg := inf.config
	if err := applyChanges(&cfg.Config, opts.Changes); err != nil {
		return "", err
	}

	ids, err := remapOf(ctr)
	if err != nil {
		return "", fmt.Errorf("commit: container %s: %w", containerID, err)
	}
	layer, diffID, err := s.diff(ctx, ctr, ids)
	if err != nil {
		return "", classify(fmt.Errorf("commit: diff the root filesystem of container %s: %w", containerID, err))
	}

	cs := s.c.ContentStore()
	cfg.Created = &now
	cfg.Author = opts.Author
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
	cfg.History = append(cfg.History, ocispec.History{Created: &now, Author: opts.Author, Comment: opts.Comment})
	configDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageConfig, cfg, nil)
	if err != nil {
		return "", err
	}
	m := inf.manifest
	m.MediaType = ocispec.MediaTypeImageManifest
	m.Config = configDesc
	m.Layers = append(append([]ocispec.Descriptor(nil), m.Layers...), layer)
	labels := map[string]string{"containerd.io/gc.ref.content.config": configDesc.Digest.String()}
	for i, l := range m.Layers {
		labels["containerd.io/gc.ref.content.l."+strconv.Itoa(i)] = l.Digest.String()
	}
	manifestDesc, err := writeJSON(ctx, cs, ocispec.MediaTypeImageManifest, m, labels)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = danglingPrefix + manifestDesc.Digest.String()
	}
	if err := s.setName(ctx, name, manifestDesc); err != nil {
		return "", err
	}
	s.log.Info("committed container", "container.id", containerID, "image.name", name, "image.id", configDesc.Digest)
	return configDesc.Digest.String(), nil
}

// diff makes the layer of what container ctr changed on its root
// filesystem. Under a remapping (ids), its root filesystem is a copy of
// the image owned by host IDs, and the layer records the owners the
// container sees, as dockerd's does, so that the image holds the same
// owners whether it is run remapped or not.
func (s *Store) diff(ctx context.Context, ctr containers.Container, ids archive.IDMap) (ocispec.Descriptor, digest.Digest, error) {
	sn := s.c.SnapshotService(ctr.Snapshotter)
	if ids != nil {
		return layerdiff.Write(ctx, sn, s.c.ContentStore(), ctr.SnapshotKey, ids, ocispec.MediaTypeImageLayerGzip)
	}
	layer, err := rootfs.CreateDiff(ctx, ctr.SnapshotKey, sn, s.c.DiffService(),
		diff.WithMediaType(ocispec.MediaTypeImageLayerGzip), diff.WithReference("shoal-commit-"+identity.NewID()))
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	li, err := s.c.ContentStore().Info(ctx, layer.Digest)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	diffID, err := digest.Parse(li.Labels["containerd.io/uncompressed"])
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("layer %s has no uncompressed digest: %w", layer.Digest, err)
	}
	return layer, diffID, nil
}

// remapOf is the mapping of the user namespace container ctr runs in, as
// its runtime spec gives it; nil when it runs in the host's.
func remapOf(ctr containers.Container) (archive.IDMap, error) {
	if ctr.Spec == nil {
		return nil, nil
	}
	var spec specs.Spec
	if err := json.Unmarshal(ctr.Spec.GetValue(), &spec); err != nil {
		return nil, fmt.Errorf("read the runtime spec: %w", err)
	}
	if spec.Linux == nil || len(spec.Linux.UIDMappings) == 0 {
		return nil, nil
	}
	return &confine.Remap{UIDs: spec.Linux.UIDMappings, GIDs: spec.Linux.GIDMappings}, nil
}
