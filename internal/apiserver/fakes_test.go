package apiserver

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// The fakes stand in for this package's own backend interfaces, to check
// what goes over HTTP; the real backends are tested against containerd
// in their packages.

type fakeSystem struct{}

func (fakeSystem) Info(ctx context.Context) (system.Info, error) {
	return system.Info{ID: "ABCD", Name: "host1", NCPU: 2, MemTotal: 1 << 30, KernelVersion: "6.1.0-test", OperatingSystem: "Debian GNU/Linux 12"}, nil
}

var logTime = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)

type fakeContainers struct {
	panicOnList bool

	mu    sync.Mutex
	stdin string // what the last exec read
}

func (f *fakeContainers) List(ctx context.Context, all bool, filters map[string][]string) ([]container.Summary, error) {
	if f.panicOnList {
		panic("boom")
	}
	return []container.Summary{
		{ID: "c1", Names: []string{"/web.1.t1"}, State: container.StateRunning},
		{ID: "c2", Names: []string{"/web.2.t2"}, State: container.StateExited},
	}, nil
}

func (f *fakeContainers) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	switch id {
	case "c1", "web.1.t1":
		return container.InspectResponse{ID: "c1", Name: "/web.1.t1", Config: &container.Config{}}, nil
	case "tty":
		return container.InspectResponse{ID: "tty", Config: &container.Config{Tty: true}}, nil
	}
	return container.InspectResponse{}, errdefs.NotFound("No such container: %s", id)
}

func (f *fakeContainers) Logs(ctx context.Context, id string, opts containerdexec.LogOptions, out func(int, time.Time, []byte) error) error {
	if opts.Stdout {
		if err := out(containerdexec.StreamStdout, logTime, []byte("hello\n")); err != nil {
			return err
		}
	}
	if opts.Stderr {
		return out(containerdexec.StreamStderr, logTime, []byte("oops\n"))
	}
	return nil
}

func (f *fakeContainers) ExecCreate(ctx context.Context, id string, cfg container.ExecCreateRequest) (string, error) {
	if _, err := f.Inspect(ctx, id); err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.Invalid("No exec command specified")
	}
	return "exec1", nil
}

// ExecStart copies stdin to stdout and writes a line to stderr.
func (f *fakeContainers) ExecStart(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) error {
	if id != "exec1" {
		return errdefs.NotFound("No such exec instance: %s", id)
	}
	if stdin != nil {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.stdin = string(data)
		f.mu.Unlock()
		stdout.Write([]byte(strings.ToUpper(string(data))))
	}
	fmt.Fprintln(stderr, "to stderr")
	return nil
}

func (f *fakeContainers) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	if id != "exec1" {
		return container.ExecInspectResponse{}, errdefs.NotFound("No such exec instance: %s", id)
	}
	zero := 0
	return container.ExecInspectResponse{ID: id, ContainerID: "c1", OpenStdin: true, ExitCode: &zero, ProcessConfig: &container.ExecProcessConfig{Entrypoint: "cat"}}, nil
}

func (f *fakeContainers) Remove(ctx context.Context, id string, force, _ bool) error {
	if id == "c1" && !force {
		return errdefs.Conflict("You cannot remove a running container c1. Stop the container before attempting removal or force remove")
	}
	_, err := f.Inspect(ctx, id)
	return err
}

type fakeImages struct {
	mu       sync.Mutex
	imported []string // ref and changes of the last import
	tagged   [2]string
}

func (f *fakeImages) Pull(ctx context.Context, ref string, progress func(string)) (client.Image, error) {
	if strings.Contains(ref, "missing") {
		return nil, errdefs.NotFound("pull access denied for %s, repository does not exist or may require 'docker login'", ref)
	}
	progress("latest: Pulling from library/busybox")
	progress("aaaaaaaaaaaa: Pulling fs layer")
	if strings.Contains(ref, "broken") {
		return nil, fmt.Errorf("failed to unpack: no space left on device")
	}
	progress("Digest: sha256:1234")
	progress("Status: Downloaded newer image for " + ref)
	return nil, nil
}

func (f *fakeImages) Import(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imported = append([]string{ref, string(data)}, changes...)
	return "sha256:feed", nil
}

func (f *fakeImages) Load(ctx context.Context, r io.Reader) ([]string, error) {
	io.Copy(io.Discard, r)
	return []string{"busybox:latest", "sha256:beef"}, nil
}

func (f *fakeImages) List(ctx context.Context) ([]image.Summary, error) {
	return []image.Summary{{ID: "sha256:feed", RepoTags: []string{"busybox:latest"}}}, nil
}

func (f *fakeImages) Inspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	if ref != "localhost:5000/team/app:v1" && ref != "busybox" {
		return image.InspectResponse{}, errdefs.NotFound("No such image: %s", ref)
	}
	return image.InspectResponse{ID: "sha256:feed", RepoTags: []string{ref}}, nil
}

func (f *fakeImages) Tag(ctx context.Context, src, dst string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tagged = [2]string{src, dst}
	return nil
}

func (f *fakeImages) Remove(ctx context.Context, ref string, force bool) ([]image.DeleteResponse, error) {
	return []image.DeleteResponse{{Untagged: ref}}, nil
}

func (f *fakeImages) Distribution(ctx context.Context, ref string) (registry.DistributionInspect, error) {
	return registry.DistributionInspect{}, errdefs.Unavailable("registry unreachable for %s", ref)
}

// fakeServiceLogs gives two lines per task: one on stdout, one on
// stderr.
type fakeServiceLogs struct {
	mu  sync.Mutex
	sel LogSelector
}

func (f *fakeServiceLogs) Logs(ctx context.Context, sel LogSelector, opts containerdexec.LogOptions, write func(taskID, nodeID string, stream int, ts time.Time, line []byte) error) error {
	f.mu.Lock()
	f.sel = sel
	f.mu.Unlock()
	tasks := sel.TaskIDs
	if sel.ServiceID != "" {
		tasks = []string{"task1"}
	}
	for _, id := range tasks {
		if opts.Stdout {
			if err := write(id, "node1", containerdexec.StreamStdout, logTime, []byte("out of "+id+"\n")); err != nil {
				return err
			}
		}
		if opts.Stderr {
			if err := write(id, "node1", containerdexec.StreamStderr, logTime, []byte("err of "+id+"\n")); err != nil {
				return err
			}
		}
	}
	return nil
}
