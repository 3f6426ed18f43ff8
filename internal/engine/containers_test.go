package engine

import (
	"log/slog"
	"testing"

	"github.com/shoal-project/shoal/internal/container"
	"github.com/shoal-project/shoal/internal/errdefs"
)

func TestAddContainerDrawsATakenNameAgain(t *testing.T) {
	store, err := container.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Add(&container.Container{ID: "a1", Name: "calm_cod"}); err != nil {
		t.Fatal(err)
	}

	// A drawn name taken since it was drawn: drawn again.
	draws := []string{"calm_cod", "keen_koi"}
	ctr := &container.Container{ID: "b2", Name: "calm_cod"}
	regenerate := func() (string, error) {
		draws = draws[1:]
		return draws[0], nil
	}
	if err := addContainer(store, ctr, regenerate); err != nil {
		t.Fatalf("addContainer: %v", err)
	}
	if id, ok := store.NameHolder("keen_koi"); !ok || id != "b2" || ctr.Name != "keen_koi" {
		t.Errorf("keen_koi held by %q (%v), container named %q; want b2 under keen_koi", id, ok, ctr.Name)
	}

	// A name the request gave is not replaced.
	err = addContainer(store, &container.Container{ID: "c3", Name: "calm_cod"}, nil)
	if !errdefs.Is(err, errdefs.KindConflict) {
		t.Errorf("a given name taken: %v, want a conflict", err)
	}

	// A draw that keeps meeting taken names ends.
	tries := 0
	err = addContainer(store, &container.Container{ID: "d4", Name: "calm_cod"}, func() (string, error) {
		tries++
		return "calm_cod", nil
	})
	if !errdefs.Is(err, errdefs.KindConflict) || tries != maxNameDraws-1 {
		t.Errorf("always taken: %v after %d draws, want a conflict after %d", err, tries, maxNameDraws-1)
	}
}
