package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/shoal-project/shoal/internal/errdefs"
)

type fakeUsage struct{}

func (fakeUsage) ImageDiskUsage(context.Context) (int64, []image.Summary, error) {
	return 3000, []image.Summary{
		{ID: "sha256:used", Size: 1000, SharedSize: 200, Containers: 2},
		{ID: "sha256:idle", Size: 800, SharedSize: 200, Containers: 0},
	}, nil
}

func (fakeUsage) ContainerDiskUsage(context.Context) ([]container.Summary, error) {
	return []container.Summary{
		{ID: "c1", State: container.StateRunning, SizeRw: 10},
		{ID: "c2", State: container.StateExited, SizeRw: 5},
	}, nil
}

func (fakeUsage) VolumeDiskUsage(context.Context) ([]volume.Volume, error) {
	return []volume.Volume{
		{Name: "data", UsageData: &volume.UsageData{Size: 100, RefCount: 1}},
		{Name: "old", UsageData: &volume.UsageData{Size: 40, RefCount: 0}},
	}, nil
}

func TestSystemDF(t *testing.T) {
	c := newClient(t, serve(t, Config{DiskUsage: fakeUsage{}}))

	// The docker CLI of API 1.50 reads the lists and LayersSize.
	old := decode[map[string]json.RawMessage](t, c.do(http.MethodGet, "/v1.50/system/df", nil))
	for _, k := range []string{"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} {
		if _, ok := old[k]; !ok {
			t.Errorf("API 1.50 answer lacks %s: %v", k, old)
		}
	}
	if _, ok := old["ImageUsage"]; ok {
		t.Errorf("API 1.50 answer has the 1.52 summaries")
	}

	// API 1.52, verbose: the summaries and their items only.
	r := c.do(http.MethodGet, "/v1.52/system/df?verbose=1&type=image&type=container&type=volume", nil)
	got := decode[system.DiskUsage](t, r)
	want := system.DiskUsage{
		ImageUsage:     &image.DiskUsage{TotalCount: 2, ActiveCount: 1, TotalSize: 3000, Reclaimable: 600},
		ContainerUsage: &container.DiskUsage{TotalCount: 2, ActiveCount: 1, TotalSize: 15, Reclaimable: 5},
		VolumeUsage:    &volume.DiskUsage{TotalCount: 2, ActiveCount: 1, TotalSize: 140, Reclaimable: 40},
	}
	got.ImageUsage.Items, got.ContainerUsage.Items, got.VolumeUsage.Items = nil, nil, nil
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("API 1.52 summaries (-want +got):\n%s", d)
	}
	if m := decode[map[string]json.RawMessage](t, r); m["Images"] != nil {
		t.Errorf("verbose answer carries the old fields too")
	}

	wantError(t, c.do(http.MethodGet, "/system/df?type=layers", nil), http.StatusBadRequest, "unknown object type: layers")
}

// fakeStats counts samples; each has 100 ms more CPU than the last.
type fakeStats struct{ n atomic.Int64 }

func (f *fakeStats) Stats(_ context.Context, id string) (container.StatsResponse, error) {
	if id != "c1" {
		return container.StatsResponse{}, errdefs.NotFound("No such container: %s", id)
	}
	n := f.n.Add(1)
	return container.StatsResponse{ID: "c1", Read: time.Unix(n, 0), CPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: uint64(n) * 1e8}}}, nil
}

func TestContainerStats(t *testing.T) {
	f := &fakeStats{}
	c := newClient(t, serve(t, Config{Stats: f}))

	one := decode[container.StatsResponse](t, c.do(http.MethodGet, "/containers/c1/stats?stream=false&one-shot=true", nil))
	if one.ID != "c1" || !one.PreRead.IsZero() {
		t.Errorf("one-shot got %+v, want one sample without a previous one", one)
	}
	// Not streamed: one sample, with the one before it to compute CPU %.
	s := decode[container.StatsResponse](t, c.do(http.MethodGet, "/containers/c1/stats?stream=false", nil))
	if s.PreRead.IsZero() || s.CPUStats.CPUUsage.TotalUsage-s.PreCPUStats.CPUUsage.TotalUsage != 1e8 {
		t.Errorf("stream=false got %+v, want a sample and its predecessor", s)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://api.moby.localhost/containers/c1/stats", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	var first, second container.StatsResponse
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if !second.PreRead.Equal(first.Read) {
		t.Errorf("streamed sample's preread %v, want the previous sample's read %v", second.PreRead, first.Read)
	}

	wantError(t, c.do(http.MethodGet, "/containers/nope/stats?stream=false", nil), http.StatusNotFound, "No such container: nope")
	wantError(t, c.do(http.MethodGet, "/containers/c1/stats?one-shot=true", nil), http.StatusBadRequest, "cannot have stream=true and one-shot=true")
}
