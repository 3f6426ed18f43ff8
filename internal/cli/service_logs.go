package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/shoal-project/shoal/internal/cli/logline"
	"github.com/spf13/cobra"
)

type logsOptions struct {
	noTrunc, noTaskIDs, noResolve, raw bool
	follow, timestamps, details        bool
	since, tail                        string
}

func newServiceLogsCommand(e *env) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE|TASK",
		Short: "Fetch the logs of a service or task",
		Args:  cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.noResolve, "no-resolve", false, "Do not map IDs to Names in output")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	fs.BoolVar(&o.raw, "raw", false, "Do not neatly format logs")
	fs.BoolVar(&o.noTaskIDs, "no-task-ids", false, "Do not include task IDs in output")
	fs.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	fs.StringVar(&o.since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	fs.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&o.details, "details", false, "Show extra details provided to logs")
	fs.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	cmd.RunE = e.run(func(ctx context.Context, api *client.Client, _ *cobra.Command, args []string) error {
		return e.serviceLogs(ctx, api, args[0], o)
	})
	return cmd
}

func (e *env) serviceLogs(ctx context.Context, api *client.Client, target string, o logsOptions) error {
	// Details carry the task context the prefix is made of.
	withDetails := o.details || !o.raw
	var (
		body    io.ReadCloser
		tty     bool
		padding = 1
	)
	svc, err := api.ServiceInspect(ctx, target, client.ServiceInspectOptions{})
	switch {
	case err == nil:
		if cs := svc.Service.Spec.TaskTemplate.ContainerSpec; cs != nil {
			tty = cs.TTY
		}
		if r := svc.Service.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			padding = len(strconv.FormatUint(*r.Replicas, 10))
		}
		if tty && !o.raw {
			return errors.New("tty service logs only supported with --raw")
		}
		body, err = api.ServiceLogs(ctx, target, client.ServiceLogsOptions{
			ShowStdout: true, ShowStderr: true, Since: o.since, Timestamps: o.timestamps,
			Follow: o.follow, Tail: o.tail, Details: withDetails,
		})
	case isNotFound(err):
		task, terr := api.TaskInspect(ctx, target, client.TaskInspectOptions{})
		if terr != nil {
			if isNotFound(terr) {
				return fmt.Errorf("no such task or service: %s", target)
			}
			return terr
		}
		if cs := task.Task.Spec.ContainerSpec; cs != nil {
			tty = cs.TTY
		}
		padding = len(strconv.Itoa(task.Task.Slot))
		if tty && !o.raw {
			return errors.New("tty service logs only supported with --raw")
		}
		body, err = api.TaskLogs(ctx, target, client.TaskLogsOptions{
			ShowStdout: true, ShowStderr: true, Since: o.since, Timestamps: o.timestamps,
			Follow: o.follow, Tail: o.tail, Details: withDetails,
		})
	}
	if err != nil {
		return err
	}
	defer body.Close()
	if tty {
		_, err = io.Copy(e.out, body)
		return err
	}
	stdout, stderr := e.out, e.errOut
	if !o.raw {
		p := &prefixer{api: api, names: newNames(api), opts: o, padding: padding, cache: map[logline.Context]string{}}
		stdout = &logWriter{ctx: ctx, w: e.out, p: p, opts: o}
		stderr = &logWriter{ctx: ctx, w: e.errOut, p: p, opts: o}
	}
	_, err = stdcopy.StdCopy(stdout, stderr, body)
	return err
}

// prefixer names the task each log line came from, asking the daemon once
// per task.
type prefixer struct {
	api     *client.Client
	names   *names
	opts    logsOptions
	padding int
	cache   map[logline.Context]string
}

func (p *prefixer) prefix(ctx context.Context, c logline.Context) (string, error) {
	if s, ok := p.cache[c]; ok {
		return s, nil
	}
	task, err := p.api.TaskInspect(ctx, c.TaskID, client.TaskInspectOptions{})
	if err != nil {
		return "", err
	}
	t := logline.Task{ServiceName: c.ServiceID, Slot: task.Task.Slot, TaskID: task.Task.ID, NodeName: c.NodeID}
	if !p.opts.noResolve {
		t.ServiceName = p.names.service(ctx, c.ServiceID)
		t.NodeName = p.names.node(ctx, c.NodeID)
	}
	s := logline.Prefix(t, logline.PrefixOptions{NoTaskIDs: p.opts.noTaskIDs, NoTrunc: p.opts.noTrunc, Padding: p.padding})
	p.cache[c] = s
	return s, nil
}

// logWriter formats the lines stdcopy hands it, one frame — one line — per
// Write.
type logWriter struct {
	ctx  context.Context
	w    io.Writer
	p    *prefixer
	opts logsOptions
}

func (lw *logWriter) Write(buf []byte) (int, error) {
	line, err := logline.Parse(buf, lw.opts.timestamps)
	if err != nil {
		return 0, err
	}
	prefix, err := lw.p.prefix(lw.ctx, line.Context)
	if err != nil {
		return 0, err
	}
	if _, err := lw.w.Write(logline.Format(line, prefix, lw.opts.details)); err != nil {
		return 0, err
	}
	return len(buf), nil
}
