package layerdiff

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
	"github.com/shoal-project/shoal/internal/privatecontainerd"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

var testClient *client.Client

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "layerdiff tests need root to run containerd and give files to other owners")
		return m.Run()
	}
	ctx := context.Background()
	root, err := os.MkdirTemp("", "shoal-layerdiff-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	// Unix socket paths must be short: t.TempDir's may not be.
	state, err := os.MkdirTemp("/run", "shoal-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(state)
	p, err := privatecontainerd.Start(ctx, privatecontainerd.Config{Root: root, State: state})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Stop(ctx)
	if testClient, err = client.New(p.Address()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testClient.Close()
	return m.Run()
}

// TestWrite diffs a snapshot a remapped container changed over its
// parent: files it made, owned by host IDs, are owned by the container's
// in the layer; a file it deleted is a whiteout; the layer's label names
// the digest of the tar inside it.
func TestWrite(t *testing.T) {
	if testClient == nil {
		t.Skip("needs root")
	}
	ids := &confine.Remap{
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}},
	}
	ctx := namespaces.WithNamespace(t.Context(), "layerdiff-test")
	ctx, done, err := testClient.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done(context.WithoutCancel(ctx))
	sn := testClient.SnapshotService("overlayfs")
	mounts, err := sn.Prepare(ctx, "parent-active", "")
	if err != nil {
		t.Fatal(err)
	}
	edit(t, mounts, func(root string) {
		writeFile(t, root, "gone", 100000, 200000)
	})
	if err := sn.Commit(ctx, "parent", "parent-active"); err != nil {
		t.Fatal(err)
	}
	if mounts, err = sn.Prepare(ctx, "child", "parent"); err != nil {
		t.Fatal(err)
	}
	edit(t, mounts, func(root string) {
		writeFile(t, root, "made-by-root", 100000, 200000)
		writeFile(t, root, "given-to-1000", 101000, 201000)
		if err := os.Remove(filepath.Join(root, "gone")); err != nil {
			t.Fatal(err)
		}
	})

	desc, diffID, err := Write(ctx, sn, testClient.ContentStore(), "child", ids, ocispec.MediaTypeImageLayerGzip)
	if err != nil {
		t.Fatal(err)
	}
	cs := testClient.ContentStore()
	info, err := cs.Info(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Labels[uncompressedLabel]; got != diffID.String() {
		t.Errorf("label %s = %q, want the diffID %s", uncompressedLabel, got, diffID)
	}
	blob, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(layer); got != diffID {
		t.Errorf("digest of the layer's tar = %s, want the diffID %s", got, diffID)
	}
	owners := map[string][2]int{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for hdr, err := tr.Next(); err == nil; hdr, err = tr.Next() {
		owners[hdr.Name] = [2]int{hdr.Uid, hdr.Gid}
	}
	want := map[string][2]int{"made-by-root": {0, 0}, "given-to-1000": {1000, 1000}, ".wh.gone": {0, 0}}
	if diff := cmp.Diff(want, owners); diff != "" {
		t.Errorf("owners in the layer (-want +got):\n%s", diff)
	}

	// A file the container could not have made is refused.
	edit(t, mounts, func(root string) { writeFile(t, root, "host-root", 0, 0) })
	_, _, err = Write(ctx, sn, cs, "child", ids, ocispec.MediaTypeImageLayer)
	if want := "write the layer: /host-root is owned by host IDs 0:0"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Write of a layer with a file of host root: %v, want an error starting %q", err, want)
	}
}

func edit(t *testing.T, mounts []mount.Mount, f func(root string)) {
	t.Helper()
	if err := mount.WithTempMount(t.Context(), mounts, func(root string) error {
		f(root)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, root, name string, uid, gid int) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}
