package images

import (
	"context"
	"fmt"
	"slices"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// DiskUsage is what docker system df shows of the node's images: the
// bytes they take on disk — each unpacked layer once (the snapshotter's
// usage) and every blob of the content store — and each image with the
// containers made from it and the part of its size that it shares with
// other images.
func (s *Store) DiskUsage(ctx context.Context) (int64, []image.Summary, error) {
	ctx = s.ctx(ctx)
	list, err := s.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	all, err := s.records(ctx)
	if err != nil {
		return 0, nil, err
	}
	users, err := s.containersByImageName(ctx)
	if err != nil {
		return 0, nil, err
	}
	sn := s.c.SnapshotService(s.snapshotter)
	layerSize := map[digest.Digest]int64{}
	var images []layeredImage
	for id, group := range groupByID(all) {
		li := layeredImage{id: id.String()}
		for _, chain := range identity.ChainIDs(slices.Clone(group[0].info.config.RootFS.DiffIDs)) {
			if _, seen := layerSize[chain]; !seen {
				if u, err := sn.Usage(ctx, chain.String()); err == nil {
					layerSize[chain] = u.Size
				} else {
					layerSize[chain] = 0 // not unpacked: its blob is counted with the content
				}
			}
			li.layers = append(li.layers, chain)
		}
		for _, r := range group {
			li.containers += users[r.rec.Name]
		}
		images = append(images, li)
	}
	shared := sharedSizes(images, layerSize)
	for i, sum := range list {
		u := shared[sum.ID]
		list[i].Containers, list[i].SharedSize = int64(u.containers), u.shared
	}
	var total int64
	for _, n := range layerSize {
		total += n
	}
	err = s.c.ContentStore().Walk(ctx, func(info content.Info) error {
		total += info.Size
		return nil
	})
	if err != nil {
		return 0, nil, classify(fmt.Errorf("walk the content store: %w", err))
	}
	return total, list, nil
}

// containersByImageName counts the containers that hold each image name.
func (s *Store) containersByImageName(ctx context.Context) (map[string]int, error) {
	cs, err := s.c.ContainerService().List(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("list containers: %w", err))
	}
	out := map[string]int{}
	for _, c := range cs {
		if holdsImage(c) {
			out[c.Image]++
		}
	}
	return out, nil
}

// layeredImage is an image's layers (chain IDs) and users.
type layeredImage struct {
	id         string
	layers     []digest.Digest
	containers int
}

// usage is an image's users and shared size.
type usage struct {
	containers int
	shared     int64
}

// sharedSizes is, for each image, its containers and the size of its
// layers that another image has too (Docker's SharedSize).
func sharedSizes(images []layeredImage, layerSize map[digest.Digest]int64) map[string]usage {
	holders := map[digest.Digest]int{}
	for _, im := range images {
		for _, l := range im.layers {
			holders[l]++
		}
	}
	out := map[string]usage{}
	for _, im := range images {
		u := usage{containers: im.containers}
		for _, l := range im.layers {
			if holders[l] > 1 {
				u.shared += layerSize[l]
			}
		}
		out[im.id] = u
	}
	return out
}
