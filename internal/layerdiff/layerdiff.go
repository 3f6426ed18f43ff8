// Package layerdiff makes the layer of what an active snapshot changed
// over its parent, in this process rather than in containerd's differ, so
// that the owners of its files can be recorded as a remapped container
// sees them (archive.ToContainerOwners): containerd's differ records the
// host's IDs, and computes the layer's diffID on them.
package layerdiff

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	ctrarchive "github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/archive"
	"github.com/shoal-project/shoal/internal/identity"
)

// uncompressedLabel names the diffID of a compressed layer in the content
// store, as containerd's differ labels it.
const uncompressedLabel = "containerd.io/uncompressed"

// Write writes to cs, as a layer of mediaType (ocispec.MediaTypeImageLayer
// or ocispec.MediaTypeImageLayerGzip), what the active snapshot key of sn
// changed over its parent, the owners of its entries translated from the
// host's IDs to the container's (ids). It returns the layer and its
// diffID, the digest of the translated tar.
func Write(ctx context.Context, sn snapshots.Snapshotter, cs content.Store, key string, ids archive.IDMap, mediaType string) (ocispec.Descriptor, digest.Digest, error) {
	comp := compression.Uncompressed
	switch mediaType {
	case ocispec.MediaTypeImageLayer:
	case ocispec.MediaTypeImageLayerGzip:
		comp = compression.Gzip
	default:
		return ocispec.Descriptor{}, "", fmt.Errorf("layer media type %s: want a tar or a gzipped tar", mediaType)
	}
	info, err := sn.Stat(ctx, key)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("snapshot %s: %w", key, err)
	}
	upper, err := sn.Mounts(ctx, key)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("mounts of snapshot %s: %w", key, err)
	}
	lowerKey := "shoal-diff-parent-" + identity.NewID()
	lower, err := sn.View(ctx, lowerKey, info.Parent)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("view the parent of snapshot %s: %w", key, err)
	}
	defer sn.Remove(context.WithoutCancel(ctx), lowerKey)

	var desc ocispec.Descriptor
	var diffID digest.Digest
	var werr error // the layer's, not wrapped in the mounts'
	err = mount.WithReadonlyTempMount(ctx, lower, func(lowerRoot string) error {
		return mount.WithReadonlyTempMount(ctx, upper, func(upperRoot string) error {
			desc, diffID, werr = write(ctx, cs, mediaType, comp, func(w io.Writer) error {
				return ctrarchive.WriteDiff(ctx, w, lowerRoot, upperRoot)
			}, ids)
			return werr
		})
	})
	if werr != nil {
		return ocispec.Descriptor{}, "", werr
	}
	return desc, diffID, err
}

// write stores the tar diff writes, translated, as a layer.
func write(ctx context.Context, cs content.Store, mediaType string, comp compression.Compression, diff func(io.Writer) error, ids archive.IDMap) (ocispec.Descriptor, digest.Digest, error) {
	ref := "shoal-layer-" + identity.NewID()
	cw, err := cs.Writer(ctx, content.WithRef(ref), content.WithDescriptor(ocispec.Descriptor{MediaType: mediaType}))
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("open a layer writer: %w", err)
	}
	defer cw.Close()
	abort := func() {
		cw.Close()
		cs.Abort(context.WithoutCancel(ctx), ref)
	}

	zw, err := compression.CompressStream(cw, comp)
	if err != nil {
		abort()
		return ocispec.Descriptor{}, "", err
	}
	diffID := digest.SHA256.Digester()
	pr, pw := io.Pipe()
	diffErr := make(chan error, 1)
	go func() {
		err := diff(pw)
		pw.CloseWithError(err)
		diffErr <- err
	}()
	err = archive.ToContainerOwners(io.MultiWriter(zw, diffID.Hash()), pr, ids)
	if err == nil {
		// What follows the end of the tar is padding.
		_, err = io.Copy(io.Discard, pr)
	}
	pr.CloseWithError(err)
	// The diff reads the mounts, which stay until it is done.
	if derr := <-diffErr; err == nil {
		err = derr
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		abort()
		return ocispec.Descriptor{}, "", fmt.Errorf("write the layer: %w", err)
	}
	labels := map[string]string{}
	if comp != compression.Uncompressed {
		labels[uncompressedLabel] = diffID.Digest().String()
	}
	dgst := cw.Digest()
	if err := cw.Commit(ctx, 0, dgst, content.WithLabels(labels)); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return ocispec.Descriptor{}, "", fmt.Errorf("commit the layer: %w", err)
	}
	li, err := cs.Info(ctx, dgst)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("layer %s: %w", dgst, err)
	}
	// A blob that was already there may lack the label.
	if comp != compression.Uncompressed && li.Labels[uncompressedLabel] == "" {
		li.Labels = map[string]string{uncompressedLabel: diffID.Digest().String()}
		if _, err := cs.Update(ctx, li, "labels."+uncompressedLabel); err != nil {
			return ocispec.Descriptor{}, "", fmt.Errorf("label layer %s: %w", dgst, err)
		}
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: li.Size}, diffID.Digest(), nil
}
