package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoal-project/shoal/internal/cli/opts"
)

// Canary and blue/green deployments are Shoal's own: `shoal service update
// --canary N | --blue-green` deploys an update through POST
// /services/{id}/canary, `shoal service promote` promotes it, and the
// Docker rollback (`shoal service rollback`) discards it. The wire types
// are controlapi's (CanaryUpdate, CanaryStatus); the CLI keeps its own
// copies as it keeps to the HTTP API.

const (
	flagCanary             = "canary"
	flagBlueGreen          = "blue-green"
	flagCanaryPromoteAfter = "canary-promote-after"
)

// canaryCheckInterval is how often the CLI looks at a canary it waits for.
const canaryCheckInterval = 500 * time.Millisecond

// canaryOptions is controlapi.CanaryOptions.
type canaryOptions struct {
	Count        int
	BlueGreen    bool          `json:",omitempty"`
	PromoteAfter time.Duration `json:",omitempty"`
}

// canaryStatus is controlapi.CanaryStatus, with store.Canary.
type canaryStatus struct {
	ID     string
	Name   string
	Canary *struct {
		SpecVersion      uint64
		Count            int
		BlueGreen        bool
		PromoteAfter     time.Duration
		PromoteRequested bool
		State            string
		StartedAt        time.Time
		Running          int
		EndedAt          time.Time
		Message          string
	}
}

// Canary states, as store.CanaryState.
const (
	canaryWaiting    = "waiting"
	canaryPromoted   = "promoted"
	canaryRolledBack = "rolled_back"
)

// canaryFlags are the flags of `shoal service update` that deploy the
// update as a canary or blue/green deployment.
type canaryFlags struct {
	count        int
	blueGreen    bool
	promoteAfter time.Duration
	changed      func(name string) bool
}

func addCanaryFlags(fs *pflag.FlagSet) *canaryFlags {
	c := &canaryFlags{changed: fs.Changed}
	fs.IntVar(&c.count, flagCanary, 0, "Deploy the update as a canary: start this many new tasks beside the old ones and wait for \"shoal service promote\"")
	fs.BoolVar(&c.blueGreen, flagBlueGreen, false, "Deploy the update blue/green: start a new task beside every old one, and switch them all at once on \"shoal service promote\"")
	fs.DurationVar(&c.promoteAfter, flagCanaryPromoteAfter, 0, "Promote the canary or blue/green deployment once its new tasks have run healthy this long (ns|us|ms|s|m|h)")
	return c
}

// asked reports whether the update is to be deployed as a canary.
func (c *canaryFlags) asked() bool {
	return c.changed(flagCanary) || c.changed(flagBlueGreen) || c.changed(flagCanaryPromoteAfter)
}

func (c *canaryFlags) options() (canaryOptions, error) {
	switch {
	case c.changed(flagCanary) && c.blueGreen:
		return canaryOptions{}, fmt.Errorf("--%s and --%s may not be combined: blue/green is a canary of every task", flagCanary, flagBlueGreen)
	case !c.changed(flagCanary) && !c.blueGreen:
		return canaryOptions{}, fmt.Errorf("--%s needs --%s or --%s", flagCanaryPromoteAfter, flagCanary, flagBlueGreen)
	}
	return canaryOptions{Count: c.count, BlueGreen: c.blueGreen, PromoteAfter: c.promoteAfter}, nil
}

// updateCanary deploys spec as the new spec of svc through a canary, then,
// unless detached, shows its new tasks starting until they all run.
func (e *env) updateCanary(ctx context.Context, api *client.Client, svc swarm.Service, spec swarm.ServiceSpec, flags *canaryFlags, detach, quiet bool) error {
	o, err := flags.options()
	if err != nil {
		return err
	}
	body := struct {
		Spec   swarm.ServiceSpec
		Canary canaryOptions
	}{spec, o}
	path := "/services/" + url.PathEscape(svc.ID) + "/canary?version=" + strconv.FormatUint(svc.Version.Index, 10)
	if err := shoalAPI(ctx, api, http.MethodPost, path, body, nil); err != nil {
		return err
	}
	e.println(svc.Spec.Name)
	if detach {
		return nil
	}
	return e.waitCanary(ctx, api, svc.ID, quiet)
}

