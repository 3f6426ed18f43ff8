package controlapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/store"
)

func TestUpdateServiceCanaryRefusals(t *testing.T) {
	a, s := newAPI(t)
	spec := validSpec("web")
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(4))}}
	id := mustCreate(t, a, spec)
	globalSpec := validSpec("agent")
	globalSpec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	globalID := mustCreate(t, a, globalSpec)
	svc, global := stored(t, s, id), stored(t, s, globalID)
	changed := clone(svc.Spec)
	changed.TaskTemplate.ForceUpdate++
	globalChanged := clone(global.Spec)
	globalChanged.TaskTemplate.ForceUpdate++

	tests := []struct {
		name    string
		ref     string
		version uint64
		spec    swarm.ServiceSpec
		opts    CanaryOptions
		kind    errdefs.Kind
		msg     string
	}{
		{name: "no task", ref: id, spec: changed, opts: CanaryOptions{}, kind: errdefs.KindInvalid, msg: "a canary needs at least 1 task, not 0"},
		{name: "negative promote-after", ref: id, spec: changed, opts: CanaryOptions{Count: 1, PromoteAfter: -time.Second}, kind: errdefs.KindInvalid, msg: "is negative"},
		{name: "more than the replicas", ref: id, spec: changed, opts: CanaryOptions{Count: 5}, kind: errdefs.KindInvalid, msg: "a canary of 5 tasks does not fit service web's 4 replicas"},
		{name: "no change", ref: id, spec: svc.Spec, opts: CanaryOptions{Count: 1}, kind: errdefs.KindInvalid, msg: "already runs this spec"},
		{name: "global", ref: globalID, spec: globalChanged, opts: CanaryOptions{BlueGreen: true}, kind: errdefs.KindInvalid, msg: "is not a replicated service"},
		{name: "stale version", ref: id, version: 1, spec: changed, opts: CanaryOptions{Count: 1}, kind: errdefs.KindConflict, msg: "update out of sequence"},
	}
	before := snapshot(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.version
			if v == 0 {
				v = stored(t, s, tt.ref).Version.Index
			}
			wantErr(t, a.UpdateServiceCanary(t.Context(), tt.ref, v, tt.spec, tt.opts), tt.kind, tt.msg)
		})
	}
	if snapshot(t, s) != before {
		t.Fatal("a refused canary changed the store")
	}
	_, err := a.PromoteService(t.Context(), id)
	wantErr(t, err, errdefs.KindPrecondition, "service web has no canary waiting for promotion")
}

func TestCanaryThenPromote(t *testing.T) {
	tests := []struct {
		name string
		opts CanaryOptions
		want store.Canary
	}{
		{
			name: "canary",
			opts: CanaryOptions{Count: 1, PromoteAfter: time.Minute},
			want: store.Canary{SpecVersion: 2, Count: 1, PromoteAfter: time.Minute, State: store.CanaryWaiting, StartedAt: testNow},
		},
		{
			name: "blue/green runs every slot",
			opts: CanaryOptions{Count: 1, BlueGreen: true},
			want: store.Canary{SpecVersion: 2, Count: 3, BlueGreen: true, State: store.CanaryWaiting, StartedAt: testNow},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s := newAPI(t)
			spec := validSpec("web")
			spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: ptr(uint64(3))}}
			id := mustCreate(t, a, spec)
			svc := stored(t, s, id)
			next := clone(svc.Spec)
			next.TaskTemplate.ContainerSpec.Image = "busybox:2"
			if err := a.UpdateServiceCanary(t.Context(), "web", svc.Version.Index, next, tt.opts); err != nil {
				t.Fatal(err)
			}
			got := stored(t, s, id)
			if got.SpecVersion != 2 || got.Spec.TaskTemplate.ContainerSpec.Image != "busybox:2" || got.PreviousSpec == nil || got.UpdateStatus != nil {
				t.Errorf("got spec version %d image %s previous %v status %+v, want the update of any other: 2, busybox:2, the old spec, none",
					got.SpecVersion, got.Spec.TaskTemplate.ContainerSpec.Image, got.PreviousSpec != nil, got.UpdateStatus)
			}
			if diff := cmp.Diff(&tt.want, got.Canary); diff != "" {
				t.Errorf("canary (-want +got):\n%s", diff)
			}

			st, err := a.PromoteService(t.Context(), "web")
			if err != nil {
				t.Fatal(err)
			}
			tt.want.PromoteRequested = true
			if diff := cmp.Diff(CanaryStatus{ID: id, Name: "web", Canary: &tt.want}, st); diff != "" {
				t.Errorf("promote (-want +got):\n%s", diff)
			}
			if got, err := a.GetCanary(t.Context(), id); err != nil || !got.Canary.PromoteRequested {
				t.Errorf("GetCanary got %+v, %v; want promotion asked", got.Canary, err)
			}
		})
	}
}
