package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// writeInspect writes raw JSON objects as one indented JSON array, as docker's
// inspect commands do.
func writeInspect(w io.Writer, raws []json.RawMessage) error {
	parts := make([][]byte, len(raws))
	for i, r := range raws {
		parts[i] = r
	}
	joined := append([]byte("["), bytes.Join(parts, []byte(","))...)
	joined = append(joined, ']')
	var out bytes.Buffer
	if err := json.Indent(&out, joined, "", "    "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(w)
	return err
}

// parseFilters turns --filter key=value flags into API filters.
func parseFilters(values []string) (client.Filters, error) {
	f := make(client.Filters)
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", v)
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(val))
	}
	return f, nil
}

// resolveNode turns "self" into the current node's ID, as docker does (the
// daemon knows no "self").
func resolveNode(ctx context.Context, api *client.Client, ref string) (string, error) {
	if ref != "self" {
		return ref, nil
	}
	info, err := api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	if info.Info.Swarm.NodeID == "" {
		return "", errors.New("node ID not found in /info: is this node part of a swarm?")
	}
	return info.Info.Swarm.NodeID, nil
}

// names resolves service and node IDs to names for task listings and log
// prefixes, asking the daemon once per ID; an ID it cannot resolve stays an ID.
type names struct {
	api      *client.Client
	services map[string]string
	nodes    map[string]string
}

func newNames(api *client.Client) *names {
	return &names{api: api, services: map[string]string{}, nodes: map[string]string{}}
}

func (n *names) service(ctx context.Context, id string) string {
	if name, ok := n.services[id]; ok {
		return name
	}
	name := id
	if res, err := n.api.ServiceInspect(ctx, id, client.ServiceInspectOptions{}); err == nil && res.Service.Spec.Name != "" {
		name = res.Service.Spec.Name
	}
	n.services[id] = name
	return name
}

func (n *names) node(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if name, ok := n.nodes[id]; ok {
		return name
	}
	name := id
	if res, err := n.api.NodeInspect(ctx, id, client.NodeInspectOptions{}); err == nil {
		switch {
		case res.Node.Spec.Name != "":
			name = res.Node.Spec.Name
		case res.Node.Description.Hostname != "":
			name = res.Node.Description.Hostname
		}
	}
	n.nodes[id] = name
	return name
}

// forTasks resolves the services and nodes of tasks, for format.TaskListing.
func (n *names) forTasks(ctx context.Context, tasks []swarm.Task) (services, nodes map[string]string) {
	services, nodes = map[string]string{}, map[string]string{}
	for _, t := range tasks {
		services[t.ServiceID] = n.service(ctx, t.ServiceID)
		nodes[t.NodeID] = n.node(ctx, t.NodeID)
	}
	return services, nodes
}

// eachArg runs fn for every argument, going on past failures, and returns
// them all joined — as docker's rm commands do.
func eachArg(args []string, fn func(arg string) error) error {
	var errs []error
	for _, arg := range args {
		if err := fn(arg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
