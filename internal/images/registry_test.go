package images

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moby/moby/api/types/registry"
	"github.com/shoal-project/shoal/internal/filters"
	"github.com/shoal-project/shoal/internal/registryauth"
	"github.com/shoal-project/shoal/internal/testutil/authregistry"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

func TestPushPullWithAuth(t *testing.T) {
	s := newStore(t)
	src := testimage.Push(t, testimage.ServeRegistry(t), "app:v1", testimage.Image(t))
	if _, err := s.Pull(t.Context(), src, nil); err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []struct {
		name string
		s    authregistry.Scheme
	}{{"basic", authregistry.Basic}, {"bearer", authregistry.Bearer}} {
		t.Run(scheme.name, func(t *testing.T) {
			reg := authregistry.New(t, scheme.s, "alice", "s3cret")
			ref := reg.Host + "/team/app:v1"
			if err := s.Tag(t.Context(), src, ref); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Push(t.Context(), ref, nil); err == nil {
				t.Fatal("push without credentials succeeded")
			}
			auth := registryauth.NewContext(t.Context(), registryauth.Encode(registry.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: reg.Host}))
			var lines []string
			var sent int64
			progress := func(p PushProgress) {
				lines = append(lines, strings.TrimSpace(p.ID+" "+p.Status))
				if p.Status == "Pushing" && p.Current > 0 {
					sent = max(sent, p.Current)
					if p.Current > p.Total {
						t.Errorf("progress says %d of %d bytes of %s sent", p.Current, p.Total, p.ID)
					}
				}
			}
			pushed, err := s.Push(auth, ref, progress)
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if pushed.Tag != "v1" || pushed.Digest == "" || pushed.Size == 0 {
				t.Errorf("pushed %+v", pushed)
			}
			if !slices.Contains(lines, "The push refers to repository ["+reg.Host+"/team/app]") || !containsSuffix(lines, " Pushed") || !containsSuffix(lines, " Preparing") {
				t.Errorf("progress %q lacks the repository line, Preparing or Pushed", lines)
			}
			if sent == 0 {
				t.Errorf("progress never said how many bytes of a layer were sent: %q", lines)
			}
			lines = nil
			if _, err := s.Push(auth, ref, progress); err != nil {
				t.Fatalf("second push: %v", err)
			}
			if !containsSuffix(lines, " Layer already exists") || containsSuffix(lines, " Pushed") {
				t.Errorf("second push progress %q, want every layer already there", lines)
			}

			other := newStore(t)
			if _, err := other.Pull(t.Context(), ref, nil); err == nil || !strings.Contains(err.Error(), "pull access denied") {
				t.Errorf("pull without credentials: %v, want pull access denied", err)
			}
			img, err := other.Pull(auth, ref, nil)
			if err != nil {
				t.Fatalf("pull with credentials: %v", err)
			}
			if img.Target().Digest != pushed.Digest {
				t.Errorf("pulled %s, pushed %s", img.Target().Digest, pushed.Digest)
			}
		})
	}
	if _, err := s.Push(t.Context(), "127.0.0.1:1/nothing:here", nil); err == nil || !strings.Contains(err.Error(), "An image does not exist locally with the tag: 127.0.0.1:1/nothing") {
		t.Errorf("push of an unknown image: %v", err)
	}
	bad := registryauth.NewContext(t.Context(), "!!!")
	if _, err := s.Pull(bad, src, nil); err == nil || !strings.Contains(err.Error(), "X-Registry-Auth") {
		t.Errorf("pull with a malformed X-Registry-Auth: %v", err)
	}
}

func containsSuffix(lines []string, suffix string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, suffix) })
}

