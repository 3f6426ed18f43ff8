package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
	"github.com/shoal-project/shoal/internal/cli/internal/fakeapi"
)

func imageServer(t *testing.T) *fakeapi.Server {
	t.Helper()
	srv := fakeapi.New(t)
	srv.Images = []image.Summary{
		{ID: "sha256:1111111111111111111111111111111111111111111111111111111111111111", RepoTags: []string{"busybox:latest"}, Created: srv.Now.Add(-48 * time.Hour).Unix(), Size: 4_261_550},
		{ID: "sha256:2222222222222222222222222222222222222222222222222222222222222222", RepoTags: []string{"localhost:5000/app:v2"}, Created: srv.Now.Add(-time.Hour).Unix(), Size: 12_345_678},
	}
	return srv
}

func TestImagePull(t *testing.T) {
	srv := imageServer(t)
	checkGolden(t, "image-pull", shoal(t, srv, "", "image", "pull", "busybox"))
	q := srv.Find("POST", "/images/create")[0].Query
	if q.Get("fromImage") != "docker.io/library/busybox" || q.Get("tag") != "latest" {
		t.Errorf("got query %v, want fromImage=docker.io/library/busybox tag=latest", q)
	}
	checkGolden(t, "image-pull-quiet", shoal(t, srv, "", "image", "pull", "-q", "localhost:5000/app:v2"))
	checkGolden(t, "image-pull-bad-ref", shoal(t, srv, "", "image", "pull", "Not:A:Ref"))
}

func TestImageImport(t *testing.T) {
	srv := imageServer(t)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(tarball, []byte("not really a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "image-import", shoal(t, srv, "", "image", "import", "--change", "CMD [\"sh\"]", "-c", "ENV A=1", tarball, "myimg:v1"))
	req := srv.Find("POST", "/images/create")[0]
	if req.Query.Get("fromSrc") != "-" || req.Query.Get("repo") != "myimg:v1" || len(req.Query["changes"]) != 2 || string(req.Body) != "not really a tar" {
		t.Errorf("got query %v body %q, want the file sent as fromSrc=- to myimg:v1 with two changes", req.Query, req.Body)
	}
	shoal(t, srv, "from stdin", "image", "import", "-", "other")
	if req := srv.Find("POST", "/images/create")[1]; string(req.Body) != "from stdin" {
		t.Errorf("got body %q, want standard input", req.Body)
	}
}

func TestImageLoad(t *testing.T) {
	srv := imageServer(t)
	archive := filepath.Join(t.TempDir(), "img.tar")
	if err := os.WriteFile(archive, []byte("archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "image-load", shoal(t, srv, "", "image", "load", "-i", archive))
	if req := srv.Find("POST", "/images/load")[0]; string(req.Body) != "archive" || req.Query.Get("quiet") != "0" {
		t.Errorf("got query %v body %q, want the archive, not quiet", req.Query, req.Body)
	}
	shoal(t, srv, "piped", "image", "load", "-q")
	if req := srv.Find("POST", "/images/load")[1]; string(req.Body) != "piped" || req.Query.Get("quiet") != "1" {
		t.Errorf("got query %v body %q, want standard input, quiet", req.Query, req.Body)
	}
}

func TestImageList(t *testing.T) {
	srv := imageServer(t)
	checkGolden(t, "image-ls", shoal(t, srv, "", "image", "ls"))
	checkGolden(t, "image-ls-quiet", shoal(t, srv, "", "image", "ls", "-q"))
	shoal(t, srv, "", "image", "ls", "busybox")
	reqs := srv.Find("GET", "/images/json")
	if got := reqs[len(reqs)-1].Query.Get("filters"); got != `{"reference":{"busybox":true}}` {
		t.Errorf("got filters %s, want reference=busybox", got)
	}
}

func TestImageRemoveTagInspect(t *testing.T) {
	srv := imageServer(t)
	checkGolden(t, "image-tag", shoal(t, srv, "", "image", "tag", "busybox", "registry.local/busybox:mine"))
	if q := srv.Find("POST", "/images/busybox/tag")[0].Query; q.Get("repo") != "registry.local/busybox" || q.Get("tag") != "mine" {
		t.Errorf("got query %v, want repo registry.local/busybox tag mine", q)
	}
	checkGolden(t, "image-inspect", shoal(t, srv, "", "image", "inspect", "busybox"))
	checkGolden(t, "image-rm", shoal(t, srv, "", "image", "rm", "busybox", "nosuch"))
	if q := srv.Find("DELETE", "/images/busybox")[0].Query; q.Get("noprune") != "" || q.Get("force") != "" {
		t.Errorf("got query %v, want neither noprune nor force", q)
	}
}

func TestVersionAndInfo(t *testing.T) {
	srv := swarmServer(t)
	r := shoal(t, srv, "", "version")
	if r.err != nil || !contains(r.stdout, "Server: ") || !contains(r.stdout, "0.1.0-test") || !contains(r.stdout, srv.Host()) {
		t.Errorf("version printed:\n%s\nerr %v; want client and server sections", r.stdout, r.err)
	}
	r = shoal(t, srv, "", "info")
	r.stdout = strings.ReplaceAll(r.stdout, srv.Host(), "tcp://HOST")
	checkGolden(t, "info", r)
}
