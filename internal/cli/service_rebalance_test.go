package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-project/shoal/internal/apiserver"
	"github.com/shoal-project/shoal/internal/apitls"
	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	"github.com/shoal-project/shoal/internal/controlapi"
	"github.com/shoal-project/shoal/internal/errdefs"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

// manager is the apiserver's Cluster backend for a one-manager swarm over
// a real replicated store.
type manager struct{ api *controlapi.API }

func (manager) Init(context.Context, swarm.InitRequest) (string, error) {
	return "", errdefs.Unavailable("already part of a swarm")
}
func (manager) Join(context.Context, swarm.JoinRequest) error {
	return errdefs.Unavailable("already part of a swarm")
}
func (manager) Leave(context.Context, bool) error    { return errdefs.Unavailable("a manager") }
func (manager) Unlock(context.Context, string) error { return errdefs.Conflict("swarm is not locked") }
func (manager) Info(context.Context) swarm.Info {
	return swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, NodeID: "n1", ControlAvailable: true}
}
func (m manager) Control() (*controlapi.API, error) { return m.api, nil }

// realDaemon serves the real API over st on a unix socket and returns its
// host for -H.
func realDaemon(t *testing.T, st *store.Store) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := apitls.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- apiserver.New(apiserver.Config{Cluster: manager{controlapi.New(st)}}).Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "unix://" + sock
}

func TestServiceRebalance(t *testing.T) {
	withHost := func(id, host string) *store.Node {
		return ct.Node(id, func(n *store.Node) { n.Description.Hostname = host })
	}
	tests := []struct {
		name    string
		objs    func() []any
		args    []string
		want    string
		wantErr string
	}{
		{
			name: "detached, a new node",
			objs: func() []any {
				svc := ct.Service("s1", "web", 4, func(s *store.Service) {
					s.Spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 2, Delay: 10 * time.Second, Order: swarm.UpdateOrderStartFirst}
				})
				objs := []any{withHost("n1", "alpha"), withHost("n2", "beta"), svc}
				for i := range 4 {
					objs = append(objs, ct.Task(fmt.Sprintf("t%d", i), svc, i+1, "n1"))
				}
				return objs
			},
			args: []string{"-d", "web"},
			want: "web: rebalancing (2 at a time, 10s apart, start-first)\nweb.4: alpha -> beta\nweb.3: alpha -> beta\n",
		},
		{
			name: "already spread",
			objs: func() []any {
				svc := ct.Service("s1", "web", 1)
				return []any{withHost("n1", "alpha"), svc, ct.Task("t1", svc, 1, "n1")}
			},
			args: []string{"s1"},
			want: "web: already spread as the scheduler would place it\n",
		},
		{
			name:    "global service",
			objs:    func() []any { return []any{withHost("n1", "alpha"), ct.Service("s1", "agent", 0, ct.Global)} },
			args:    []string{"agent"},
			wantErr: "service agent is not a replicated service",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := consensustest.NewStore(t)
			ct.Put(t, st, tt.objs()...)
			var out, errOut bytes.Buffer
			e := &env{
				in: strings.NewReader(""), out: &out, errOut: &errOut,
				getenv:    func(string) string { return "" },
				lookupEnv: func(string) (string, bool) { return "", false },
				clock:     &fakeClock{now: ct.Epoch},
				interrupt: func() (<-chan struct{}, func()) { return nil, func() {} },
			}
			root := newRoot(e, nil)
			root.SetArgs(append([]string{"-H", realDaemon(t, st), "service", "rebalance"}, tt.args...))
			root.SilenceErrors, root.SilenceUsage = true, true
			err := root.ExecuteContext(t.Context())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
