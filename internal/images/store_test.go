package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	ctrimages "github.com/containerd/containerd/v2/core/images"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/identity"
	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

func TestPull(t *testing.T) {
	s := newStore(t)
	host := testimage.ServeRegistry(t)
	want := testimage.Image(t)
	ref := testimage.Push(t, host, "app:v1", want)

	var status []string
	img, err := s.Pull(t.Context(), ref, func(st string) { status = append(status, st) })
	if err != nil {
		t.Fatal(err)
	}
	if img.Name() != ref {
		t.Errorf("pulled image named %q, want %q", img.Name(), ref)
	}
	if ok, err := img.IsUnpacked(s.ctx(t.Context()), "overlayfs"); err != nil || !ok {
		t.Errorf("pulled image unpacked: %v, %v; want true", ok, err)
	}
	wantLast := "Status: Downloaded newer image for " + ref
	if len(status) == 0 || status[len(status)-1] != wantLast {
		t.Errorf("progress %q, want it to end with %q", status, wantLast)
	}

	status = nil
	if _, err := s.Pull(t.Context(), ref, func(st string) { status = append(status, st) }); err != nil {
		t.Fatal(err)
	}
	if wantLast := "Status: Image is up to date for " + ref; status[len(status)-1] != wantLast {
		t.Errorf("second pull ended with %q, want %q", status[len(status)-1], wantLast)
	}

	manifest, err := want.Digest()
	if err != nil {
		t.Fatal(err)
	}
	configName, err := want.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Inspect(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configName.String() {
		t.Errorf("image ID %s, want the config digest %s", got.ID, configName)
	}
	if want := []string{host + "/app@" + manifest.String()}; !slices.Equal(got.RepoDigests, want) {
		t.Errorf("RepoDigests %q, want %q", got.RepoDigests, want)
	}

	// A service pins the digest; the node has the image by its tag.
	pinned, err := s.Inspect(t.Context(), host+"/app:v1@"+manifest.String())
	if err != nil {
		t.Fatalf("inspect by tag and digest: %v", err)
	}
	if pinned.ID != got.ID {
		t.Errorf("inspect by digest gave %s, want %s", pinned.ID, got.ID)
	}
}

func TestPullErrors(t *testing.T) {
	s := newStore(t)
	host := testimage.ServeRegistry(t)
	tests := []struct {
		name string
		ref  string
		kind errdefs.Kind
	}{
		{"unknown repository", host + "/missing:v1", errdefs.KindNotFound},
		{"bad reference", "Not/Valid", errdefs.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Pull(t.Context(), tt.ref, nil)
			if errdefs.KindOf(err) != tt.kind {
				t.Fatalf("Pull(%q): got %v (kind %v), want kind %v", tt.ref, err, errdefs.KindOf(err), tt.kind)
			}
			if !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("error %q does not name the reference %q", err, tt.ref)
			}
		})
	}
}

