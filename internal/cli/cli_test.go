package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
	"github.com/shoal-project/shoal/internal/cli/internal/golden"
)

// fakeClock advances by itself: every wait returns at once, the time having
// moved on by the wait.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

type result struct {
	stdout, stderr string
	err            error
}

// String is what a golden file holds: both streams and the error.
func (r result) String() string {
	var b strings.Builder
	b.WriteString(r.stdout)
	if r.stderr != "" {
		b.WriteString("--- stderr\n" + r.stderr)
	}
	if r.err != nil {
		fmt.Fprintf(&b, "--- error\n%v\n", r.err)
	}
	return b.String()
}

// shoal runs the CLI against srv with the given arguments and standard input.
func shoal(t *testing.T, srv *fakeapi.Server, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		in: strings.NewReader(stdin), out: &out, errOut: &errOut,
		getenv:    func(string) string { return "" },
		lookupEnv: func(string) (string, bool) { return "", false },
		clock:     &fakeClock{now: srv.Now},
		interrupt: func() (<-chan struct{}, func()) { return nil, func() {} },
	}
	root := newRoot(e, nil)
	root.SetArgs(append([]string{"-H", srv.Host()}, args...))
	// Cobra prints errors itself; the golden files hold them once, from err.
	root.SilenceErrors = true
	err := root.ExecuteContext(t.Context())
	return result{stdout: out.String(), stderr: errOut.String(), err: err}
}

func checkGolden(t *testing.T, name string, r result) {
	t.Helper()
	golden.Check(t, "testdata/commands/"+strings.ReplaceAll(name, " ", "-")+".golden", []byte(r.String()))
}

// swarmServer is a fake daemon that is the leader of a one-manager, one-worker
// swarm.
func swarmServer(t *testing.T) *fakeapi.Server {
	t.Helper()
	s := fakeapi.New(t)
	s.Swarm = swarm.Swarm{
		ClusterInfo: swarm.ClusterInfo{ID: "cluster1", Meta: swarm.Meta{Version: swarm.Version{Index: 42}}},
		JoinTokens:  swarm.JoinTokens{Worker: "SWMTKN-1-worker", Manager: "SWMTKN-1-manager"},
	}
	s.Nodes = []swarm.Node{
		{
			ID:            "mgr1aaaaaaaaaaaaaaaaaaaaa",
			Meta:          swarm.Meta{Version: swarm.Version{Index: 7}, CreatedAt: s.Now.Add(-time.Hour)},
			Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive, Annotations: swarm.Annotations{Labels: map[string]string{"zone": "a"}}},
			Description:   swarm.NodeDescription{Hostname: "alpha", Engine: swarm.EngineDescription{EngineVersion: "0.1.0"}},
			Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.1"},
			ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:2377"},
		},
		{
			ID:          "wrk1bbbbbbbbbbbbbbbbbbbbb",
			Meta:        swarm.Meta{Version: swarm.Version{Index: 9}, CreatedAt: s.Now.Add(-time.Hour)},
			Spec:        swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
			Description: swarm.NodeDescription{Hostname: "beta", Engine: swarm.EngineDescription{EngineVersion: "0.1.0"}},
			Status:      swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.2"},
		},
	}
	s.Info = system.Info{
		Name: "alpha", ServerVersion: "0.1.0", OSType: "linux", Architecture: "x86_64", NCPU: 2, MemTotal: 24 << 30,
		Swarm: swarm.Info{
			NodeID: "mgr1aaaaaaaaaaaaaaaaaaaaa", NodeAddr: "10.0.0.1", LocalNodeState: swarm.LocalNodeStateActive,
			ControlAvailable: true, Nodes: 2, Managers: 1, Cluster: &swarm.ClusterInfo{ID: "cluster1"},
			RemoteManagers: []swarm.Peer{{NodeID: "mgr1aaaaaaaaaaaaaaaaaaaaa", Addr: "10.0.0.1:2377"}},
		},
	}
	return s
}

func TestConnectionFailureNamesTheDaemon(t *testing.T) {
	srv := fakeapi.New(t)
	var out, errOut bytes.Buffer
	e := &env{in: strings.NewReader(""), out: &out, errOut: &errOut, getenv: func(string) string { return "" },
		lookupEnv: func(string) (string, bool) { return "", false }, clock: &fakeClock{now: srv.Now},
		interrupt: func() (<-chan struct{}, func()) { return nil, func() {} }}
	root := newRoot(e, nil)
	root.SilenceErrors = true
	sock := "unix://" + t.TempDir() + "/none.sock"
	root.SetArgs([]string{"-H", sock, "node", "ls"})
	err := root.ExecuteContext(t.Context())
	want := "cannot connect to the Shoal daemon at " + sock + ": is `shoal daemon` running?"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

func TestHostFromEnvironment(t *testing.T) {
	tests := []struct {
		name, flag, envHost, want string
	}{
		{"default", "", "", DefaultHost},
		{"DOCKER_HOST", "", "tcp://10.0.0.1:2375", "tcp://10.0.0.1:2375"},
		{"flag wins", "unix:///tmp/x.sock", "tcp://10.0.0.1:2375", "unix:///tmp/x.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{host: tt.flag, getenv: func(k string) string {
				if k == "DOCKER_HOST" {
					return tt.envHost
				}
				return ""
			}}
			if got := e.daemonHost(); got != tt.want {
				t.Errorf("daemonHost() = %q, want %q", got, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestDebugLogLevelLogsRequests(t *testing.T) {
	srv := swarmServer(t)
	r := shoal(t, srv, "", "--log-level", "debug", "node", "ls", "-q")
	if r.err != nil || !contains(r.stderr, "level=DEBUG msg=request method=GET") || !contains(r.stderr, "/nodes") {
		t.Errorf("got stderr %q, err %v; want the requests logged", r.stderr, r.err)
	}
	r = shoal(t, srv, "", "--log-level", "chatty", "node", "ls")
	if r.err == nil || len(srv.Find("GET", "/nodes")) != 1 {
		t.Errorf("got err %v, want a bad level refused before any request", r.err)
	}
}
