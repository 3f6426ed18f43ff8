package containerdexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	cerrdefs "github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// This file shows the executor's containers as dockerd shows its own:
// GET /containers/json, /containers/{id}/json, /containers/{id}/logs and
// DELETE /containers/{id}.

// entry is a container with what Prepare decided about it.
type entry struct {
	ctr     client.Container
	rec     *record
	created time.Time
}

// entries returns the executor's containers. A container without a record
// (its directory lost) is shown nowhere: nothing could be said about it.
func (e *Executor) entries(ctx context.Context) ([]entry, error) {
	ctrs, err := e.cfg.Client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]entry, 0, len(ctrs))
	for _, c := range ctrs {
		if e.removed(c.ID()) {
			continue
		}
		rec, err := e.readRecord(c.ID())
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.ID(), err)
		}
		out = append(out, entry{ctr: c, rec: rec, created: info.CreatedAt})
	}
	return out, nil
}

// lookup finds a container as docker does: by full ID, by name (with or
// without the leading "/"), or by a prefix of one ID only.
func (e *Executor) lookup(ctx context.Context, idOrName string) (client.Container, *record, error) {
	all, err := e.entries(ctx)
	if err != nil {
		return nil, nil, err
	}
	name := strings.TrimPrefix(idOrName, "/")
	var prefixed []entry
	for _, en := range all {
		if en.ctr.ID() == idOrName || en.rec.Name == name {
			return en.ctr, en.rec, nil
		}
		if idOrName != "" && strings.HasPrefix(en.ctr.ID(), idOrName) {
			prefixed = append(prefixed, en)
		}
	}
	switch len(prefixed) {
	case 0:
		return nil, nil, errdefs.NotFound("No such container: %s", idOrName)
	case 1:
		return prefixed[0].ctr, prefixed[0].rec, nil
	default:
		return nil, nil, errdefs.Invalid("multiple IDs found with provided prefix: %s", idOrName)
	}
}

// List returns the containers as docker ps shows them, newest first: the
// running ones, or all with all. filters are docker ps's: label (KEY or
// KEY=VALUE, all must match), name and id (regular expressions, one must
// match), status (one must match; implies all), health (starting,
// healthy, unhealthy or none; one must match).
func (e *Executor) List(ctx context.Context, all bool, filters map[string][]string) ([]container.Summary, error) {
	f, err := parseFilters(filters)
	if err != nil {
		return nil, err
	}
	ovs, err := e.Overviews(ctx)
	if err != nil {
		return nil, err
	}
	var out []container.Summary
	for _, ov := range ovs {
		s := ov.Summary
		if !all && len(f.status) == 0 && s.State != container.StateRunning {
			continue
		}
		health := container.NoHealthcheck
		if s.Health != nil {
			health = s.Health.Status
		}
		if !f.match(s.ID, ov.Name, s.Labels, s.State, health) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// Overview is a container as a listing sees it: the summary docker ps
// shows, and what its filters look at besides.
type Overview struct {
	Summary  container.Summary
	Name     string // without the leading "/"
	Created  time.Time
	ExitCode int
	Started  bool // it has run at least once
}

// Overviews returns every container the executor shows, newest first.
func (e *Executor) Overviews(ctx context.Context) ([]Overview, error) {
	ctx = e.ns(ctx)
	entries, err := e.entries(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b entry) int { return b.created.Compare(a.created) })
	now := time.Now()
	out := make([]Overview, 0, len(entries))
	for _, en := range entries {
		obs, err := e.observe(ctx, en.ctr)
		if errdefs.Is(err, errdefs.KindNotFound) {
			continue // removed since entries found it
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Overview{
			Summary:  e.summary(en, obs, now),
			Name:     en.rec.Name,
			Created:  en.created,
			ExitCode: obs.Run.ExitCode,
			Started:  !obs.Run.StartedAt.IsZero(),
		})
	}
	return out, nil
}

func (e *Executor) summary(en entry, obs observation, now time.Time) container.Summary {
	rec := en.rec
	s := container.Summary{
		ID:      en.ctr.ID(),
		Names:   []string{"/" + rec.Name},
		Image:   rec.Config.Image,
		ImageID: rec.ImageID,
		Command: strings.Join(append(slices.Clone(rec.Config.Entrypoint), rec.Config.Cmd...), " "),
		Created: en.created.Unix(),
		Labels:  rec.Config.Labels,
		State:   obs.State,
		Mounts:  rec.Mounts,
	}
	health := e.healthOf(en.ctr.ID(), rec, obs)
	s.Status = statusText(obs, health, now)
	if health != nil {
		s.Health = &container.HealthSummary{Status: health.Status, FailingStreak: health.FailingStreak}
	}
	s.HostConfig.NetworkMode = string(rec.HostConfig.NetworkMode)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: endpoints(rec)}
	return s
}

