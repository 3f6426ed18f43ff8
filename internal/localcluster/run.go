package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// Options say what cluster to make.
type Options struct {
	Name     string
	Managers int
	Workers  int
	Subnet   netip.Prefix
	// Binary is the shoal executable the hosts run; this one when empty.
	Binary string
	// DaemonArgs are extra flags for every host's daemon (for example
	// --insecure-registry GATEWAY:PORT to reach a registry on the bridge).
	DaemonArgs []string
	Log        io.Writer // progress lines; nil for none
}

// DefaultSubnet is where the hosts' addresses come from unless told.
var DefaultSubnet = netip.MustParsePrefix("10.249.0.0/24")

// Up makes the hosts, starts their daemons and forms the swarm: the first
// manager initialises it, the others join with the right tokens. On
// failure everything made is removed.
func Up(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Subnet == (netip.Prefix{}) {
		o.Subnet = DefaultSubnet
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	c, err = Plan(o.Name, o.Managers, o.Workers, o.Subnet)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.Dir, stateFile)); err == nil {
		return nil, fmt.Errorf("cluster %q exists already; remove it with `shoal cluster down %s`", o.Name, o.Name)
	}
	// The failing returns below set c to nil: take down the planned one.
	defer func(planned *Cluster) {
		if err != nil {
			Down(context.Background(), planned)
		}
	}(c)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "creating %d hosts on bridge %s (%s)\n", len(c.Hosts), c.Bridge, c.Subnet)
	if err := setUpNetwork(c); err != nil {
		return nil, err
	}
	for i := range c.Hosts {
		if err := StartDaemon(&c.Hosts[i], o.Binary, o.DaemonArgs); err != nil {
			return nil, err
		}
		if err := c.save(); err != nil {
			return nil, err
		}
	}
	for _, h := range c.Hosts {
		if err := WaitReady(ctx, h); err != nil {
			return nil, err
		}
	}
	if err := formSwarm(ctx, c, o.Log); err != nil {
		return nil, err
	}
	return c, nil
}

// StartDaemon starts a host's daemon in its namespace over its state, in
// a session of its own, and sets h.Pid; extra are more daemon flags. A
// caller that kills the daemon later reaps it (it is this process's child).
func StartDaemon(h *Host, binary string, extra []string) error {
	for _, d := range []string{h.DataRoot, h.ExecRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(filepath.Join(h.DataRoot, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append([]string{"--net=" + filepath.Join(netnsDir, h.Netns), "--", binary, "daemon",
		"--data-root", h.DataRoot,
		"--exec-root", h.ExecRoot,
		"--host", h.DockerHost(),
		"--hostname", h.Name,
	}, extra...)
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the daemon outlives `shoal cluster up`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the daemon of %s: %w", h.Name, err)
	}
	h.Pid = cmd.Process.Pid
	return cmd.Process.Release()
}

// WaitReady waits until a host's daemon answers /_ping, for up to 90 s.
func WaitReady(ctx context.Context, h Host) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.Socket)
	}}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://shoal/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !alive(h.Pid) {
			return fmt.Errorf("the daemon of %s exited; see %s", h.Name, filepath.Join(h.DataRoot, "daemon.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the daemon of %s does not answer on %s", h.Name, h.Socket)
}

// Client returns a Docker API client for a host.
func (h Host) Client() (*client.Client, error) {
	return client.New(client.WithHost(h.DockerHost()), client.WithAPIVersionNegotiation())
}

