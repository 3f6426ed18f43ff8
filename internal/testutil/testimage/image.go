package testimage

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Option changes the image config of Image and BuildImage.
type Option func(*v1.Config)

// WithEnv adds environment variables ("KEY=value"); an image differing only
// by WithEnv("VERSION=2") is a different image, for update tests.
func WithEnv(kv ...string) Option {
	return func(c *v1.Config) { c.Env = append(c.Env, kv...) }
}

// WithCmd sets the default command (busybox's is ["sh"]).
func WithCmd(cmd ...string) Option { return func(c *v1.Config) { c.Cmd = cmd } }

// WithEntrypoint sets the entrypoint.
func WithEntrypoint(ep ...string) Option { return func(c *v1.Config) { c.Entrypoint = ep } }

// WithLabel sets an image label.
func WithLabel(key, value string) Option {
	return func(c *v1.Config) {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[key] = value
	}
}

// WithHealthcheck sets the image's health check (Docker's HEALTHCHECK).
func WithHealthcheck(h v1.HealthConfig) Option {
	return func(c *v1.Config) { c.Healthcheck = &h }
}

// WithWorkingDir sets the working directory.
func WithWorkingDir(dir string) Option { return func(c *v1.Config) { c.WorkingDir = dir } }

// WithUser sets the user the process runs as.
func WithUser(user string) Option { return func(c *v1.Config) { c.User = user } }

// WithStopSignal sets the stop signal, e.g. "SIGINT".
func WithStopSignal(sig string) Option { return func(c *v1.Config) { c.StopSignal = sig } }

// BuildImage makes an OCI image of one layer, the rootfs tar at rootfsTar
// (see BuildRootfsTar), with busybox's config: Cmd ["sh"] and a PATH. The
// tar is read lazily: it must stay until the image has been written out.
func BuildImage(rootfsTar string, opts ...Option) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(rootfsTar, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer from %s: %w", rootfsTar, err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
	for _, o := range opts {
		o(&cf.Config)
	}
	return mutate.ConfigFile(img, cf)
}

// RootfsTar builds the busybox rootfs tar in a temporary directory of the
// test and returns its path.
func RootfsTar(t testing.TB) string {
	t.Helper()
	path, err := BuildRootfsTar(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Image returns a busybox OCI image (Cmd ["sh"]) changed by opts.
func Image(t testing.TB, opts ...Option) v1.Image {
	t.Helper()
	img, err := BuildImage(RootfsTar(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ServeRegistry starts an in-memory registry on loopback over plain HTTP,
// stopped when the test ends, and returns its host:port.
func ServeRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Push pushes img to the registry at host as name ("app" or "app:v2"; the
// tag defaults to latest) and returns the reference pushed,
// e.g. "127.0.0.1:5000/app:latest".
func Push(t testing.TB, host, repo string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref.Name()
}

// DockerSave writes img as `docker save` would, tagged ref (e.g.
// "busybox:latest"), and returns the archive's path.
func DockerSave(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "save.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	return path
}
