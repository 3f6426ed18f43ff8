package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Prune empties the build cache, as docker builder prune --all does: the
// cache entries go, and with the lease that held them, every blob and
// snapshot no image uses. It waits for containerd's collector and returns
// the keys of the entries removed and the bytes that went with them.
// Builds in flight finish first; later ones wait for it.
func (b *Builder) Prune(ctx context.Context) ([]string, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ctx = namespaces.WithNamespace(ctx, b.cfg.Namespace)
	lm := b.cfg.Client.LeasesService()
	lease := leases.Lease{ID: cacheLease}
	res, err := lm.ListResources(ctx, lease)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return nil, 0, fmt.Errorf("build cache lease: %w", err)
	}
	cs := b.cfg.Client.ContentStore()
	sn := b.cfg.Client.SnapshotService(b.cfg.Snapshotter)
	// exists reports whether a resource is still there, and its size.
	exists := func(r leases.Resource) (bool, int64) {
		switch {
		case r.Type == "content":
			info, err := cs.Info(ctx, digest.Digest(r.ID))
			return err == nil, info.Size
		case r.Type == "snapshots/"+b.cfg.Snapshotter:
			if _, err := sn.Stat(ctx, r.ID); err != nil {
				return false, 0
			}
			u, _ := sn.Usage(ctx, r.ID)
			return true, u.Size
		}
		return true, 0
	}
	sizes := make([]int64, len(res))
	for i, r := range res {
		_, sizes[i] = exists(r)
	}
	if err == nil {
		if err := lm.Delete(ctx, lease, leases.SynchronousDelete); err != nil && !cerrdefs.IsNotFound(err) {
			return nil, 0, fmt.Errorf("release the build cache: %w", err)
		}
	}
	var reclaimed uint64
	for i, r := range res {
		if ok, _ := exists(r); !ok {
			reclaimed += uint64(sizes[i])
		}
	}
	entries, err := os.ReadDir(b.cache.dir)
	if err != nil {
		return nil, reclaimed, err
	}
	var deleted []string
	for _, e := range entries {
		if err := os.Remove(filepath.Join(b.cache.dir, e.Name())); err != nil {
			return deleted, reclaimed, err
		}
		if key, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			deleted = append(deleted, key)
		}
	}
	b.cfg.Logger.Info("pruned the build cache", "entries", len(deleted), "bytes", reclaimed)
	return deleted, reclaimed, nil
}
