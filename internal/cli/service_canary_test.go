package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/consensus/consensustest"
	ct "github.com/shoal-project/shoal/internal/manager/controller/controllertest"
	"github.com/shoal-project/shoal/internal/store"
)

// TestServiceCanary drives the canary commands, one after the other,
// against the real API over one store.
func TestServiceCanary(t *testing.T) {
	st := consensustest.NewStore(t)
	ct.Put(t, st, ct.Node("n1"), ct.Service("s1", "web", 3), ct.Service("s2", "api", 2))
	host := realDaemon(t, st)
	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		e := &env{
			in: strings.NewReader(""), out: &out, errOut: &errOut,
			getenv:    func(string) string { return "" },
			lookupEnv: func(string) (string, bool) { return "", false },
			clock:     &fakeClock{now: ct.Epoch},
			interrupt: func() (<-chan struct{}, func()) { return nil, func() {} },
		}
		root := newRoot(e, nil)
		root.SetArgs(append([]string{"-H", host, "service"}, args...))
		root.SilenceErrors, root.SilenceUsage = true, true
		err := root.ExecuteContext(t.Context())
		return out.String(), err
	}
	canary := func(id string) *store.Canary {
		var svc *store.Service
		st.View(func(tx store.ReadTx) { svc = store.Get[*store.Service](tx, id) })
		return svc.Canary
	}

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"update", "--canary", "1", "--blue-green", "web"}, "--canary and --blue-green may not be combined"},
		{[]string{"update", "--canary-promote-after", "1m", "web"}, "--canary-promote-after needs --canary or --blue-green"},
		{[]string{"update", "--rollback", "--canary", "1", "web"}, "other flags may not be combined with --rollback"},
		{[]string{"update", "--canary", "4", "--image", "busybox:2", "web"}, "a canary of 4 tasks does not fit service web's 3 replicas"},
		{[]string{"promote", "web"}, "service web has no canary waiting for promotion"},
	}
	for _, tt := range refusals {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if _, err := run(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if c := canary("s1"); c != nil {
		t.Fatalf("refused commands left a canary: %+v", c)
	}

	steps := []struct {
		name string
		args []string
		want string
		// check looks at the canaries after the command.
		check func(t *testing.T)
	}{
		{
			name: "canary",
			args: []string{"update", "-d", "--canary", "2", "--canary-promote-after", "30s", "--image", "busybox:2", "web"},
			want: "web\n",
			check: func(t *testing.T) {
				want := &store.Canary{SpecVersion: 2, Count: 2, PromoteAfter: 30 * time.Second, State: store.CanaryWaiting}
				if diff := cmp.Diff(want, canary("s1"), ignoreStart); diff != "" {
					t.Errorf("canary (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "blue/green",
			args: []string{"update", "-d", "--blue-green", "--env-add", "V=2", "api"},
			want: "api\n",
			check: func(t *testing.T) {
				want := &store.Canary{SpecVersion: 2, Count: 2, BlueGreen: true, State: store.CanaryWaiting}
				if diff := cmp.Diff(want, canary("s2"), ignoreStart); diff != "" {
					t.Errorf("canary (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "promote",
			args: []string{"promote", "-d", "web"},
			want: "web\n",
			check: func(t *testing.T) {
				if c := canary("s1"); !c.PromoteRequested {
					t.Errorf("got canary %+v, want promotion asked", c)
				}
			},
		},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want {
				t.Errorf("got output %q, want %q", out, tt.want)
			}
			tt.check(t)
		})
	}

	t.Run("inspect", func(t *testing.T) {
		out, err := run(t, "inspect", "api")
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID     string
			Canary struct{ State string }
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("inspect output %s: %v", out, err)
		}
		if len(got) != 1 || got[0].ID != "s2" || got[0].Canary.State != "waiting" {
			t.Errorf("got %+v, want s2 with its canary waiting", got)
		}
		out, err = run(t, "inspect", "--pretty", "api")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Canary:\n Kind:\t\tblue/green\n State:\t\twaiting\n New tasks:\t0 of 2 running\n") {
			t.Errorf("pretty inspect got\n%s\nwant the canary section", out)
		}
	})
}

var ignoreStart = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".StartedAt" }, cmp.Ignore())
