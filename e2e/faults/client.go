package faults

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
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
)

// apiVersion prefixes every path, as the docker CLI does.
const apiVersion = "/v1.47"

// valueLabel is the service label holding the value of the write that
// made its spec.
const valueLabel = "faults.value"

// apiClient calls one daemon's Engine API over its unix socket, the way
// any Docker client does, with a bound on each call.
type apiClient struct {
	host    string
	http    *http.Client
	timeout time.Duration
}

func newAPIClient(host, socket string, timeout time.Duration) *apiClient {
	return &apiClient{host: host, timeout: timeout, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		// A fresh connection per call: a paused daemon must not hold a
		// connection other calls wait behind.
		DisableKeepAlives: true,
	}}}
}

// do sends a request and decodes a 2xx answer into out. The error of a
// call that got an answer is an *apiError.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://shoal"+apiVersion+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Message string }
		json.Unmarshal(data, &e)
		return &apiError{Status: resp.StatusCode, Message: e.Message}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// outcome classes a call's error for op.
func outcome(op Op, err error) Output {
	if err == nil {
		return Output{Outcome: OK}
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		return Output{Outcome: Unknown, Message: err.Error()}
	}
	out := Output{Status: ae.Status, Message: ae.Message}
	switch {
	case ae.Status == http.StatusNotFound:
		out.Outcome = NotFound
	case ae.Status == http.StatusConflict && op == OpCreate:
		out.Outcome = Exists
	case ae.Status == http.StatusConflict && op == OpUpdate:
		out.Outcome = Stale
	case ae.Status/100 == 4:
		out.Outcome = Refused
	default:
		// A 5xx does not say the write was not made: the leader may have
		// committed it before the answer was lost.
		out.Outcome = Unknown
	}
	return out
}

// taskCommand runs until stopped and stops at once on SIGTERM (a plain
// sleep as PID 1 ignores it and waits out the stop grace period), so that
// the time to converge is the cluster's, not the image's.
var taskCommand = []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}

// serviceSpec is the spec a write of value gives service name: only the
// label and the replica count change, so that no write starts a rolling
// update of the tasks.
func serviceSpec(name string, value int) swarm.ServiceSpec {
	replicas := uint64(ReplicasOf(value))
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: map[string]string{valueLabel: strconv.Itoa(value)}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "busybox:latest", Command: taskCommand},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
	}
}

// jumpClock sets the offset of the daemon's wall clock (its test hook;
// the binary is built with the shoaltesthooks tag).
func (c *apiClient) jumpClock(ctx context.Context, offset time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://shoal/shoal-test/clock?offset="+offset.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("clock jump by %v: %s %s", offset, resp.Status, msg)
	}
	return nil
}

func (c *apiClient) create(ctx context.Context, name string, value int) error {
	return c.do(ctx, http.MethodPost, "/services/create", serviceSpec(name, value), nil)
}

func (c *apiClient) update(ctx context.Context, name string, value int, from uint64) error {
	path := fmt.Sprintf("/services/%s/update?version=%d", url.PathEscape(name), from)
	return c.do(ctx, http.MethodPost, path, serviceSpec(name, value), nil)
}

func (c *apiClient) remove(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/services/"+url.PathEscape(name), nil, nil)
}

// read returns the answer to an inspect of service name.
func (c *apiClient) read(ctx context.Context, name string) Output {
	var svc swarm.Service
	err := c.do(ctx, http.MethodGet, "/services/"+url.PathEscape(name), nil, &svc)
	out := outcome(OpRead, err)
	if err != nil {
		return out
	}
	out.Version = svc.Version.Index
	out.Value, _ = strconv.Atoi(svc.Spec.Labels[valueLabel])
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		out.Replicas = int(*r.Replicas)
	}
	return out
}

func (c *apiClient) services(ctx context.Context) ([]swarm.Service, error) {
	var out []swarm.Service
	return out, c.do(ctx, http.MethodGet, "/services", nil, &out)
}

func (c *apiClient) tasks(ctx context.Context) ([]swarm.Task, error) {
	var out []swarm.Task
	return out, c.do(ctx, http.MethodGet, "/tasks", nil, &out)
}

func (c *apiClient) nodes(ctx context.Context) ([]swarm.Node, error) {
	var out []swarm.Node
	return out, c.do(ctx, http.MethodGet, "/nodes", nil, &out)
}

// containers lists the running containers of swarm tasks on this host.
func (c *apiClient) containers(ctx context.Context) ([]container.Summary, error) {
	var out []container.Summary
	f := url.QueryEscape(`{"label":["com.docker.swarm.service.id"]}`)
	return out, c.do(ctx, http.MethodGet, "/containers/json?filters="+f, nil, &out)
}
