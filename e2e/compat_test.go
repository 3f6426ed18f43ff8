package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// TestCompat runs existing clients' expectations against one single-node
// swarm: dockerd 20.10's error answers, a node read and updated right
// after init, every spec field read back as written, /distribution
// without a registry, and docker-py driving swarm, nodes, services,
// secrets and configs as its users' scripts do.
func TestCompat(t *testing.T) {
	d := StartDaemon(t)
	initSwarm(t, d)
	// First, before anything else writes: what a client reads right
	// after init, it can update with the version it read.
	t.Run("node read then updated right after init", func(t *testing.T) {
		c := newAPIClient(d.Socket)
		var info struct{ Swarm struct{ NodeID string } }
		c.must(t, "GET", "/info", "", &info)
		readThenUpdateNode(t, c, info.Swarm.NodeID)
	})
	t.Run("errors", func(t *testing.T) { compatErrors(t, d) })
	t.Run("every spec field read back", func(t *testing.T) { compatRoundTrip(t, d) })
	t.Run("a finished job in service ls", func(t *testing.T) {
		d.Docker("import", testimage.RootfsTar(t), "compat-job:latest")
		d.Docker("service", "create", "--detach", "--name", "compat-job", "--mode", "replicated-job", "--replicas", "2", "compat-job:latest", "true")
		Eventually(t, 60*time.Second, func() string {
			out, _ := d.TryDocker("service", "ls", "--filter", "name=compat-job", "--format", "{{.Replicas}}")
			if got := strings.TrimSpace(out); got != "0/2 (2/2 completed)" {
				return fmt.Sprintf("docker service ls shows %q for the job, want 0/2 (2/2 completed)", got)
			}
			return ""
		})
		d.Docker("service", "rm", "compat-job")
	})
	// Last: docker-py starts a swarm of its own.
	t.Run("docker-py", func(t *testing.T) { compatDockerPy(t, d) })
}

// readThenUpdateNode reads a node and at once sends its spec back with
// the version it read, with a label added, as docker-py's users do.
func readThenUpdateNode(t *testing.T, c *apiClient, ref string) {
	t.Helper()
	var n struct {
		ID      string
		Version struct{ Index uint64 }
		Spec    map[string]any
	}
	c.must(t, "GET", "/nodes/"+ref, "", &n)
	n.Spec["Labels"] = map[string]string{"compat": "read-then-update"}
	body, _ := json.Marshal(n.Spec)
	code, b, err := c.do("POST", fmt.Sprintf("/nodes/%s/update?version=%d", n.ID, n.Version.Index), string(body))
	if err != nil || code != 200 {
		t.Fatalf("update of node %s at the version just read (%d): %d %s %v", n.ID, n.Version.Index, code, b, err)
	}
}
