package testimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestRootfsTar(t *testing.T) {
	f, err := os.Open(RootfsTar(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = hdr
	}
	tests := []struct {
		name string
		kind byte
		link string
	}{
		{"bin/busybox", tar.TypeReg, ""},
		{"bin/sh", tar.TypeSymlink, "busybox"},
		{"bin/sleep", tar.TypeSymlink, "busybox"},
		{"etc/passwd", tar.TypeReg, ""},
		{"etc/group", tar.TypeReg, ""},
		{"tmp/", tar.TypeDir, ""},
	}
	for _, tt := range tests {
		hdr, ok := got[tt.name]
		if !ok {
			t.Errorf("rootfs lacks %s", tt.name)
			continue
		}
		if hdr.Typeflag != tt.kind || hdr.Linkname != tt.link {
			t.Errorf("%s: got type %c link %q, want type %c link %q", tt.name, hdr.Typeflag, hdr.Linkname, tt.kind, tt.link)
		}
	}
}

func TestBuildRootfsTarIsReproducible(t *testing.T) {
	a, b := RootfsTar(t), RootfsTar(t)
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(da, db) {
		t.Error("two builds of the rootfs differ; want the same bytes (and layer digest)")
	}
}

func TestImageOptions(t *testing.T) {
	hc := v1.HealthConfig{Test: []string{"CMD", "true"}, Retries: 2}
	img := Image(t, WithEnv("VERSION=2"), WithLabel("a", "b"), WithHealthcheck(hc), WithStopSignal("SIGINT"))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Cmd:         []string{"sh"},
		Env:         []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "VERSION=2"},
		Labels:      map[string]string{"a": "b"},
		Healthcheck: &hc,
		StopSignal:  "SIGINT",
	}
	if diff := cmp.Diff(want, cf.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	plain := Image(t)
	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := plain.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 == d2 {
		t.Errorf("images with and without options have the same digest %s", d1)
	}
}

func TestPushToRegistry(t *testing.T) {
	host := ServeRegistry(t)
	img := Image(t)
	ref := Push(t, host, "app:v1", img)
	if want := host + "/app:v1"; ref != want {
		t.Errorf("Push returned %q, want %q", ref, want)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("pulled digest %s, want %s", got, want)
	}
}

func TestDockerSave(t *testing.T) {
	path := DockerSave(t, "busybox:latest", Image(t))
	tag, err := name.NewTag("busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cf.Config.Cmd, []string{"sh"}; !slices.Equal(got, want) {
		t.Errorf("loaded Cmd %q, want %q", got, want)
	}
}
