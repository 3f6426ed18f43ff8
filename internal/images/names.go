package images

import (
	"context"
	"fmt"
	"strconv"

	ctrimages "github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// setName points name at target, as tag, import and load do. The image the
// name pointed at before is kept as a dangling image when nothing else
// names it, as in Docker.
func (s *Store) setName(ctx context.Context, name string, target ocispec.Descriptor) error {
	is := s.c.ImageService()
	old, err := is.Get(ctx, name)
	switch {
	case err == nil:
		if old.Target.Digest == target.Digest {
			return nil
		}
		// Keep the old image before its name moves: in between, nothing
		// would reference its content, and containerd's garbage collector
		// could take it.
		s.keepUnnamed(ctx, old)
		rec := old
		rec.Target = target
		if _, err := is.Update(ctx, rec, "target"); err != nil {
			s.named(ctx, old.Target)
			return classify(fmt.Errorf("retarget image %s: %w", name, err))
		}
	case cerrdefs.IsNotFound(err):
		if _, err := is.Create(ctx, ctrimages.Image{Name: name, Target: target}); err != nil {
			return classify(fmt.Errorf("create image %s: %w", name, err))
		}
	default:
		return classify(fmt.Errorf("get image %s: %w", name, err))
	}
	s.named(ctx, target)
	return nil
}

// keepUnnamed keeps the image old named as a dangling image when no record
// but old's own names its target — whether old is about to point elsewhere
// or already does. Failing that only costs a later re-pull, so it is
// logged, not returned.
func (s *Store) keepUnnamed(ctx context.Context, old ctrimages.Image) {
	is := s.c.ImageService()
	recs, err := is.List(ctx, "target.digest=="+strconv.Quote(old.Target.Digest.String()))
	if err != nil {
		s.log.Warn("cannot check whether an untagged image is still named", "image.name", old.Name, "err", err)
		return
	}
	for _, r := range recs {
		if r.Name != old.Name {
			return
		}
	}
	_, err = is.Create(ctx, ctrimages.Image{Name: danglingPrefix + old.Target.Digest.String(), Target: old.Target})
	if err != nil && !cerrdefs.IsAlreadyExists(err) {
		s.log.Warn("cannot keep untagged image", "image.name", old.Name, "err", err)
	}
}

// named drops the dangling record of target, which has a name again.
func (s *Store) named(ctx context.Context, target ocispec.Descriptor) {
	err := s.c.ImageService().Delete(ctx, danglingPrefix+target.Digest.String())
	if err != nil && !cerrdefs.IsNotFound(err) {
		s.log.Warn("cannot drop dangling image record", "image.digest", target.Digest, "err", err)
	}
}
