package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// testImagePeer runs images that one node of a 3-host cluster holds (a
// docker load or a docker build, on the manager or on a worker) as services on every host,
// with no registry anywhere: the nodes fetch them from each other. It
// shares TestNetworking's cluster (a manager and two workers).
func testImagePeer(t *testing.T, mgr, w1, w2 Host) {
	nodeID := func(h Host) string { return strings.TrimSpace(h.Docker("info", "--format", "{{.Swarm.NodeID}}")) }

	t.Run("loaded on the manager", func(t *testing.T) {
		mgr.Docker("load", "-i", peerImage(t, "peer-a:v1"))
		// The sleeper: the update below stops this task before it spreads.
		mgr.Docker(append([]string{"service", "create", "-d", "--name", "peer-a", "--constraint", "node.hostname==" + w1.Name, "peer-a:v1"}, sleeper...)...)
		image := strings.TrimSpace(mgr.Docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "peer-a"))
		if !strings.HasPrefix(image, "peer-a:v1@sha256:") {
			t.Fatalf("the service runs %q, want peer-a:v1 pinned to the manager's digest", image)
		}
		waitRunning(t, mgr, "peer-a", 1)
		// By address, before the manager announced it, or by node ID.
		fetched := waitLog(t, w1, "image fetched from a node of the swarm", "image=peer-a:v1@", "source=manager")
		// w1 now holds it and says so; then the service spreads.
		waitLogAfter(t, w1, fetched, "told the managers which images this node holds")
		mgr.Docker("service", "update", "-d", "--constraint-rm", "node.hostname=="+w1.Name,
			"--replicas", "3", "--replicas-max-per-node", "1", "peer-a")
		waitRunning(t, mgr, "peer-a", 3)
		// The managers come last: w2 fetched it from w1, which had
		// fetched it itself.
		waitLog(t, w2, "image fetched from a node of the swarm", "image=peer-a:v1@", "source=peer", "source.node.id="+nodeID(w1))
	})

	t.Run("loaded on a worker", func(t *testing.T) {
		before := logSize(t, w1)
		w1.Docker("load", "-i", peerImage(t, "peer-b:v1"))
		waitLogAfter(t, w1, before, "told the managers which images this node holds")
		mgr.Docker("service", "create", "-d", "--name", "peer-b", "--replicas", "3", "--replicas-max-per-node", "1", "peer-b:v1", "sleep", "3600")
		image := strings.TrimSpace(mgr.Docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "peer-b"))
		if !strings.HasPrefix(image, "peer-b:v1@sha256:") {
			t.Fatalf("the service runs %q, want peer-b:v1 pinned to the digest w1 holds", image)
		}
		waitRunning(t, mgr, "peer-b", 3)
		for _, h := range []Host{mgr, w2} {
			waitLog(t, h, "image fetched from a node of the swarm", "image=peer-b:v1@", "source.node.id="+nodeID(w1))
		}
	})

	// docker build on one node, docker service create on the manager: the
	// image runs on all three hosts. Built on a worker, the manager does
	// not hold it; it pins the digest the index says w1 holds it as.
	for _, c := range []struct {
		name    string
		builder Host
		fetch   []Host
	}{
		{"built on the manager", mgr, []Host{w1, w2}},
		{"built on a worker", w1, []Host{mgr, w2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc := "peer-built-" + c.builder.Name
			tag := svc + ":v1"
			before := logSize(t, c.builder)
			c.builder.Docker("build", "-q", "-t", tag, "--build-arg", "WHO="+c.builder.Name, "testdata/built")
			waitLogAfter(t, c.builder, before, "told the managers which images this node holds")
			if c.builder.Name != mgr.Name {
				if _, err := mgr.TryDocker("image", "inspect", tag); err == nil {
					t.Fatalf("the manager holds %s, which only %s built", tag, c.builder.Name)
				}
			}
			// The announcement waited for may be one the builder sent
			// during the build, before the tag existed; the next one, at
			// most limits.PeerCheckPeriod later, names it. Until then a
			// create rightly leaves the tag unpinned.
			Eventually(t, 30*time.Second, func() string {
				mgr.Docker("service", "create", "-d", "--name", svc, "--replicas", "3", "--replicas-max-per-node", "1", tag)
				image := strings.TrimSpace(mgr.Docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", svc))
				if !strings.HasPrefix(image, tag+"@sha256:") {
					mgr.Docker("service", "rm", svc)
					return fmt.Sprintf("the service runs %q, want %s pinned to the digest %s holds", image, tag, c.builder.Name)
				}
				return ""
			})
			waitRunning(t, mgr, svc, 3)
			for _, h := range c.fetch {
				// By address: a fetch from the worker's own manager logs
				// source=manager without a node ID, one from a peer logs both.
				waitLog(t, h, "image fetched from a node of the swarm", "image="+tag+"@", "source.addr="+c.builder.Addr.String()+":")
			}
			want := "hello, built on " + c.builder.Name
			for _, h := range []Host{mgr, w1, w2} {
				id := strings.TrimSpace(h.Docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+svc))
				if got := strings.TrimSpace(h.Docker("exec", id, "cat", "/out.txt")); got != want {
					t.Errorf("the task on %s has /out.txt %q, want %q", h.Name, got, want)
				}
			}
		})
	}
	mgr.Docker("service", "rm", "peer-a", "peer-b", "peer-built-"+mgr.Name, "peer-built-"+w1.Name)
}

// peerImage is a busybox image with a layer of random bytes of its own,
// saved as docker save does, tagged ref; the path of the archive.
func peerImage(t *testing.T, ref string) string {
	t.Helper()
	layer, err := random.Layer(1<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(testimage.Image(t), layer)
	if err != nil {
		t.Fatal(err)
	}
	return testimage.DockerSave(t, ref, img)
}

// logSize is how much of h's daemon log there is now.
func logSize(t *testing.T, h Host) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.DataRoot, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(data)
}

// waitLog waits until a line of h's daemon log holds every one of parts,
// and returns where that line ends.
func waitLog(t *testing.T, h Host, parts ...string) int {
	t.Helper()
	return waitLogAfter(t, h, 0, parts...)
}

// waitLogAfter is waitLog for lines past offset from.
func waitLogAfter(t *testing.T, h Host, from int, parts ...string) int {
	t.Helper()
	var end int
	Eventually(t, 60*time.Second, func() string {
		data, err := os.ReadFile(filepath.Join(h.DataRoot, "daemon.log"))
		if err != nil {
			return err.Error()
		}
		pos := from
		for _, line := range strings.SplitAfter(string(data[from:]), "\n") {
			pos += len(line)
			if containsAll(line, parts) {
				end = pos
				return ""
			}
		}
		return fmt.Sprintf("no line of %s's log holds %q", h.Name, parts)
	})
	return end
}
