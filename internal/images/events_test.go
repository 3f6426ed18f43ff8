package images

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

type eventLog struct {
	mu  sync.Mutex
	all []string
}

func (l *eventLog) Log(action events.Action, typ events.Type, actor events.Actor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, string(typ)+" "+string(action)+" "+actor.Attributes["name"])
}

// TestImageEvents: import, tag, untag and delete come out as dockerd's
// image events, named by the reference they concern.
func TestImageEvents(t *testing.T) {
	s := newStore(t)
	log := &eventLog{}
	s.events = log
	ctx := t.Context()
	id, err := s.Import(ctx, open(t, testimage.RootfsTar(t)), "a:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "a:v1", "a:v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "a:v2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "a:v1", false); err != nil {
		t.Fatal(err)
	}
	want := []string{"image import a:v1", "image tag a:v2", "image untag a:v2", "image untag a:v1", "image delete " + id}
	if d := cmp.Diff(want, log.all); d != "" {
		t.Errorf("image events (-want +got):\n%s", d)
	}
}

func TestDiskUsage(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Import(ctx, open(t, testimage.RootfsTar(t)), "a:v1", nil); err != nil {
		t.Fatal(err)
	}
	total, list, err := s.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Size <= 0 || total < list[0].Size || list[0].Containers != 0 || list[0].SharedSize != 0 {
		t.Errorf("disk usage %d, %+v: want one image, unshared and unused, within the total", total, list)
	}
}

func TestSharedSizes(t *testing.T) {
	base, app, other := digest.FromString("base"), digest.FromString("app"), digest.FromString("other")
	size := map[digest.Digest]int64{base: 100, app: 10, other: 7}
	got := sharedSizes([]layeredImage{
		{id: "one", layers: []digest.Digest{base, app}, containers: 2},
		{id: "two", layers: []digest.Digest{base, other}},
		{id: "alone", layers: []digest.Digest{other + "x"}},
	}, size)
	want := map[string]usage{"one": {containers: 2, shared: 100}, "two": {shared: 100}, "alone": {}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(usage{})); d != "" {
		t.Errorf("shared sizes (-want +got):\n%s", d)
	}
}