func TestHistorySaveLoadPrune(t *testing.T) {
	s := newStore(t)
	ref := testimage.Push(t, testimage.ServeRegistry(t), "app:v1", testimage.Image(t, testimage.WithLabel("tier", "web")))
	if _, err := s.Pull(t.Context(), ref, nil); err != nil {
		t.Fatal(err)
	}
	insp, err := s.Inspect(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := s.History(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) == 0 || hist[0].ID != insp.ID || !slices.Equal(hist[0].Tags, []string{ref}) {
		t.Errorf("history %+v, want the image's ID and tag on top", hist)
	}

	var tarball bytes.Buffer
	if err := s.Save(t.Context(), []string{ref}, &tarball); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(t.Context(), []string{"nothing:here"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "No such image") {
		t.Errorf("save of an unknown image: %v", err)
	}
	other := newStore(t)
	loaded, err := other.Load(t.Context(), &tarball)
	if err != nil {
		t.Fatalf("load what save wrote: %v", err)
	}
	if !slices.Equal(loaded, []string{ref}) {
		t.Errorf("loaded %q, want %q", loaded, ref)
	}
	if got, err := other.Inspect(t.Context(), ref); err != nil || got.ID != insp.ID {
		t.Errorf("loaded image %v, %v; want ID %s", got.ID, err, insp.ID)
	}

	// Tagged images survive a plain prune; -a with a label that does
	// not match keeps them; -a takes them.
	rep, err := other.Prune(t.Context(), filters.Args{})
	if err != nil || len(rep.ImagesDeleted) != 0 {
		t.Errorf("prune of dangling images: %+v, %v; want nothing deleted", rep, err)
	}
	rep, err = other.Prune(t.Context(), filters.New([2]string{"dangling", "false"}, [2]string{"label", "tier=db"}))
	if err != nil || len(rep.ImagesDeleted) != 0 {
		t.Errorf("prune -a of label tier=db: %+v, %v; want nothing deleted", rep, err)
	}
	rep, err = other.Prune(t.Context(), filters.New([2]string{"dangling", "false"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []image.DeleteResponse{{Untagged: ref}, {Deleted: insp.ID}}
	if diff := cmp.Diff(want, rep.ImagesDeleted); diff != "" || rep.SpaceReclaimed == 0 {
		t.Errorf("prune -a (-want +got):\n%s reclaimed %d", diff, rep.SpaceReclaimed)
	}
	if _, err := other.Prune(t.Context(), filters.New([2]string{"dangling", "maybe"})); err == nil {
		t.Error("prune with dangling=maybe accepted")
	}
}

func TestPrunable(t *testing.T) {
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	cands := []pruneCandidate{
		{id: "sha256:dangling", created: now.Add(-48 * time.Hour)},
		{id: "sha256:tagged", tagged: true, created: now.Add(-48 * time.Hour), labels: map[string]string{"tier": "web"}},
		{id: "sha256:used", used: true},
		{id: "sha256:new", created: now},
	}
	tests := []struct {
		name  string
		f     filters.Args
		until time.Time
		want  []digest.Digest
	}{
		{name: "dangling", want: []digest.Digest{"sha256:dangling", "sha256:new"}},
		{name: "all", f: filters.New([2]string{"dangling", "false"}), want: []digest.Digest{"sha256:dangling", "sha256:tagged", "sha256:new"}},
		{name: "all until a day ago", f: filters.New([2]string{"dangling", "false"}), until: now.Add(-24 * time.Hour), want: []digest.Digest{"sha256:dangling", "sha256:tagged"}},
		{name: "all with label", f: filters.New([2]string{"dangling", "false"}, [2]string{"label", "tier=web"}), want: []digest.Digest{"sha256:tagged"}},
		{name: "all without label", f: filters.New([2]string{"dangling", "false"}, [2]string{"label!", "tier"}), want: []digest.Digest{"sha256:dangling", "sha256:new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, prunable(cands, tt.f, tt.until)); diff != "" {
				t.Errorf("prunable (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryItems(t *testing.T) {
	at := time.Unix(1700000000, 0)
	hist := []ocispec.History{
		{Created: &at, CreatedBy: "ADD rootfs /"},
		{Created: &at, CreatedBy: "ENV A=1", EmptyLayer: true},
		{Created: &at, CreatedBy: "RUN make", Comment: "built"},
	}
	got := historyItems("sha256:top", []string{"app:v1"}, hist, []int64{100, 20})
	want := []image.HistoryResponseItem{
		{ID: "sha256:top", Created: at.Unix(), CreatedBy: "RUN make", Comment: "built", Size: 20, Tags: []string{"app:v1"}},
		{ID: "<missing>", Created: at.Unix(), CreatedBy: "ENV A=1", Tags: []string{}},
		{ID: "<missing>", Created: at.Unix(), CreatedBy: "ADD rootfs /", Size: 100, Tags: []string{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("historyItems (-want +got):\n%s", diff)
	}
	// An imported image has layers and no history.
	got = historyItems("sha256:top", nil, nil, []int64{5})
	if len(got) != 1 || got[0].ID != "sha256:top" || got[0].Size != 5 {
		t.Errorf("historyItems of an imported image = %+v", got)
	}
}
