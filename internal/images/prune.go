package images

import (
	"context"
	"slices"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

// pruneCandidate is what Prune decides on for one image.
type pruneCandidate struct {
	id      digest.Digest
	tagged  bool // it has a name (a tag or a repo digest)
	used    bool // a container was made from one of its names
	created time.Time
	labels  map[string]string
}

// prunable picks the images POST /images/prune removes: unused ones that
// pass f, only the dangling ones unless dangling=false (docker image prune
// -a), created before until when it is set.
func prunable(cands []pruneCandidate, f filters.Args, until time.Time) []digest.Digest {
	danglingOnly := !slices.ContainsFunc(f.Get("dangling"), func(v string) bool { return v == "false" || v == "0" })
	var out []digest.Digest
	for _, c := range cands {
		if c.used || (danglingOnly && c.tagged) ||
			!f.Labels("label", c.labels) || !f.NotLabels("label!", c.labels) ||
			(!until.IsZero() && !c.created.Before(until)) {
			continue
		}
		out = append(out, c.id)
	}
	return out
}

// Prune removes the images that no container uses and that pass f
// (dangling, until, label, label!), as POST /images/prune does, and says
// what it untagged and deleted and the space the deletions freed.
func (s *Store) Prune(ctx context.Context, f filters.Args) (image.PruneReport, error) {
	report := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}}
	if err := f.Validate("dangling", "until", "label", "label!"); err != nil {
		return report, err
	}
	for _, v := range f.Get("dangling") {
		switch v {
		case "true", "1", "false", "0":
		default:
			return report, errdefs.Invalid("invalid filter 'dangling=%s': want true or false", v)
		}
	}
	until, err := f.Until(time.Now())
	if err != nil {
		return report, err
	}
	ctx = s.ctx(ctx)
	defer timeAction("prune", time.Now())
	all, err := s.records(ctx)
	if err != nil {
		return report, err
	}
	users, err := s.containersByImageName(ctx)
	if err != nil {
		return report, err
	}
	groups := groupByID(all)
	cands := make([]pruneCandidate, 0, len(groups))
	for id, g := range groups {
		c := pruneCandidate{id: id, created: created(g[0].info), labels: g[0].info.config.Config.Labels}
		for _, r := range g {
			_, named := familiar(r.rec.Name)
			c.tagged = c.tagged || named
			c.used = c.used || users[r.rec.Name] > 0
		}
		cands = append(cands, c)
	}
	for _, id := range prunable(cands, f, until) {
		g := groups[id]
		size := s.size(ctx, g[0].info)
		for i, r := range g {
			if err := s.deleteRecord(ctx, r.rec, i == len(g)-1); err != nil {
				return report, err
			}
			if name, ok := familiar(r.rec.Name); ok {
				report.ImagesDeleted = append(report.ImagesDeleted, image.DeleteResponse{Untagged: name})
				s.event(events.ActionUnTag, id.String(), name)
			}
		}
		report.ImagesDeleted = append(report.ImagesDeleted, image.DeleteResponse{Deleted: id.String()})
		report.SpaceReclaimed += uint64(max(size, 0))
		s.event(events.ActionDelete, id.String(), id.String())
	}
	if len(report.ImagesDeleted) > 0 {
		s.log.Info("pruned images", "images.deleted", len(report.ImagesDeleted), "bytes", report.SpaceReclaimed)
	}
	return report, nil
}
