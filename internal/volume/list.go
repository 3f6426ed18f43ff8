package volume

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/continuity/fs"
	"github.com/moby/moby/api/types/volume"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

// listFilters are those of GET /volumes, pruneFilters those of POST
// /volumes/prune, as dockerd's.
var (
	listFilters  = []string{"dangling", "driver", "label", "name"}
	pruneFilters = []string{"label", "label!", "all"}
)

// parseBool reads a filter's boolean value as dockerd does.
func parseBool(f filters.Args, name string) (value, given bool, err error) {
	vs := f.Get(name)
	switch len(vs) {
	case 0:
		return false, false, nil
	case 1:
		b, err := strconv.ParseBool(vs[0])
		if err != nil {
			return false, false, errdefs.Invalid("invalid filter '%s=%s'", name, vs[0])
		}
		return b, true, nil
	default:
		return false, false, errdefs.Invalid("invalid filter '%s=%s': only one value is expected", name, strings.Join(vs, ","))
	}
}

// match reports whether a volume passes the list filters f: dangling (no
// container references it, or, false, one does), driver, label (key or
// key=value, all of them) and name (the name, or a regular expression
// found in it, any of them).
func match(f filters.Args, m meta, referenced bool) bool {
	if dangling, given, _ := parseBool(f, "dangling"); given && dangling == referenced {
		return false
	}
	if !f.Exact("driver", m.Driver) || !f.Labels("label", m.Labels) {
		return false
	}
	if f.Contains("name") && !slices.ContainsFunc(f.Get("name"), func(p string) bool {
		if p == m.Name {
			return true
		}
		ok, err := regexp.MatchString(p, m.Name)
		return err == nil && ok
	}) {
		return false
	}
	return true
}

// List returns the volumes that pass f, by name.
func (s *Store) List(ctx context.Context, f filters.Args) ([]volume.Volume, error) {
	if err := f.Validate(listFilters...); err != nil {
		return nil, err
	}
	if _, _, err := parseBool(f, "dangling"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []volume.Volume{}
	for _, v := range s.vols {
		if match(f, v.meta, len(v.refs) > 0) {
			out = append(out, s.apiVolume(v))
		}
	}
	slices.SortFunc(out, func(a, b volume.Volume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// prunable reports whether prune with filters f removes a volume: one no
// container references, without a filesystem of its own (pruning it would
// free nothing here), anonymous unless all=true, and passing the label
// and label! filters.
func prunable(f filters.Args, all bool, m meta, referenced bool) bool {
	if referenced || needsMount(m.Options) {
		return false
	}
	if _, anonymous := m.Labels[AnonymousLabel]; !all && !anonymous {
		return false
	}
	if !f.Labels("label", m.Labels) {
		return false
	}
	return !f.Contains("label!") || !f.Labels("label!", m.Labels)
}

// Prune removes the volumes prunable with f, and reports them and the
// space their content took.
func (s *Store) Prune(ctx context.Context, f filters.Args) (volume.PruneReport, error) {
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	if err := f.Validate(pruneFilters...); err != nil {
		return rep, err
	}
	all, _, err := parseBool(f, "all")
	if err != nil {
		return rep, err
	}
	if !s.pruning.CompareAndSwap(false, true) {
		return rep, errdefs.Conflict("a prune operation is already running")
	}
	defer s.pruning.Store(false)

	s.mu.Lock()
	var candidates []*vol
	for _, v := range s.vols {
		if prunable(f, all, v.meta, len(v.refs) > 0) {
			candidates = append(candidates, v)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(candidates, func(a, b *vol) int { return strings.Compare(a.name, b.name) })
	for _, v := range candidates {
		if ctx.Err() != nil {
			return rep, nil
		}
		name := v.name
		usage, err := fs.DiskUsage(ctx, s.dataPath(name))
		if err != nil {
			s.log.Warn("cannot tell the size of a volume", "volume", name, "err", err)
		}
		v.mu.Lock()
		err = s.remove(v, false)
		v.mu.Unlock()
		if err != nil {
			// Used since it was listed, or removed meanwhile.
			s.log.Info("volume not pruned", "volume", name, "err", err)
			continue
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, name)
		rep.SpaceReclaimed += uint64(usage.Size)
	}
	return rep, nil
}
