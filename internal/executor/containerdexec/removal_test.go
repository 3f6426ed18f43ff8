package containerdexec

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"

	"github.com/shoal-project/shoal/internal/executor"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/network/ipam"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// TestDeferRemoval: a removal frees a container's resources after its
// answer only when its process has ended and nothing it holds is shared or
// named: no volume, no swarm network, no remapped namespace.
func TestDeferRemoval(t *testing.T) {
	bridge := func() *record {
		return &record{SandboxKey: "/run/netns/x", Endpoint: &executor.Endpoint{NetworkName: "bridge"},
			Mounts: []container.MountPoint{{Type: mount.TypeBind, Source: "/srv", Destination: "/srv"}}}
	}
	tests := []struct {
		name    string
		rec     func() *record
		running bool
		want    bool
	}{
		{"ended, on the bridge, a bind mount", bridge, false, true},
		{"ended, on no network", func() *record { return &record{} }, false, true},
		{"still running", bridge, true, false},
		{"no record", func() *record { return nil }, false, false},
		{"a named volume", func() *record {
			r := bridge()
			r.Mounts = append(r.Mounts, container.MountPoint{Type: mount.TypeVolume, Name: "data", Destination: "/data"})
			return r
		}, false, false},
		{"on a swarm network", func() *record {
			r := bridge()
			r.Networks = []executor.Endpoint{{NetworkName: "ov"}}
			return r
		}, false, false},
		{"the way out of an overlay", func() *record { r := bridge(); r.WayOut = true; return r }, false, false},
		{"a remapped namespace", func() *record { r := bridge(); r.UsernsKey = "/run/userns/x"; return r }, false, false},
	}
	for _, tt := range tests {
		if got := deferRemoval(tt.rec(), tt.running); got != tt.want {
			t.Errorf("%s: deferRemoval = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRemovalFreesAfterItsAnswer runs a plain AutoRemove container to its
// end and removes it, as docker run --rm does: its exit is recorded with
// its task kept for the removal; the removal takes it out of every view
// at once, and its task, containerd container, snapshot, network
// namespace and files are all gone once the executor has closed.
func TestRemovalFreesAfterItsAnswer(t *testing.T) {
	e := newExecutor(t, "")
	ctx := e.ns(context.Background())
	img, imageID, _, err := env.images.LocalWithConfig(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	id := identity.NewContainerID()
	err = e.CreateContainer(ctx, Spec{
		ID: id, Name: "gone", Image: img, ImageID: imageID.String(),
		Config:     container.Config{Image: testImage, Cmd: []string{"true"}},
		HostConfig: container.HostConfig{NetworkMode: network.NetworkBridge, AutoRemove: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever a failure left; nothing when the test passed.
	t.Cleanup(func() { e.remove(ctx, id, true, false) })
	rec, err := e.readRecord(id)
	if err != nil || rec.SandboxKey == "" {
		t.Fatalf("record of the new container: %+v, %v; want one with a network namespace", rec, err)
	}
	run, err := e.StartContainer(ctx, id, Stdio{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := run.Wait(ctx); err != nil || st.Code != 0 {
		t.Fatalf("wait: %+v, %v; want exit 0", st, err)
	}
	if running, err := e.mayRun(ctx, id); err != nil || running {
		t.Fatalf("after its exit: running %v, %v", running, err)
	}
	ctr, err := env.client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctr.Task(ctx, nil); err != nil {
		t.Fatalf("the task of an AutoRemove container after its exit: %v; want it kept for the removal", err)
	}

	if err := e.RemoveContainer(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	names, err := e.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := names[id]; ok {
		t.Fatal("a removed container is still named")
	}
	ovs, err := e.Overviews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ov := range ovs {
		if ov.Summary.ID == id {
			t.Fatal("a removed container is still listed")
		}
	}

	e.Close()
	if _, err := env.client.LoadContainer(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Errorf("containerd container after the removal: %v; want not found", err)
	}
	if _, err := env.client.SnapshotService(e.cfg.Snapshotter).Stat(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Errorf("snapshot after the removal: %v; want not found", err)
	}
	for _, p := range []string{rec.SandboxKey, e.dir(id)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the removal: %v; want it gone", p, err)
		}
	}
	if e.removed(id) {
		t.Error("a container freed is still marked as being removed")
	}
}

// TestRemovalCutShort stops a deferred removal after each of its steps, as
// a daemon killed there would, and starts a new Executor on the same
// roots: once it has finished what the first began, nothing of the
// container is left, though after the containerd container's delete
// nothing in containerd leads to the rest. No containerd container or
// snapshot, network namespace, veth, address in the bridge's pool,
// directory or journal entry.
func TestRemovalCutShort(t *testing.T) {
	for _, step := range []string{"task", "container", "networks", "sandbox", "userns", "volumes", "files", "directory"} {
		t.Run("after "+step, func(t *testing.T) {
			links := linkNames(t)
			root := t.TempDir()
			e := newExecutor(t, root)
			ctx := e.ns(context.Background())
			id, rec := ranToItsEnd(t, e, testImage)
			reached := false
			e.removalStepped = func(s string) error {
				if s == step {
					reached = true
					return errors.New("killed")
				}
				return nil
			}
			if err := e.RemoveContainer(ctx, id, true); err != nil {
				t.Fatal(err)
			}
			e.Close()
			if !reached {
				t.Fatalf("the removal never reached step %q", step)
			}

			e = newExecutor(t, root)
			deadline := time.Now().Add(time.Minute)
			for e.removed(id) {
				if time.Now().After(deadline) {
					t.Fatal("the new executor did not finish the removal within a minute")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := env.client.LoadContainer(ctx, id); !cerrdefs.IsNotFound(err) {
				t.Errorf("containerd container: %v; want not found", err)
			}
			if _, err := env.client.SnapshotService(e.cfg.Snapshotter).Stat(ctx, id); !cerrdefs.IsNotFound(err) {
				t.Errorf("snapshot: %v; want not found", err)
			}
			for _, p := range []string{rec.SandboxKey, e.dir(id), e.journalPath(id)} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v; want it gone", p, err)
				}
			}
			if left := slices.DeleteFunc(linkNames(t), func(n string) bool { return slices.Contains(links, n) }); len(left) > 0 {
				t.Errorf("links left: %v", left)
			}
			pool, err := ipam.Open(filepath.Join(os.Getenv(rootEnv), "bridge", env.network.Name()+".addresses.json"), env.network.Subnet())
			if err != nil {
				t.Fatal(err)
			}
			if addr, ok := pool.Lookup(id); ok {
				t.Errorf("address %v is still the container's in the bridge's pool", addr)
			}
		})
	}
}

// ranToItsEnd creates a plain AutoRemove container of image on the
// bridge, runs "true" in it to its end, and returns its ID and record.
func ranToItsEnd(t *testing.T, e *Executor, image string) (string, *record) {
	t.Helper()
	ctx := e.ns(context.Background())
	img, imageID, _, err := env.images.LocalWithConfig(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	id := identity.NewContainerID()
	err = e.CreateContainer(ctx, Spec{
		ID: id, Name: "cut-" + id[:8], Image: img, ImageID: imageID.String(),
		Config:     container.Config{Image: image, Cmd: []string{"true"}},
		HostConfig: container.HostConfig{NetworkMode: network.NetworkBridge, AutoRemove: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever a failure left; nothing when the test passed.
	t.Cleanup(func() {
		e.removalStepped = nil
		e.remove(ctx, id, true, false)
	})
	rec, err := e.readRecord(id)
	if err != nil || rec.SandboxKey == "" || rec.Endpoint == nil {
		t.Fatalf("record of the new container: %+v, %v; want one with a network namespace and an address", rec, err)
	}
	run, err := e.StartContainer(ctx, id, Stdio{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := run.Wait(ctx); err != nil || st.Code != 0 {
		t.Fatalf("wait: %+v, %v; want exit 0", st, err)
	}
	return id, rec
}

// linkNames are the names of the network interfaces of the tests' network
// namespace, where the bridge and the containers' host ends are.
func linkNames(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return names
}

// TestRemovedContainerLetsItsImageGo: once a deferred removal has
// answered, the image the container was made from can be removed without
// force, as after docker run --rm in dockerd, although the container's
// freeing has not run yet (held here by its lock).
func TestRemovedContainerLetsItsImageGo(t *testing.T) {
	e := newExecutor(t, "")
	ctx := e.ns(context.Background())
	// An image of its own ID: removing one name of several that share
	// an ID never asks whether a container uses it.
	const name = "released:v1"
	tar, err := testimage.BuildRootfsTar(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.images.Import(ctx, f, name, []string{`CMD ["true"]`, `LABEL test=released`})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.images.Remove(ctx, name, true) })
	id, _ := ranToItsEnd(t, e, name)

	unlock := e.locks.lock(id)
	if err := e.RemoveContainer(ctx, id, true); err != nil {
		unlock()
		t.Fatal(err)
	}
	_, err = env.images.Remove(ctx, name, false)
	_, loadErr := env.client.LoadContainer(ctx, id)
	unlock()
	if loadErr != nil {
		t.Fatalf("the container's freeing ran while its lock was held: %v", loadErr)
	}
	if err != nil {
		t.Errorf("docker rmi of the image of a removed container: %v; want it removed", err)
	}
	e.Close()
}
