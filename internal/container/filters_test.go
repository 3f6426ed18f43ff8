package container

import (
	"slices"
	"strings"
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/filters"
)

func TestListFilter(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cands := []Candidate{
		{ID: "aaa1", Name: "web", Image: "nginx", ImageID: "sha256:n1", Labels: map[string]string{"tier": "front", "env": "prod"},
			State: containertypes.StateRunning, Started: true, Health: containertypes.Healthy, Created: t0,
			Networks: []string{"bridge", "netid1"}, Exposed: network.PortSet{tcp80: {}}, Bound: []network.Port{tcp80}},
		{ID: "bbb2", Name: "db", Image: "postgres:16", ImageID: "sha256:p1", Labels: map[string]string{"tier": "back"},
			State: containertypes.StateExited, ExitCode: 3, Started: true, Health: containertypes.NoHealthcheck, Created: t0.Add(time.Minute),
			Networks: []string{"host"}, Volumes: []string{"pgdata", "/var/lib/postgresql"}},
		{ID: "ccc3", Name: "job", Image: "busybox", ImageID: "sha256:b1",
			State: containertypes.StateCreated, Health: containertypes.NoHealthcheck, Created: t0.Add(2 * time.Minute), Networks: []string{"none"}},
		{ID: "ddd4", Name: "web.1.task", Image: "nginx", ImageID: "sha256:n1", Labels: map[string]string{"com.docker.swarm.task.id": "t"},
			State: containertypes.StateRunning, Started: true, Health: containertypes.NoHealthcheck, Created: t0.Add(3 * time.Minute), IsTask: true},
		{ID: "eee5", Name: "ok", Image: "busybox", ImageID: "sha256:b1",
			State: containertypes.StateExited, ExitCode: 0, Started: true, Health: containertypes.NoHealthcheck, Created: t0.Add(4 * time.Minute)},
	}
	created := func(idOrName string) (time.Time, error) {
		for _, c := range cands {
			if c.ID == idOrName || c.Name == idOrName {
				return c.Created, nil
			}
		}
		return time.Time{}, errdefs.NotFound("No such container: %s", idOrName)
	}
	imageID := func(ref string) (string, bool) {
		if ref == "nginx:latest" {
			return "sha256:n1", true
		}
		return "", false
	}
	tests := []struct {
		name    string
		filters [][2]string
		want    []string // names, in order
		stopped bool     // IncludesStopped
		err     string
	}{
		{name: "none", want: []string{"web", "db", "job", "web.1.task", "ok"}},
		{name: "status", filters: [][2]string{{"status", "exited"}}, want: []string{"db", "ok"}, stopped: true},
		{name: "two statuses", filters: [][2]string{{"status", "exited"}, {"status", "created"}}, want: []string{"db", "job", "ok"}, stopped: true},
		{name: "name regexp", filters: [][2]string{{"name", "^web"}}, want: []string{"web", "web.1.task"}},
		{name: "name with slash", filters: [][2]string{{"name", "^/db$"}}, want: []string{"db"}},
		{name: "id prefix", filters: [][2]string{{"id", "^bbb"}}, want: []string{"db"}},
		{name: "label key", filters: [][2]string{{"label", "tier"}}, want: []string{"web", "db"}},
		{name: "label value", filters: [][2]string{{"label", "tier=front"}}, want: []string{"web"}},
		{name: "every label must match", filters: [][2]string{{"label", "tier=front"}, {"label", "env=dev"}}},
		{name: "label not", filters: [][2]string{{"label!", "tier=front"}}, want: []string{"db", "job", "web.1.task", "ok"}},
		{name: "exited code", filters: [][2]string{{"exited", "3"}}, want: []string{"db"}},
		{name: "exited 0 leaves out what never ran", filters: [][2]string{{"exited", "0"}}, want: []string{"ok"}},
		{name: "ancestor by name", filters: [][2]string{{"ancestor", "busybox"}}, want: []string{"job", "ok"}},
		{name: "ancestor by resolved ID", filters: [][2]string{{"ancestor", "nginx:latest"}}, want: []string{"web", "web.1.task"}},
		{name: "before", filters: [][2]string{{"before", "job"}}, want: []string{"web", "db"}, stopped: true},
		{name: "since", filters: [][2]string{{"since", "bbb2"}}, want: []string{"job", "web.1.task", "ok"}, stopped: true},
		{name: "network by name", filters: [][2]string{{"network", "bridge"}}, want: []string{"web"}},
		{name: "network by ID", filters: [][2]string{{"network", "netid1"}}, want: []string{"web"}},
		{name: "volume", filters: [][2]string{{"volume", "pgdata"}}, want: []string{"db"}},
		{name: "health", filters: [][2]string{{"health", "healthy"}}, want: []string{"web"}},
		{name: "is-task", filters: [][2]string{{"is-task", "true"}}, want: []string{"web.1.task"}},
		{name: "not a task", filters: [][2]string{{"is-task", "false"}}, want: []string{"web", "db", "job", "ok"}},
		{name: "publish", filters: [][2]string{{"publish", "80/tcp"}}, want: []string{"web"}},
		{name: "publish range", filters: [][2]string{{"publish", "70-90"}}, want: []string{"web"}},
		{name: "publish other protocol", filters: [][2]string{{"publish", "80/udp"}}},
		{name: "expose", filters: [][2]string{{"expose", "80"}}, want: []string{"web"}},
		{name: "unknown filter", filters: [][2]string{{"colour", "red"}}, err: "invalid filter 'colour'"},
		{name: "bad status", filters: [][2]string{{"status", "sleepy"}}, err: "invalid filter 'status=sleepy'"},
		{name: "bad health", filters: [][2]string{{"health", "ill"}}, err: "invalid filter 'health=ill'"},
		{name: "bad exited", filters: [][2]string{{"exited", "x"}}, err: "invalid filter 'exited=x'"},
		{name: "bad regexp", filters: [][2]string{{"name", "("}}, err: "invalid filter 'name=('"},
		{name: "unknown before", filters: [][2]string{{"before", "ghost"}}, err: "No such container: ghost"},
		{name: "bad publish", filters: [][2]string{{"publish", "http"}}, err: "invalid filter 'publish=http'"},
		{name: "bad is-task", filters: [][2]string{{"is-task", "maybe"}}, err: "invalid filter 'is-task=maybe'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseListFilter(filters.New(tt.filters...), created, imageID)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseListFilter: %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cands {
				if f.Match(c) {
					got = append(got, c.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %q, want %q", got, tt.want)
			}
			if f.IncludesStopped() != tt.stopped {
				t.Errorf("IncludesStopped = %v, want %v", f.IncludesStopped(), tt.stopped)
			}
		})
	}
}