// statusText is docker ps's STATUS column; health is nil without a
// health check.
func statusText(obs observation, health *container.Health, now time.Time) string {
	switch obs.State {
	case container.StateRunning:
		up := "Up " + units.HumanDuration(now.Sub(obs.Run.StartedAt))
		switch {
		case health == nil:
			return up
		case health.Status == container.Starting:
			return up + " (health: starting)"
		default:
			return up + " (" + string(health.Status) + ")"
		}
	case container.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(obs.Run.StartedAt)) + " (Paused)"
	case container.StateExited:
		return fmt.Sprintf("Exited (%d) %s ago", obs.Run.ExitCode, units.HumanDuration(now.Sub(obs.Run.FinishedAt)))
	default:
		return "Created"
	}
}

// endpoints is the container's network as docker inspect shows it.
func endpoints(rec *record) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	if ep := rec.Endpoint; ep != nil && onBridge(rec) {
		out[ep.NetworkName] = &network.EndpointSettings{
			IPAddress:   ep.Addr.Addr(),
			IPPrefixLen: ep.Addr.Bits(),
			Gateway:     ep.Gateway,
			MacAddress:  network.HardwareAddr(ep.MAC),
		}
	}
	for _, ep := range rec.Networks {
		out[ep.NetworkName] = &network.EndpointSettings{
			NetworkID:   ep.NetworkID,
			EndpointID:  ep.NetworkID,
			IPAddress:   ep.Addr.Addr(),
			IPPrefixLen: ep.Addr.Bits(),
			MacAddress:  network.HardwareAddr(ep.MAC),
		}
	}
	return out
}

// onBridge reports whether the container's interface on the node bridge
// is its place on Docker's "bridge" network: it was connected to it, or
// its network mode is the bridge and it is on no swarm network.
// Otherwise (a task on overlays, a plain container run on an attachable
// overlay) it is only the way out that dockerd's docker_gwbridge gives,
// which inspect, docker ps and the bridge's network inspect do not show.
func onBridge(rec *record) bool {
	mode := rec.HostConfig.NetworkMode
	return rec.Connected || (mode.IsBridge() || mode.IsDefault()) && len(rec.Networks) == 0
}

// listFilters are docker ps filters, parsed.
type listFilters struct {
	labels []string // KEY or KEY=VALUE
	names  []*regexp.Regexp
	ids    []*regexp.Regexp
	status []container.ContainerState
	health []container.HealthStatus
}

func parseFilters(raw map[string][]string) (listFilters, error) {
	var f listFilters
	for key, values := range raw {
		for _, v := range values {
			switch key {
			case "label":
				f.labels = append(f.labels, v)
			case "name", "id":
				re, err := regexp.Compile(v)
				if err != nil {
					return listFilters{}, errdefs.Invalid("invalid filter '%s=%s': %v", key, v, err)
				}
				if key == "name" {
					f.names = append(f.names, re)
				} else {
					f.ids = append(f.ids, re)
				}
			case "status":
				s := container.ContainerState(v)
				if err := container.ValidateContainerState(s); err != nil {
					return listFilters{}, errdefs.Invalid("invalid filter 'status=%s'", v)
				}
				f.status = append(f.status, s)
			case "health":
				h := container.HealthStatus(v)
				if err := container.ValidateHealthStatus(h); err != nil {
					return listFilters{}, errdefs.Invalid("invalid filter 'health=%s'", v)
				}
				f.health = append(f.health, h)
			default:
				return listFilters{}, errdefs.Invalid("invalid filter '%s'", key)
			}
		}
	}
	return f, nil
}

