package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/internal/localcluster"
)

// nemesis injects faults into a running local cluster and heals them.
type nemesis struct {
	c          *localcluster.Cluster
	top        Topology
	binary     string
	daemonArgs []string              // for the daemons it restarts
	clients    map[string]*apiClient // by host name
}

func (n *nemesis) host(name string) *localcluster.Host {
	for i := range n.c.Hosts {
		if n.c.Hosts[i].Name == name {
			return &n.c.Hosts[i]
		}
	}
	return nil
}

func (n *nemesis) addrs() map[string]netip.Addr {
	m := map[string]netip.Addr{}
	for _, h := range n.c.Hosts {
		m[h.Name] = h.Addr
	}
	return m
}

// leader asks the managers in turn who leads; "" when none says.
func (n *nemesis) leader(ctx context.Context) string {
	for _, m := range n.top.Managers {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		nodes, err := n.clients[m].nodes(ctx)
		cancel()
		if err != nil {
			continue
		}
		for _, nd := range nodes {
			if nd.ManagerStatus != nil && nd.ManagerStatus.Leader {
				return nd.Description.Hostname
			}
		}
	}
	return ""
}

// heal undoes a fault.
type heal func(ctx context.Context) error

// inject starts fault f and returns how to heal it and the hosts it hit.
func (n *nemesis) inject(ctx context.Context, f Fault) (heal, []string, error) {
	targets := f.Hosts
	if f.Leader {
		l := n.leader(ctx)
		if l == "" {
			// No manager says who leads (a fault of this kind just
			// healed): hit the first manager, so that the run goes on.
			l = n.top.Managers[0]
		}
		targets = []string{l}
	}
	switch f.Kind {
	case PartitionMinority, PartitionLeader, PartitionRing, PartitionOneWay:
		cuts := Cuts(f, n.top, targets[0])
		addrs := n.addrs()
		for _, h := range n.c.Hosts {
			if s := nftScript(h.Name, cuts, addrs); s != "" {
				if err := nft(ctx, h.Netns, s); err != nil {
					return n.healPartition, targets, err
				}
			}
		}
		return n.healPartition, targets, nil
	case Kill:
		h := n.host(targets[0])
		if err := killAndReap(h.Pid); err != nil {
			return nil, targets, err
		}
		return func(ctx context.Context) error {
			if err := localcluster.StartDaemon(h, n.binary, n.daemonArgs); err != nil {
				return err
			}
			return localcluster.WaitReady(ctx, *h)
		}, targets, nil
	case Pause:
		h := n.host(targets[0])
		if err := syscall.Kill(h.Pid, syscall.SIGSTOP); err != nil {
			return nil, targets, fmt.Errorf("SIGSTOP %s: %w", h.Name, err)
		}
		return func(context.Context) error { return syscall.Kill(h.Pid, syscall.SIGCONT) }, targets, nil
	case ContainerdRestart:
		h := n.host(targets[0])
		pid := containerdPid(*h)
		if pid == 0 {
			return nil, targets, fmt.Errorf("no containerd of %s running", h.Name)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return nil, targets, err
		}
		return func(ctx context.Context) error {
			// Its daemon starts it again; a daemon that is down itself
			// (another fault) starts one when it comes back.
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if p := containerdPid(*h); p != 0 && p != pid {
					return nil
				}
				time.Sleep(200 * time.Millisecond)
			}
			return fmt.Errorf("the containerd of %s was not started again within 20 s of being killed", h.Name)
		}, targets, nil
	case DiskFull:
		h := n.host(targets[0])
		filler := filepath.Join(h.DataRoot, "faults-filler")
		if err := fill(filler); err != nil {
			return nil, targets, err
		}
		return func(context.Context) error { return os.Remove(filler) }, targets, nil
	case ClockJump:
		c := n.clients[targets[0]]
		if err := c.jumpClock(ctx, f.Offset); err != nil {
			return nil, targets, err
		}
		return func(ctx context.Context) error { return c.jumpClock(ctx, 0) }, targets, nil
	}
	return nil, targets, fmt.Errorf("unknown fault %q", f.Kind)
}

// healPartition removes the nemesis's rules from every host.
func (n *nemesis) healPartition(ctx context.Context) error {
	var errs []error
	for _, h := range n.c.Hosts {
		if err := nftHeal(ctx, h.Netns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// healAll is the last resort of a run that stops early: every host's
// rules gone, every daemon running (a stopped one cannot even be killed
// gracefully), every disk freed.
func (n *nemesis) healAll(ctx context.Context) {
	n.healPartition(ctx)
	for _, h := range n.c.Hosts {
		syscall.Kill(h.Pid, syscall.SIGCONT)
		os.Remove(filepath.Join(h.DataRoot, "faults-filler"))
	}
}

// killAndReap SIGKILLs a daemon this process started and reaps it, so
// that it does not linger as a zombie that looks alive.
func killAndReap(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) && syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("daemon %d still there 10 s after SIGKILL", pid)
}

// containerdPid finds the private containerd of a host's daemon by its
// config file; 0 when none runs.
func containerdPid(h localcluster.Host) int {
	conf := []byte(filepath.Join(h.ExecRoot, "containerd", "config.toml"))
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(data, "\x00"), []byte{0})
		if len(args) < 3 || filepath.Base(string(args[0])) != "containerd" {
			continue
		}
		if slices.ContainsFunc(args, func(a []byte) bool { return bytes.Equal(a, conf) }) {
			var pid int
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			// A zombie has an empty cmdline, so this one lives.
			return pid
		}
	}
	return 0
}

// fill writes path until the file system is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}
