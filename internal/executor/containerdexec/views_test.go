package containerdexec

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor"
)

// TestListDuringRemovals lists and inspects containers (docker ps, docker
// inspect) while others start, exit, are reaped and are removed: a
// container going away must never make a listing fail, an inspect must
// answer its state or NotFound, and a container that has started is never
// shown as created again.
func TestListDuringRemovals(t *testing.T) {
	e := newExecutor(t, "")
	const workers, perWorker = 2, 9

	var (
		mu      sync.Mutex
		started = map[string]bool{} // guarded by mu; container IDs whose Start returned
		errs    []error             // guarded by mu
	)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	churn := func(ctx context.Context, worker int) error {
		for i := range perWorker {
			// Three ways to go: exit and be reaped by Wait, be removed
			// while running, exit and be removed without a Wait.
			args := []string{"true"}
			if i%3 == 1 {
				args = []string{"sleep", "1000"}
			}
			task := newTask(args...)
			task.Slot = worker*perWorker + i + 1
			ctl, err := e.Controller(task, nil)
			if err != nil {
				return err
			}
			t.Cleanup(func() {
				if err := ctl.Remove(context.Background()); err != nil {
					t.Errorf("remove: %v", err)
				}
			})
			if err := ctl.Prepare(ctx); err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			if err := ctl.Start(ctx); err != nil {
				return fmt.Errorf("start: %w", err)
			}
			mu.Lock()
			started[ContainerID(task.ID)] = true
			mu.Unlock()
			if i%3 == 0 {
				if _, err := ctl.Wait(ctx); err != nil {
					return fmt.Errorf("wait: %w", err)
				}
			}
			if err := ctl.Remove(ctx); err != nil {
				return fmt.Errorf("remove: %w", err)
			}
		}
		return nil
	}
	look := func(ctx context.Context, all bool) {
		mu.Lock()
		before := maps.Clone(started)
		mu.Unlock()
		list, err := e.List(ctx, all, nil)
		if err != nil {
			report(fmt.Errorf("list: %w", err))
			return
		}
		for _, s := range list {
			if before[s.ID] && s.State == container.StateCreated {
				report(fmt.Errorf("list: got %s %s after its start, want running or exited", s.ID, s.State))
			}
			ins, err := e.Inspect(ctx, s.ID)
			switch {
			case errdefs.Is(err, errdefs.KindNotFound):
			case err != nil:
				report(fmt.Errorf("inspect: got %w, want the state or NotFound", err))
			case ins.State.Status == container.StateCreated && before[s.ID]:
				report(fmt.Errorf("inspect: got %s %s after its start, want running or exited", s.ID, ins.State.Status))
			}
		}
	}

	done := make(chan struct{})
	var lister sync.WaitGroup
	lister.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			look(t.Context(), i%2 == 0)
		}
	})
	var churners sync.WaitGroup
	for w := range workers {
		churners.Go(func() {
			if err := churn(t.Context(), w); err != nil {
				report(fmt.Errorf("worker %d: %w", w, err))
			}
		})
	}
	churners.Wait()
	close(done)
	lister.Wait()
	for _, err := range errs {
		t.Error(err)
	}
}

// TestEndpointsHideTheWayOut: the node bridge is shown as "bridge" only
// for a container whose network mode is the bridge and that is on no
// swarm network; for the others it is docker_gwbridge's way out, which
// dockerd does not show.
func TestEndpointsHideTheWayOut(t *testing.T) {
	bridge := &executor.Endpoint{NetworkName: "bridge", Addr: netip.MustParsePrefix("172.27.0.5/16"), Gateway: netip.MustParseAddr("172.27.0.1")}
	front := executor.Endpoint{NetworkID: "n1", NetworkName: "front", Addr: netip.MustParsePrefix("10.0.1.5/24")}
	for _, tc := range []struct {
		name string
		rec  record
		want []string
	}{
		{"plain on the bridge", record{HostConfig: container.HostConfig{NetworkMode: "bridge"}, Endpoint: bridge}, []string{"bridge"}},
		{"task on no network (default mode)", record{HostConfig: container.HostConfig{NetworkMode: "default"}, Endpoint: bridge}, []string{"bridge"}},
		{"task on an overlay", record{HostConfig: container.HostConfig{NetworkMode: "default"}, Endpoint: bridge, Networks: []executor.Endpoint{front}}, []string{"front"}},
		{"plain run on an attachable overlay", record{HostConfig: container.HostConfig{NetworkMode: "shared"}, Endpoint: bridge}, nil},
		{"plain on a local network", record{HostConfig: container.HostConfig{NetworkMode: "mine"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := slices.Sorted(maps.Keys(endpoints(&tc.rec)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("networks %v, want %v", got, tc.want)
			}
		})
	}
}
