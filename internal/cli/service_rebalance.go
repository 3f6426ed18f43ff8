package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// rebalanceReport is the answer of POST /services/{id}/rebalance, a Shoal
// extension of the Docker API (controlapi.RebalanceReport).
type rebalanceReport struct {
	ID     string
	Status struct {
		State   string
		Moved   int
		Message string
	}
	Moves []struct {
		TaskID   string
		Slot     int
		From, To string
	}
}

const rebalanceCompleted = "completed"

func newServiceRebalanceCommand(e *env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "rebalance [OPTIONS] SERVICE",
		Short: "Move a replicated service's tasks to spread them as the scheduler would place them now",
		Long: `Move a replicated service's tasks to spread them as the scheduler would place
them now, for instance onto nodes that joined after the tasks were placed.
Tasks move in batches as the service's update config says (parallelism,
delay, order), each replaced in its slot by a new task on a less loaded
node. Swarm never moves a running task by itself; label a service
com.shoal.rebalance=auto to have Shoal rebalance it whenever it is uneven.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Exit immediately instead of waiting for the tasks to move")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		svc, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		name := svc.Service.Spec.Name
		rep, err := postRebalance(ctx, api, svc.Service.ID)
		if err != nil {
			return err
		}
		if rep.Status.State == rebalanceCompleted {
			e.printf("%s: already spread as the scheduler would place it\n", name)
			return nil
		}
		e.printf("%s: rebalancing %s\n", name, batches(svc.Service.Spec.UpdateConfig))
		nodes := newNames(api)
		for _, m := range rep.Moves {
			e.printf("%s.%d: %s -> %s\n", name, m.Slot, nodes.node(ctx, m.From), nodes.node(ctx, m.To))
		}
		if detach {
			return nil
		}
		return e.waitRebalance(ctx, api, name, svc.Service.ID, rep.Status.Moved)
	})
	return cmd
}

// batches says how tasks move, from the service's update config.
func batches(c *swarm.UpdateConfig) string {
	parallelism, order, delay := uint64(1), swarm.UpdateOrderStopFirst, time.Duration(0)
	if c != nil {
		parallelism, delay = c.Parallelism, c.Delay
		if c.Order != "" {
			order = c.Order
		}
	}
	at := "all at once"
	if parallelism > 0 {
		at = fmt.Sprintf("%d at a time", parallelism)
	}
	if delay > 0 {
		at += fmt.Sprintf(", %s apart", delay)
	}
	return fmt.Sprintf("(%s, %s)", at, order)
}

// waitRebalance polls the rebalance until it completes, printing each
// move as it is made.
func (e *env) waitRebalance(ctx context.Context, api *client.Client, name, id string, moved int) error {
	interrupt, stop := e.interrupt()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-interrupt:
			e.printf("%s: still rebalancing in the background\n", name)
			return nil
		case <-e.clock.After(time.Second):
		}
		rep, err := postRebalance(ctx, api, id)
		if err != nil {
			return err
		}
		if rep.Status.Moved != moved {
			moved = rep.Status.Moved
			e.printf("%s: %s moved\n", name, plural(moved, "task"))
		}
		if rep.Status.State == rebalanceCompleted {
			e.printf("%s: rebalanced\n", name)
			return nil
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// postRebalance calls the extension endpoint, which the Docker client
// does not know, over the client's own connection to the daemon.
func postRebalance(ctx context.Context, api *client.Client, id string) (rebalanceReport, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return api.Dialer()(ctx) },
	}}
	defer hc.CloseIdleConnections()
	path := "/services/" + url.PathEscape(id) + "/rebalance"
	if v := api.ClientVersion(); v != "" {
		path = "/v" + v + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://shoal"+path, nil)
	if err != nil {
		return rebalanceReport{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return rebalanceReport{}, fmt.Errorf("rebalance: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return rebalanceReport{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var msg struct{ Message string }
		if json.Unmarshal(body, &msg) == nil && msg.Message != "" {
			return rebalanceReport{}, errors.New(msg.Message)
		}
		return rebalanceReport{}, fmt.Errorf("rebalance: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var rep rebalanceReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return rebalanceReport{}, fmt.Errorf("rebalance: %w", err)
	}
	return rep, nil
}
