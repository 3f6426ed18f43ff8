package images

import (
	"context"
	"strconv"
	"time"

	ctrimages "github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Built names an image that docker build made (internal/build): manifest
// is in the content store and its layers are in the snapshotter already.
// Each tag moves to it as docker tag would; with no tags it is kept as a
// dangling image, as Docker keeps an untagged build's result.
func (s *Store) Built(ctx context.Context, manifest ocispec.Descriptor, tags []string) error {
	ctx = s.ctx(ctx)
	start := time.Now()
	defer timeAction("build", start)
	names := make([]reference.Named, 0, len(tags))
	for _, t := range tags {
		named, err := normalize(t)
		if err != nil {
			return err
		}
		names = append(names, named)
	}
	if len(names) == 0 {
		is := s.c.ImageService()
		recs, err := is.List(ctx, "target.digest=="+strconv.Quote(manifest.Digest.String()))
		if err != nil {
			return classify(err)
		}
		if len(recs) > 0 {
			return nil
		}
		_, err = is.Create(ctx, ctrimages.Image{Name: danglingPrefix + manifest.Digest.String(), Target: manifest})
		if err != nil && !cerrdefs.IsAlreadyExists(err) {
			return classify(err)
		}
		return nil
	}
	inf, err := s.describe(ctx, ctrimages.Image{Name: names[0].String(), Target: manifest})
	if err != nil {
		return classify(err)
	}
	for _, named := range names {
		if err := s.setName(ctx, named.String(), manifest); err != nil {
			return err
		}
		s.event(events.ActionTag, inf.id.String(), reference.FamiliarString(named))
	}
	return nil
}
