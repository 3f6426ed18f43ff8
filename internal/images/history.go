package images

import (
	"context"
	"slices"

	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// History lists how the image ref names was made, newest step first, as
// GET /images/{name}/history does: the top step carries the image's ID and
// tags, the others "<missing>" (their images are not on the node, as with
// dockerd on containerd); a step that made a layer has its size.
func (s *Store) History(ctx context.Context, ref string) ([]image.HistoryResponseItem, error) {
	ctx = s.ctx(ctx)
	recs, _, err := s.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	inf := recs[0].info
	all, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	tags, _ := names(groupByID(all)[inf.id])
	sizes := s.layerSizes(ctx, inf)
	return historyItems(inf.id, tags, inf.config.History, sizes), nil
}

// layerSizes is the unpacked size of each of the image's layers, in order;
// the blob size of one that is not unpacked.
func (s *Store) layerSizes(ctx context.Context, inf info) []int64 {
	sn := s.c.SnapshotService(s.snapshotter)
	chains := identity.ChainIDs(slices.Clone(inf.config.RootFS.DiffIDs))
	sizes := make([]int64, len(chains))
	for i, chain := range chains {
		if u, err := sn.Usage(ctx, chain.String()); err == nil {
			sizes[i] = u.Size
		} else if i < len(inf.manifest.Layers) {
			sizes[i] = inf.manifest.Layers[i].Size
		}
	}
	return sizes
}

// historyItems pairs an image's history with its layers' sizes, newest
// first; a history of fewer layer-making steps than layers (an imported
// image has none) gets one plain step per layer left over.
func historyItems(id digest.Digest, tags []string, hist []ocispec.History, sizes []int64) []image.HistoryResponseItem {
	items := make([]image.HistoryResponseItem, 0, max(len(hist), len(sizes)))
	layer := 0
	for _, h := range hist {
		it := image.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}}
		if h.Created != nil {
			it.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(sizes) {
			it.Size = sizes[layer]
			layer++
		}
		items = append(items, it)
	}
	for ; layer < len(sizes); layer++ {
		items = append(items, image.HistoryResponseItem{ID: "<missing>", Size: sizes[layer], Tags: []string{}})
	}
	slices.Reverse(items)
	if len(items) > 0 {
		items[0].ID = id.String()
		items[0].Tags = tags
	}
	return items
}
