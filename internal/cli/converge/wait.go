package converge

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// PollInterval is how often Wait polls, as docker's CLI does.
const PollInterval = 200 * time.Millisecond

// API is what Wait reads from the daemon.
type API interface {
	ServiceInspect(ctx context.Context, serviceID string, options client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
}

// Clock tells the time and waits; tests pass one that advances by itself.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Wait polls the service every PollInterval and shows its progress on d until
// it converges, its update stops (the error says why), ctx ends, or interrupt
// fires — then the operation goes on in the background and Wait says so.
func Wait(ctx context.Context, api API, serviceID string, d *Display, clock Clock, interrupt <-chan struct{}) error {
	var t Tracker
	for {
		obs, err := observe(ctx, api, serviceID)
		if err != nil {
			return err
		}
		updates, done, err := t.Step(obs, clock.Now())
		if showErr := d.Show(updates); showErr != nil {
			return showErr
		}
		if done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-interrupt:
			return d.Show([]Update{
				{Text: "Operation continuing in background."},
				{Text: fmt.Sprintf("Use `shoal service ps %s` to check progress.", serviceID)},
			})
		case <-clock.After(PollInterval):
		}
	}
}

func observe(ctx context.Context, api API, serviceID string) (Observation, error) {
	svc, err := api.ServiceInspect(ctx, serviceID, client.ServiceInspectOptions{})
	if err != nil {
		return Observation{}, err
	}
	tasks, err := api.TaskList(ctx, client.TaskListOptions{
		Filters: make(client.Filters).Add("service", svc.Service.ID).Add("_up-to-date", "true"),
	})
	if err != nil {
		return Observation{}, err
	}
	nodes, err := api.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return Observation{}, err
	}
	active := map[string]struct{}{}
	for _, n := range nodes.Items {
		if n.Status.State != swarm.NodeStateDown {
			active[n.ID] = struct{}{}
		}
	}
	return Observation{Service: svc.Service, Tasks: tasks.Items, ActiveNodes: active}, nil
}
