package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// DiskUsage measures what the node keeps on disk (images.Store and
// containerdexec.Executor).
type DiskUsage interface {
	// ImageDiskUsage is the bytes images take and each image with its
	// containers and shared size.
	ImageDiskUsage(ctx context.Context) (int64, []image.Summary, error)
	ContainerDiskUsage(ctx context.Context) ([]container.Summary, error)
	VolumeDiskUsage(ctx context.Context) ([]volume.Volume, error)
}

// ContainerStats samples a container's resource use
// (containerdexec.Executor).
type ContainerStats interface {
	Stats(ctx context.Context, idOrName string) (container.StatsResponse, error)
}

// usage is what GET /system/df measured, nil for what was not asked.
type usage struct {
	layersSize int64
	images     []image.Summary
	containers []container.Summary
	volumes    []volume.Volume
	asked      map[system.DiskUsageObject]bool
}

// systemDF answers GET /system/df: the disk taken by images, containers,
// volumes and the build cache (none: Shoal does not build). Clients
// before API 1.52 get the lists and LayersSize; 1.52 and later the
// summaries, with the lists when verbose, and with the old fields too
// unless verbose, as dockerd does for clients that ask for the latest
// version without knowing it.
func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.DiskUsage == nil {
		return errNoBackend("disk usage figures")
	}
	v := requestVersion(r)
	asked := map[system.DiskUsageObject]bool{}
	types, given := r.URL.Query()["type"]
	if !given || compareVersions(v, "1.42") < 0 {
		types = []string{"container", "image", "volume", "build-cache"}
	}
	for _, t := range types {
		switch o := system.DiskUsageObject(t); o {
		case system.ContainerObject, system.ImageObject, system.VolumeObject, system.BuildCacheObject:
			asked[o] = true
		default:
			return errdefs.Invalid("unknown object type: %s: want container, image, volume or build-cache", t)
		}
	}
	u := usage{asked: asked}
	g, ctx := errgroup.WithContext(r.Context())
	if asked[system.ImageObject] {
		g.Go(func() (err error) { u.layersSize, u.images, err = s.cfg.DiskUsage.ImageDiskUsage(ctx); return err })
	}
	if asked[system.ContainerObject] {
		g.Go(func() (err error) { u.containers, err = s.cfg.DiskUsage.ContainerDiskUsage(ctx); return err })
	}
	if asked[system.VolumeObject] {
		g.Go(func() (err error) { u.volumes, err = s.cfg.DiskUsage.VolumeDiskUsage(ctx); return err })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	legacy := compareVersions(v, "1.52") < 0
	return writeJSON(w, http.StatusOK, diskUsageBody(u, legacy, !legacy && boolValue(r, "verbose")))
}

// legacyDiskUsage is GET /system/df before API 1.52.
type legacyDiskUsage struct {
	LayersSize int64                `json:"LayersSize,omitempty"`
	Images     []image.Summary      `json:"Images,omitzero"`
	Containers []container.Summary  `json:"Containers,omitzero"`
	Volumes    []volume.Volume      `json:"Volumes,omitzero"`
	BuildCache []*build.CacheRecord `json:"BuildCache,omitzero"`
}

// diskUsageBody shapes what was measured for the client's API version.
func diskUsageBody(u usage, legacy, verbose bool) any {
	var old legacyDiskUsage
	if !verbose {
		if u.asked[system.ImageObject] {
			old.LayersSize, old.Images = u.layersSize, nonNil(u.images)
		}
		if u.asked[system.ContainerObject] {
			old.Containers = nonNil(u.containers)
		}
		if u.asked[system.VolumeObject] {
			old.Volumes = nonNil(u.volumes)
		}
		if u.asked[system.BuildCacheObject] {
			old.BuildCache = []*build.CacheRecord{}
		}
	}
	if legacy {
		return old
	}
	var du system.DiskUsage
	if u.asked[system.ImageObject] {
		d := &image.DiskUsage{TotalCount: int64(len(u.images)), TotalSize: u.layersSize}
		for _, im := range u.images {
			switch {
			case im.Containers > 0:
				d.ActiveCount++
			case im.Containers == 0 && im.Size >= 0 && im.SharedSize >= 0:
				d.Reclaimable += im.Size - im.SharedSize
			}
		}
		if verbose {
			d.Items = u.images
		}
		du.ImageUsage = d
	}
	if u.asked[system.ContainerObject] {
		d := &container.DiskUsage{TotalCount: int64(len(u.containers))}
		for _, c := range u.containers {
			d.TotalSize += c.SizeRw
			if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
				d.ActiveCount++
			} else {
				d.Reclaimable += c.SizeRw
			}
		}
		if verbose {
			d.Items = u.containers
		}
		du.ContainerUsage = d
	}
	if u.asked[system.VolumeObject] {
		d := &volume.DiskUsage{TotalCount: int64(len(u.volumes))}
		for _, vol := range u.volumes {
			if vol.UsageData == nil || vol.UsageData.Size < 0 {
				continue
			}
			d.TotalSize += vol.UsageData.Size
			if vol.UsageData.RefCount > 0 {
				d.ActiveCount++
			} else {
				d.Reclaimable += vol.UsageData.Size
			}
		}
		if verbose {
			d.Items = u.volumes
		}
		du.VolumeUsage = d
	}
	if u.asked[system.BuildCacheObject] {
		du.BuildCacheUsage = &build.DiskUsage{}
	}
	if verbose {
		return du
	}
	return struct {
		legacyDiskUsage
		system.DiskUsage
	}{old, du}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clip(s)
}

// statsInterval is how often a stats stream samples, as dockerd's.
const statsInterval = time.Second

// containerStats answers GET /containers/{id}/stats: with stream (the
// default) a sample a second until the client goes; without, one sample
// with the one a second before it as "pre" (so the CPU share can be
// computed), or at once with one-shot.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Stats == nil {
		return errNoBackend("container stats")
	}
	id := r.PathValue("id")
	stream := true
	if raw := r.URL.Query().Get("stream"); raw != "" {
		var err error
		if stream, err = strictBool(r, "stream"); err != nil {
			return err
		}
	}
	oneShot, err := strictBool(r, "one-shot")
	if err != nil {
		return err
	}
	if oneShot && stream {
		return errdefs.Invalid("cannot have stream=true and one-shot=true")
	}
	ctx := r.Context()
	cur, err := s.cfg.Stats.Stats(ctx, id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !stream && oneShot {
		return writeJSON(w, http.StatusOK, cur)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	var prev container.StatsResponse
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			if cur, err = s.cfg.Stats.Stats(ctx, id); err != nil {
				// Gone or unreachable mid-stream: the stream just ends.
				s.log.Debug("container stats", "container", id, "err", err)
				return nil
			}
		}
		cur.PreRead, cur.PreCPUStats = prev.Read, prev.CPUStats
		prev = cur
		if !stream && first {
			continue // dockerd's one sample comes with the previous one
		}
		if err := enc.Encode(cur); err != nil {
			return nil
		}
		if !stream {
			return nil
		}
		rc.Flush()
	}
}
