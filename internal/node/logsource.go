package node

import (
	"context"
	"time"

	"github.com/shoal-project/shoal/internal/agent"
	"github.com/shoal-project/shoal/internal/dispatcher"
	"github.com/shoal-project/shoal/internal/executor/containerdexec"
)

// taskLogs returns what the agent reads its tasks' logs with: the
// executor itself when it can (a test's), else the engine's containers;
// nil when the node has neither.
func (n *Node) taskLogs() agent.LogSource {
	if ls, ok := n.exec.(agent.LogSource); ok {
		return ls
	}
	if n.cfg.Engine != nil && n.cfg.Engine.Executor != nil {
		return containerLogs{n.cfg.Engine.Executor}
	}
	return nil
}

// containerLogs reads a task's log from its container, which the
// containerd executor names after the task.
type containerLogs struct {
	exec *containerdexec.Executor
}

// Logs implements agent.LogSource. The executor numbers streams as the
// dispatcher does (1 stdout, 2 stderr).
func (l containerLogs) Logs(ctx context.Context, taskID string, opts dispatcher.LogOptions, out func(stream int, ts time.Time, line []byte) error) error {
	return l.exec.Logs(ctx, containerdexec.ContainerID(taskID), containerdexec.LogOptions{
		Stdout: opts.Stdout,
		Stderr: opts.Stderr,
		Follow: opts.Follow,
		Tail:   opts.Tail,
		Since:  opts.Since,
	}, out)
}
