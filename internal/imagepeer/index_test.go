package imagepeer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/images"
	"github.com/shoal-project/shoal/internal/limits"
)

func TestIndex(t *testing.T) {
	d1 := digest.FromString("one")
	d2 := digest.FromString("two")
	now := time.Unix(1_700_000_000, 0)
	x := newIndex(func() time.Time { return now })
	m := Holder{NodeID: "m", Addr: "m:2377", Manager: true}
	w1 := Holder{NodeID: "w1", Addr: "w1:2377"}
	w2 := Holder{NodeID: "w2", Addr: "w2:2377"}
	x.record(m, &AnnounceRequest{Images: []images.Held{{Name: "docker.io/library/app:v1", Digest: d1}}})
	x.record(w1, &AnnounceRequest{Images: []images.Held{{Name: "docker.io/library/app@" + d1.String(), Digest: d1}}})
	x.record(w2, &AnnounceRequest{Images: []images.Held{{Name: "docker.io/library/other:latest", Digest: d2}, {Name: "docker.io/library/bad", Digest: "nope"}}})

	byHolder := cmpopts.SortSlices(func(a, b Holder) bool { return a.NodeID < b.NodeID })
	tests := []struct {
		name     string
		req      HoldersRequest
		want     []Holder
		wantD    digest.Digest
		wantKind errdefs.Kind
	}{
		{name: "by digest", req: HoldersRequest{Digest: d1}, want: []Holder{m, w1}, wantD: d1},
		{name: "by name", req: HoldersRequest{Name: "app:v1"}, want: []Holder{m, w1}, wantD: d1},
		{name: "by name without tag", req: HoldersRequest{Name: "other"}, want: []Holder{w2}, wantD: d2},
		{name: "unknown digest", req: HoldersRequest{Digest: digest.FromString("three")}, wantD: digest.FromString("three")},
		{name: "unknown name", req: HoldersRequest{Name: "nobody:v1"}, wantKind: errdefs.KindNotFound},
		{name: "bad digest", req: HoldersRequest{Digest: "sha256:xyz"}, wantKind: errdefs.KindInvalid},
		{name: "bad name", req: HoldersRequest{Name: "UPPER"}, wantKind: errdefs.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := x.Lookup(&tt.req)
			if tt.wantKind != errdefs.KindUnknown {
				if !errdefs.Is(err, tt.wantKind) {
					t.Fatalf("got %v, want a %v error", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Digest != tt.wantD {
				t.Errorf("digest %s, want %s", resp.Digest, tt.wantD)
			}
			if diff := cmp.Diff(tt.want, resp.Holders, byHolder, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("holders (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("pin", func(t *testing.T) {
		got, ok, err := x.PinRef("app:v1")
		if err != nil || !ok || got != "app:v1@"+d1.String() {
			t.Errorf("PinRef(app:v1) = %q, %v, %v; want app:v1@%s", got, ok, err, d1)
		}
		if _, ok, err := x.PinRef("app:v1@" + d2.String()); ok || err != nil {
			t.Errorf("PinRef of a pinned reference: %v, %v; want it left alone", ok, err)
		}
		if _, ok, err := x.PinRef("nobody:v1"); ok || err != nil {
			t.Errorf("PinRef of an image nobody holds: %v, %v; want it left alone", ok, err)
		}
	})

	t.Run("the same tag as different images is not pinned", func(t *testing.T) {
		y := newIndex(func() time.Time { return now })
		y.record(m, &AnnounceRequest{Images: []images.Held{{Name: "docker.io/library/app:v1", Digest: d1}}})
		y.record(w1, &AnnounceRequest{Images: []images.Held{{Name: "docker.io/library/app:v1", Digest: d2}}})
		if _, ok, err := y.PinRef("app:v1"); ok || !errdefs.Is(err, errdefs.KindConflict) {
			t.Errorf("PinRef: %v, %v; want a conflict", ok, err)
		}
	})

	t.Run("a new announcement replaces the old", func(t *testing.T) {
		x.record(w1, &AnnounceRequest{})
		resp, err := x.Lookup(&HoldersRequest{Digest: d1})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Holder{m}, resp.Holders); diff != "" {
			t.Errorf("holders after w1 dropped the image (-want +got):\n%s", diff)
		}
	})

	t.Run("silent nodes are forgotten", func(t *testing.T) {
		now = now.Add(3*limits.PeerAnnouncePeriod + time.Second)
		x.record(w2, &AnnounceRequest{Images: []images.Held{{Name: "docker.io/library/app:v1", Digest: d1}}})
		resp, err := x.Lookup(&HoldersRequest{Digest: d1})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Holder{w2}, resp.Holders); diff != "" {
			t.Errorf("holders after m went silent (-want +got):\n%s", diff)
		}
	})
}