// match reports whether a container passes the filters; health is
// container.NoHealthcheck without a health check.
func (f listFilters) match(id, name string, labels map[string]string, state container.ContainerState, health container.HealthStatus) bool {
	for _, l := range f.labels {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	anyMatch := func(res []*regexp.Regexp, s string) bool {
		if len(res) == 0 {
			return true
		}
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
	}
	if !anyMatch(f.names, name) || !anyMatch(f.ids, id) {
		return false
	}
	return (len(f.status) == 0 || slices.Contains(f.status, state)) &&
		(len(f.health) == 0 || slices.Contains(f.health, health))
}

// Inspect returns the container idOrName as docker inspect shows it.
func (e *Executor) Inspect(ctx context.Context, idOrName string) (container.InspectResponse, error) {
	ctx = e.ns(ctx)
	ctr, rec, err := e.lookup(ctx, idOrName)
	if err != nil {
		return container.InspectResponse{}, err
	}
	info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	obs, err := e.observe(ctx, ctr)
	if errdefs.Is(err, errdefs.KindNotFound) {
		return container.InspectResponse{}, errdefs.NotFound("No such container: %s", idOrName)
	}
	if err != nil {
		return container.InspectResponse{}, err
	}
	id, dir := ctr.ID(), e.dir(ctr.ID())
	args := append(slices.Clone(rec.Config.Entrypoint), rec.Config.Cmd...)
	cfg, host := rec.Config, rec.HostConfig
	resp := container.InspectResponse{
		ID:      id,
		Created: info.CreatedAt.UTC().Format(time.RFC3339Nano),
		Path:    args[0],
		Args:    args[1:],
		State: &container.State{
			Status:     obs.State,
			Running:    obs.State == container.StateRunning || obs.State == container.StatePaused,
			Paused:     obs.State == container.StatePaused,
			OOMKilled:  obs.Run.OOMKilled,
			Pid:        obs.Pid,
			ExitCode:   obs.Run.ExitCode,
			StartedAt:  obs.Run.StartedAt.UTC().Format(time.RFC3339Nano),
			FinishedAt: obs.Run.FinishedAt.UTC().Format(time.RFC3339Nano),
			Health:     e.healthOf(id, rec, obs),
		},
		Image:          rec.ImageID,
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		HostnamePath:   filepath.Join(dir, "hostname"),
		HostsPath:      filepath.Join(dir, "hosts"),
		LogPath:        e.logPath(id),
		Name:           "/" + rec.Name,
		Driver:         e.cfg.Snapshotter,
		Platform:       "linux",
		ExecIDs:        e.execIDs(id),
		HostConfig:     &host,
		Mounts:         rec.Mounts,
		Config:         &cfg,
		NetworkSettings: &container.NetworkSettings{
			SandboxID:  id,
			SandboxKey: rec.SandboxKey,
			Networks:   endpoints(rec),
		},
	}
	return resp, nil
}

// execIDs returns the IDs of the container's exec instances that run.
func (e *Executor) execIDs(containerID string) []string {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	var ids []string
	for id, r := range e.execs {
		r.mu.Lock()
		if r.containerID == containerID && r.running {
			ids = append(ids, id)
		}
		r.mu.Unlock()
	}
	slices.Sort(ids)
	return ids
}

// Streams of Logs's out, numbered as in Docker's multiplexed stream.
const (
	StreamStdout = 1
	StreamStderr = 2
)

// LogOptions selects what Logs shows.
type LogOptions struct {
	Stdout, Stderr bool
	Follow         bool      // wait for more output until the container exits or ctx ends
	Tail           int       // the last Tail lines only; negative for all
	Since          time.Time // lines written at or after Since only; zero for all
	Until          time.Time // lines written before Until only; zero for all
}

// Logs calls out with the container's output lines, as docker logs shows
// them; ts is when the line was written.
func (e *Executor) Logs(ctx context.Context, idOrName string, opts LogOptions, out func(stream int, ts time.Time, line []byte) error) error {
	ctx = e.ns(ctx)
	ctr, _, err := e.lookup(ctx, idOrName)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	if opts.Follow {
		// The log is complete once the task is reaped: the shim then
		// closes the driver's pipes and waits for it to finish.
		go func() {
			defer close(done)
			err := e.retryUnavailable(ctx, ctr.ID(), func() error { return e.waitExit(ctx, ctr) })
			if err != nil && ctx.Err() == nil {
				e.log.Warn("wait for container while following its log", "container.id", ctr.ID(), "err", err)
			}
		}()
	} else {
		close(done)
	}
	return ReadLog(ctx, e.logPath(ctr.ID()), opts, done, out)
}

// ReadLog calls out with the lines of the json-file log at path that opts
// selects; when following, until done closes (and what was written
// before has been read) or ctx ends.
func ReadLog(ctx context.Context, path string, opts LogOptions, done <-chan struct{}, out func(stream int, ts time.Time, line []byte) error) error {
	ro := jsonlog.ReadOptions{Tail: opts.Tail, Since: opts.Since, Until: opts.Until, Follow: opts.Follow}
	return jsonlog.Read(ctx, path, ro, done, func(en jsonlog.Entry) error {
		switch {
		case en.Stream == jsonlog.Stdout && opts.Stdout:
			return out(StreamStdout, en.Time, en.Line)
		case en.Stream == jsonlog.Stderr && opts.Stderr:
			return out(StreamStderr, en.Time, en.Line)
		}
		return nil
	})
}

// Remove deletes the container idOrName with its files, as docker rm does;
// a running one only with force, which kills it.
func (e *Executor) Remove(ctx context.Context, idOrName string, force bool) error {
	ctx = e.ns(ctx)
	ctr, _, err := e.lookup(ctx, idOrName)
	if err != nil {
		return err
	}
	if !force {
		obs, err := e.observe(ctx, ctr)
		if err != nil {
			return err
		}
		if obs.State == container.StateRunning || obs.State == container.StatePaused {
			return errdefs.Conflict("You cannot remove a running container %s. Stop the container before attempting removal or force remove", ctr.ID())
		}
	}
	return e.remove(ctx, ctr.ID(), true, true)
}