func TestEnsure(t *testing.T) {
	s := newStore(t)
	host := testimage.ServeRegistry(t)
	ref := testimage.Push(t, host, "app:v1", testimage.Image(t))

	t.Run("pulls a missing image", func(t *testing.T) {
		img, err := s.Ensure(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if img.Name() != ref {
			t.Errorf("got image %q, want %q", img.Name(), ref)
		}
	})
	t.Run("finds a local image by ID without a registry", func(t *testing.T) {
		info, err := s.Inspect(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := s.Ensure(t.Context(), info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if img.Name() != ref {
			t.Errorf("got image %q, want %q", img.Name(), ref)
		}
	})
	for _, missing := range []string{host + "/nothere:v1", "127.0.0.1:1/x:v1"} {
		t.Run("cannot be had: "+missing, func(t *testing.T) {
			_, err := s.Ensure(t.Context(), missing)
			if !errdefs.Is(err, errdefs.KindNotFound) {
				t.Fatalf("got %v, want a not-found error", err)
			}
			if want := "No such image: " + missing; err.Error() != want {
				t.Errorf("got message %q, want %q", err, want)
			}
			if errors.Unwrap(err) == nil {
				t.Error("the error does not keep its cause")
			}
		})
	}
	t.Run("many at once", func(t *testing.T) {
		ref := testimage.Push(t, host, "app:v2", testimage.Image(t, testimage.WithEnv("VERSION=2")))
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() {
				_, err := s.Ensure(t.Context(), ref)
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("bad reference", func(t *testing.T) {
		if _, err := s.Ensure(t.Context(), "UPPER:case"); !errdefs.Is(err, errdefs.KindInvalid) {
			t.Fatalf("got %v, want an invalid error", err)
		}
	})
}

func TestConfig(t *testing.T) {
	s := newStore(t)
	host := testimage.ServeRegistry(t)
	hc := v1.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Retries: 3}
	ref := testimage.Push(t, host, "app:v1", testimage.Image(t,
		testimage.WithEntrypoint("/bin/sh", "-c"),
		testimage.WithCmd("sleep 1"),
		testimage.WithEnv("VERSION=2"),
		testimage.WithWorkingDir("/tmp"),
		testimage.WithUser("nobody"),
		testimage.WithStopSignal("SIGINT"),
		testimage.WithHealthcheck(hc),
	))
	img, err := s.Ensure(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Config(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	want := dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{
			Entrypoint: []string{"/bin/sh", "-c"},
			Cmd:        []string{"sleep 1"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "VERSION=2"},
			WorkingDir: "/tmp",
			User:       "nobody",
			StopSignal: "SIGINT",
		},
		DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{
			Healthcheck: &dockerspec.HealthcheckConfig{Test: hc.Test, Interval: hc.Interval, Retries: hc.Retries},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestImport(t *testing.T) {
	s := newStore(t)
	tar := testimage.RootfsTar(t)
	tests := []struct {
		name string
		in   func(t *testing.T) io.Reader
	}{
		{"plain tar", func(t *testing.T) io.Reader { return open(t, tar) }},
		{"gzip tar", func(t *testing.T) io.Reader {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := io.Copy(zw, open(t, tar)); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			return &buf
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.Import(t.Context(), tt.in(t), "imported:v1", []string{`CMD ["sh"]`, "ENV A=b"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Inspect(t.Context(), "imported:v1")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != id {
				t.Errorf("inspect ID %s, want the imported %s", got.ID, id)
			}
			if !slices.Equal(got.RepoTags, []string{"imported:v1"}) {
				t.Errorf("RepoTags %q, want [imported:v1]", got.RepoTags)
			}
			if !slices.Equal(got.Config.Cmd, []string{"sh"}) || !slices.Equal(got.Config.Env, []string{"A=b"}) {
				t.Errorf("config Cmd %q Env %q, want [sh] and [A=b]", got.Config.Cmd, got.Config.Env)
			}
			if len(got.RootFS.Layers) != 1 || got.Os != "linux" || got.Size == 0 {
				t.Errorf("got %d layers, os %q, size %d; want 1 layer, linux, a size", len(got.RootFS.Layers), got.Os, got.Size)
			}
			img, err := s.Ensure(t.Context(), "imported:v1")
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := img.IsUnpacked(s.ctx(t.Context()), "overlayfs"); err != nil || !ok {
				t.Errorf("imported image unpacked: %v, %v; want true", ok, err)
			}
		})
	}
	t.Run("bad change", func(t *testing.T) {
		_, err := s.Import(t.Context(), open(t, tar), "x", []string{"RUN true"})
		if !errdefs.Is(err, errdefs.KindInvalid) {
			t.Fatalf("got %v, want an invalid error", err)
		}
	})
}

func TestLoad(t *testing.T) {
	s := newStore(t)
	img := testimage.Image(t, testimage.WithEnv("LOADED=1"))
	names, err := s.Load(t.Context(), open(t, testimage.DockerSave(t, "loaded:v1", img)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"loaded:v1"}) {
		t.Errorf("loaded %q, want [loaded:v1]", names)
	}
	want, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Inspect(t.Context(), "loaded:v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.String() {
		t.Errorf("loaded image ID %s, want %s", got.ID, want)
	}
	if ok, err := s.image(mustRecord(t, s, "loaded:v1")).IsUnpacked(s.ctx(t.Context()), "overlayfs"); err != nil || !ok {
		t.Errorf("loaded image unpacked: %v, %v; want true", ok, err)
	}

	if _, err := s.Load(t.Context(), strings.NewReader("not an archive")); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Errorf("Load of garbage: got %v, want an invalid error", err)
	}
}

func TestTagInspectListRemove(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	id, err := s.Import(ctx, open(t, testimage.RootfsTar(t)), "a:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"a:v2", "127.0.0.1:5000/b:v1"} {
		if err := s.Tag(ctx, "a:v1", dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Tag(ctx, "a:v1", "a@"+testDigest); !errdefs.Is(err, errdefs.KindInvalid) {
		t.Errorf("Tag to a digest: got %v, want an invalid error", err)
	}
	if err := s.Tag(ctx, "nothere", "a:v3"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("Tag of a missing image: got %v, want a not-found error", err)
	}

	wantTags := []string{"127.0.0.1:5000/b:v1", "a:v1", "a:v2"}
	byPrefix, err := s.Inspect(ctx, strings.TrimPrefix(id, "sha256:")[:12])
	if err != nil {
		t.Fatal(err)
	}
	if byPrefix.ID != id || !slices.Equal(byPrefix.RepoTags, wantTags) {
		t.Errorf("inspect by ID prefix: %s %q, want %s %q", byPrefix.ID, byPrefix.RepoTags, id, wantTags)
	}
	byName, err := s.Inspect(ctx, "a:v2")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(byName.RepoTags, wantTags) {
		t.Errorf("inspect by name: RepoTags %q, want all of the image's names %q", byName.RepoTags, wantTags)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || !slices.Equal(list[0].RepoTags, wantTags) || list[0].Size == 0 {
		t.Fatalf("List = %+v, want one image %s tagged %q with a size", list, id, wantTags)
	}

	steps := []struct {
		name    string
		ref     string
		force   bool
		want    []image.DeleteResponse
		wantErr errdefs.Kind
	}{
		{name: "untag one name", ref: "a:v2", want: []image.DeleteResponse{{Untagged: "a:v2"}}},
		{name: "by ID across repositories needs force", ref: id, wantErr: errdefs.KindConflict},
		{name: "forced by ID", ref: id, force: true, want: []image.DeleteResponse{
			{Untagged: "127.0.0.1:5000/b:v1"}, {Untagged: "a:v1"}, {Deleted: id},
		}},
		{name: "gone", ref: "a:v1", wantErr: errdefs.KindNotFound},
	}
	for _, st := range steps {
		got, err := s.Remove(ctx, st.ref, st.force)
		if st.wantErr != errdefs.KindUnknown {
			if errdefs.KindOf(err) != st.wantErr {
				t.Fatalf("%s: got %v, want kind %v", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Fatalf("%s: (-want +got):\n%s", st.name, diff)
		}
	}
	if _, err := s.Inspect(ctx, id); err == nil || err.Error() != "No such image: "+id {
		t.Errorf("inspect after remove: got %v, want No such image: %s", err, id)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after remove = %v, %v; want none", list, err)
	}
}

func TestRemoveImageInUse(t *testing.T) {
	s := newStore(t)
	ctx := s.ctx(t.Context())
	id, err := s.Import(ctx, open(t, testimage.RootfsTar(t)), "used:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	cid := identity.NewContainerID()
	if _, err := testClient.NewContainer(ctx, cid, client.WithImageName("docker.io/library/used:v1"), client.WithNewSpec()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testClient.ContainerService().Delete(s.ctx(context.Background()), cid); err != nil {
			t.Error(err)
		}
	})
	for _, ref := range []string{"used:v1", id} {
		if _, err := s.Remove(ctx, ref, false); !errdefs.Is(err, errdefs.KindConflict) || !strings.Contains(err.Error(), cid[:12]) {
			t.Errorf("Remove(%s) of an image in use: got %v, want a conflict naming container %s", ref, err, cid[:12])
		}
	}
	got, err := s.Remove(ctx, "used:v1", true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []image.DeleteResponse{{Untagged: "used:v1"}, {Deleted: id}}; !cmp.Equal(got, want) {
		t.Errorf("forced Remove = %+v, want %+v", got, want)
	}
}

// TestRetagKeepsDangling: an image whose name moves to another image stays,
// untagged, as in Docker; naming it again takes it out of the dangling list.
func TestRetagKeepsDangling(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	tar := testimage.RootfsTar(t)
	first, err := s.Import(ctx, open(t, tar), "app:v1", []string{"ENV V=1"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Import(ctx, open(t, tar), "app:v1", []string{"ENV V=2"})
	if err != nil {
		t.Fatal(err)
	}
	tags := func() map[string][]string {
		t.Helper()
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, sum := range list {
			m[sum.ID] = sum.RepoTags
		}
		return m
	}
	if diff := cmp.Diff(map[string][]string{first: {}, second: {"app:v1"}}, tags()); diff != "" {
		t.Errorf("after retag (-want +got):\n%s", diff)
	}
	if err := s.Tag(ctx, first, "app:old"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{first: {"app:old"}, second: {"app:v1"}}, tags()); diff != "" {
		t.Errorf("after naming the dangling image (-want +got):\n%s", diff)
	}
}

func TestDistribution(t *testing.T) {
	s := newStore(t)
	host := testimage.ServeRegistry(t)
	img := testimage.Image(t)
	ref := testimage.Push(t, host, "app:v1", img)
	got, err := s.Distribution(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	dgst, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Descriptor.Digest.String() != dgst.String() || got.Descriptor.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("descriptor %+v, want digest %s of an OCI manifest", got.Descriptor, dgst)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := []ocispec.Platform{{OS: "linux", Architecture: cf.Architecture}}
	if diff := cmp.Diff(want, got.Platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	if _, err := s.Distribution(t.Context(), host+"/missing:v1"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("Distribution of a missing image: got %v, want a not-found error", err)
	}
}

func open(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mustRecord(t *testing.T, s *Store, ref string) ctrimages.Image {
	t.Helper()
	recs, _, err := s.lookup(s.ctx(t.Context()), ref)
	if err != nil {
		t.Fatal(err)
	}
	return recs[0].rec
}

// TestDistributionUnreachable: a registry that cannot be reached (its
// host drops the connection attempts) is answered with the failed
// request's error, as dockerd does, once the lookup's reach timeout
// passes, not when the kernel gives up connecting minutes later: the
// docker CLI waits for this answer before every service create.
func TestDistributionUnreachable(t *testing.T) {
	s := newStore(t)
	host := unreachableHost(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := s.Distribution(ctx, host+"/app:v1")
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Distribution of an unreachable registry: got %v (context: %v), want the connection's error before the request's deadline", err, ctx.Err())
	}
	if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), "dial tcp") {
		t.Errorf("got %q, want the failed request's error (method, URL, dial tcp …)", err)
	}
}

// unreachableHost listens on a loopback port whose accept queue is full
// and never accepted from: the kernel drops further connection attempts
// (SYNs), as a host behind a black hole does.
func unreachableHost(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: these complete and are never accepted.
	for range 2 {
		if c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}