func formSwarm(ctx context.Context, c *Cluster, log io.Writer) error {
	first := c.Hosts[0]
	fc, err := first.Client()
	if err != nil {
		return err
	}
	defer fc.Close()
	if _, err := fc.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: first.ClusterAddr(), AdvertiseAddr: first.ClusterAddr()}); err != nil {
		return fmt.Errorf("swarm init on %s: %w", first.Name, err)
	}
	fmt.Fprintf(log, "%s: swarm initialised\n", first.Name)
	sw, err := fc.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return err
	}
	for _, h := range c.Hosts[1:] {
		token := sw.Swarm.JoinTokens.Worker
		if h.Role == "manager" {
			token = sw.Swarm.JoinTokens.Manager
		}
		hc, err := h.Client()
		if err != nil {
			return err
		}
		_, err = hc.SwarmJoin(ctx, client.SwarmJoinOptions{
			ListenAddr: h.ClusterAddr(), AdvertiseAddr: h.ClusterAddr(),
			RemoteAddrs: []string{first.ClusterAddr()}, JoinToken: token,
		})
		hc.Close()
		if err != nil {
			return fmt.Errorf("%s: swarm join: %w", h.Name, err)
		}
		fmt.Fprintf(log, "%s: joined as a %s\n", h.Name, h.Role)
	}
	return nil
}

// Down stops every host's daemon, removes the task containers and
// everything the cluster made: processes, mounts, namespaces, links, state.
func Down(ctx context.Context, c *Cluster) error {
	var errs []error
	for _, h := range c.Hosts {
		if alive(h.Pid) {
			if hc, err := h.Client(); err == nil {
				lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				hc.SwarmLeave(lctx, client.SwarmLeaveOptions{Force: true})
				cancel()
				hc.Close()
			}
			stop(h.Pid, 20*time.Second)
		}
		killNamespaces(h)
		unmountUnder(h.DataRoot, h.ExecRoot)
	}
	if err := tearDownNetwork(c); err != nil {
		errs = append(errs, err)
	}
	for _, h := range c.Hosts {
		os.RemoveAll(h.ExecRoot)
	}
	os.Remove(filepath.Dir(c.Hosts[0].ExecRoot))
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// alive reports whether process pid runs. A zombie does not: a daemon
// that exited stays one until its parent reaps it, and when the caller
// started the cluster in-process (tests) that parent is the caller itself.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || !zombie(string(stat))
}

// zombie reports whether a /proc/PID/stat line is a zombie's: its state,
// the field after the command name in parentheses (which may itself hold
// spaces and parentheses), is Z.
func zombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && strings.HasPrefix(stat[i+1:], " Z")
}

func stop(pid int, grace time.Duration) {
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// killNamespaces kills what still runs in the host's namespace (its
// containerd, shims) and in its containers' namespaces.
func killNamespaces(h Host) {
	paths := []string{filepath.Join(netnsDir, h.Netns)}
	if ents, err := os.ReadDir(filepath.Join(h.ExecRoot, "netns")); err == nil {
		for _, e := range ents {
			paths = append(paths, filepath.Join(h.ExecRoot, "netns", e.Name()))
		}
	}
	targets := map[uint64]bool{}
	for _, p := range paths {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			targets[st.Ino] = true
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || !targets[st.Ino] {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/ns/net", &pid); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount below the given directories, deepest
// first.
func unmountUnder(dirs ...string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var targets []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, d := range dirs {
			if f[1] == d || strings.HasPrefix(f[1], d+"/") {
				targets = append(targets, f[1])
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(targets)))
	for _, t := range targets {
		unix.Unmount(t, unix.MNT_DETACH)
	}
}

const stateFile = "cluster.json"

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, stateFile), data, 0o600)
}

// Load reads a cluster's state.
func Load(name string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(StateRoot, name, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no local cluster named %q", name)
	}
	if err != nil {
		return nil, err
	}
	var c Cluster
	return &c, json.Unmarshal(data, &c)
}

// List returns every local cluster.
func List() ([]*Cluster, error) {
	ents, err := os.ReadDir(StateRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Cluster
	for _, e := range ents {
		if c, err := Load(e.Name()); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// Running counts the hosts whose daemon is alive.
func (c *Cluster) Running() int {
	n := 0
	for _, h := range c.Hosts {
		if alive(h.Pid) {
			n++
		}
	}
	return n
}
