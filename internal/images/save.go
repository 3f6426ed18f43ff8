package images

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/moby/moby/api/types/events"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Save writes the images refs name as one tar that docker load (and this
// node's Load) reads: an OCI layout with Docker's manifest.json, this
// platform's content only. Every ref is looked up before anything is
// written, so an unknown one is an error response, not a cut tar.
func (s *Store) Save(ctx context.Context, refs []string, w io.Writer) error {
	if len(refs) == 0 {
		return errdefs.Invalid("save: no image names given")
	}
	ctx = s.ctx(ctx)
	defer timeAction("save", time.Now())
	cs := s.c.ContentStore()
	opts := []archive.ExportOpt{archive.WithPlatform(s.platform), archive.WithSkipMissing(cs)}
	ids := make([]string, len(refs))
	for i, ref := range refs {
		recs, byName, err := s.lookup(ctx, ref)
		if err != nil {
			return err
		}
		ids[i] = recs[0].info.id.String()
		rec := recs[0].rec
		if !byName {
			// Saved by ID, as in Docker, the image loads back unnamed.
			opts = append(opts, archive.WithManifest(rec.Target))
			continue
		}
		opts = append(opts, archive.WithManifest(rec.Target, rec.Name))
	}
	if err := archive.Export(ctx, cs, w, opts...); err != nil {
		return classify(fmt.Errorf("save: %w", err))
	}
	for i, ref := range refs {
		s.event(events.ActionSave, ids[i], ref)
	}
	return nil
}