// waitCanary follows a canary until its new tasks all run (it then waits
// for promotion, which is the user's call), it is promoted (then the rest
// of the update is followed as any other), or it is rolled back.
func (e *env) waitCanary(ctx context.Context, api *client.Client, id string, quiet bool) error {
	interrupt, stop := e.interrupt()
	defer stop()
	printf := e.printf
	if quiet {
		printf = func(string, ...any) {}
	}
	last := -1
	for {
		st, err := getCanary(ctx, api, id)
		if err != nil {
			return err
		}
		c := st.Canary
		if c == nil {
			return fmt.Errorf("service %s has no canary", st.Name)
		}
		kind := canaryKind(c.BlueGreen)
		switch c.State {
		case canaryRolledBack:
			return fmt.Errorf("%s: %s %s", st.Name, kind, c.Message)
		case canaryPromoted:
			printf("%s: %s %s\n", st.Name, kind, c.Message)
			return e.waitOnService(ctx, api, id, quiet)
		case canaryWaiting:
		default:
			return fmt.Errorf("%s: %s ended: %s", st.Name, kind, c.Message)
		}
		if c.Running != last {
			last = c.Running
			printf("%s: %s: %d of %d new tasks running\n", st.Name, kind, c.Running, c.Count)
		}
		if c.Running >= c.Count {
			next := fmt.Sprintf("promote with \"shoal service promote %s\"", st.Name)
			if c.PromoteAfter > 0 {
				next = fmt.Sprintf("promoting by itself once they have run healthy for %s", c.PromoteAfter)
			}
			printf("%s: %s running beside the old ones; %s, or discard them with \"shoal service rollback %s\"\n", st.Name, kind, next, st.Name)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-interrupt:
			printf("%s: the %s goes on in the background\n", st.Name, kind)
			return nil
		case <-e.clock.After(canaryCheckInterval):
		}
	}
}

func canaryKind(blueGreen bool) string {
	if blueGreen {
		return "blue/green deployment"
	}
	return "canary"
}

func newServicePromoteCommand(e *env) *cobra.Command {
	var detach, quiet bool
	cmd := &cobra.Command{
		Use:   "promote [OPTIONS] SERVICE",
		Short: "Promote a service's canary or blue/green deployment to the whole service",
		Long: `Promote a service's canary or blue/green deployment (shoal service update
--canary N | --blue-green): the rest of the service is rolled to the new
spec as the update config says, and a blue/green deployment switches every
task at once as soon as all its new tasks run. "shoal service rollback"
discards a deployment instead.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().BoolVarP(&detach, opts.FlagDetach, "d", false, "Exit immediately instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&quiet, opts.FlagQuiet, "q", false, "Suppress progress output")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		res, err := api.ServiceInspect(ctx, args[0], client.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		if err := shoalAPI(ctx, api, http.MethodPost, "/services/"+url.PathEscape(res.Service.ID)+"/promote", nil, nil); err != nil {
			return err
		}
		e.println(args[0])
		if detach {
			return nil
		}
		return e.waitOnService(ctx, api, res.Service.ID, quiet)
	})
	return cmd
}

func getCanary(ctx context.Context, api *client.Client, id string) (canaryStatus, error) {
	var st canaryStatus
	err := shoalAPI(ctx, api, http.MethodGet, "/services/"+url.PathEscape(id)+"/canary", nil, &st)
	return st, err
}

// withCanary adds the service's canary, when it has had one, to the JSON
// of `shoal service inspect`, after Docker's fields.
func withCanary(ctx context.Context, api *client.Client, id string, raw json.RawMessage) json.RawMessage {
	st, err := getCanary(ctx, api, id)
	if err != nil || st.Canary == nil {
		return raw
	}
	c, err := json.Marshal(st.Canary)
	trimmed := bytes.TrimRight(raw, " \n\t")
	if err != nil || !bytes.HasSuffix(trimmed, []byte("}")) {
		return raw
	}
	out := append(bytes.Clone(trimmed[:len(trimmed)-1]), `,"Canary":`...)
	return append(append(out, c...), '}')
}

// prettyCanary adds the service's canary, when it has had one, to `shoal
// service inspect --pretty`.
func (e *env) prettyCanary(ctx context.Context, api *client.Client, id string) {
	st, err := getCanary(ctx, api, id)
	if err != nil || st.Canary == nil {
		return
	}
	c := st.Canary
	kind := "canary"
	if c.BlueGreen {
		kind = "blue/green"
	}
	e.printf("Canary:\n Kind:\t\t%s\n State:\t\t%s\n New tasks:\t%d of %d running\n Started:\t%s\n", kind, c.State, c.Running, c.Count, c.StartedAt.Format(time.RFC3339))
	if c.PromoteAfter > 0 {
		e.printf(" Promote after:\t%s\n", c.PromoteAfter)
	}
	if c.PromoteRequested && c.State == canaryWaiting {
		e.printf(" Promotion:\tasked\n")
	}
	if !c.EndedAt.IsZero() {
		e.printf(" Ended:\t\t%s\n", c.EndedAt.Format(time.RFC3339))
	}
	if c.Message != "" {
		e.printf(" Message:\t%s\n", c.Message)
	}
}

// shoalAPI calls a Shoal extension endpoint, which the Docker client does
// not know, over the client's own connection to the daemon; it sends body
// as JSON when set and decodes the answer into out when set.
func shoalAPI(ctx context.Context, api *client.Client, method, path string, body, out any) error {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return api.Dialer()(ctx) },
	}}
	defer hc.CloseIdleConnections()
	if v := api.ClientVersion(); v != "" {
		path = "/v" + v + path
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://shoal"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var msg struct{ Message string }
		if json.Unmarshal(data, &msg) == nil && msg.Message != "" {
			return errors.New(msg.Message)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}
