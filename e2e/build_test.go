package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
)

// buildDockerfile is a multi-stage build over the test busybox: a meta
// ARG in FROM, a stage ARG from --build-arg, WORKDIR, COPY from the
// context (less what .dockerignore leaves out), RUN, COPY --from with
// --chown, and the metadata instructions.
const buildDockerfile = `ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
WORKDIR /src
COPY . ./
RUN test ! -e ignored.txt && test -e greet.txt
RUN echo "$GREETING from $(cat greet.txt)" > /out.txt && echo ran-the-builder

FROM busybox AS final
LABEL stage=final
ENV APP_DIR=/app
COPY --from=builder --chown=1000:1000 /out.txt ${APP_DIR}/out.txt
EXPOSE 8080/tcp
VOLUME /data
HEALTHCHECK --interval=30s CMD true
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo triggered
USER 1000
ENTRYPOINT ["cat"]
CMD ["/app/out.txt"]
`

// TestBuild drives docker build through the real docker CLI against one
// daemon: a multi-stage build that runs, --target, the cache, --no-cache,
// a failing step, and requests refused before anything is built.
func TestBuild(t *testing.T) {
	d := StartDaemon(t)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")

	ctxDir := t.TempDir()
	for name, content := range map[string]string{
		"Dockerfile":      buildDockerfile,
		"Dockerfile.fail": "FROM busybox\nRUN echo about to fail && false\nRUN echo never\n",
		".dockerignore":   "ignored.txt\n",
		"greet.txt":       "shoal",
		"ignored.txt":     "must not reach the build",
	} {
		if err := os.WriteFile(filepath.Join(ctxDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		return dockerIn(t, d, "", append(append([]string{"build"}, args...), ctxDir)...)
	}

	var firstID string
	t.Run("a multi-stage build runs and is tagged", func(t *testing.T) {
		out, errOut, code := build(t, "-t", "built:v1", "-t", "built:latest", "--build-arg", "GREETING=hi", "--label", "via=cli")
		if code != 0 {
			t.Fatalf("docker build: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, want := range []string{"Step 1/20 : ARG BASE=busybox", "ran-the-builder", "Successfully tagged built:v1", "Successfully tagged built:latest"} {
			if !strings.Contains(out, want) {
				t.Errorf("docker build output lacks %q:\n%s", want, out)
			}
		}
		if got, _, code := dockerIn(t, d, "", "run", "--rm", "built:v1"); got != "hi from shoal\n" || code != 0 {
			t.Fatalf("docker run built:v1: %q exit %d, want \"hi from shoal\"", got, code)
		}
		firstID = inspect(d, "built:v1", "{{.Id}}")
		if other := inspect(d, "built:latest", "{{.Id}}"); other != firstID || firstID == "" {
			t.Fatalf("built:v1 is %q and built:latest %q, want one image", firstID, other)
		}
		got := inspect(d, "built:v1", "{{.Config.User}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}|{{json .Config.OnBuild}}|{{json .Config.Healthcheck.Test}}")
		want := `1000|{"stage":"final","via":"cli"}|{"8080/tcp":{}}|{"/data":{}}|SIGTERM|["RUN echo triggered"]|["CMD-SHELL","true"]`
		if got != want {
			t.Fatalf("built image config:\n got %s\nwant %s", got, want)
		}
		if owner, _, _ := dockerIn(t, d, "", "run", "--rm", "--entrypoint", "stat", "built:v1", "-c", "%u:%g", "/app/out.txt"); owner != "1000:1000\n" {
			t.Fatalf("COPY --chown=1000:1000 made the file %q", owner)
		}
		if images := d.Docker("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(images, "built:v1") {
			t.Fatalf("docker images lacks built:v1:\n%s", images)
		}
	})

	t.Run("a service runs the built image", func(t *testing.T) {
		// Without --no-healthcheck the task counts only after the image's
		// HEALTHCHECK first passes, 30 s in.
		initSwarm(t, d)
		d.Docker("service", "create", "-d", "--no-resolve-image", "--no-healthcheck", "--name", "built", "--entrypoint", "sleep", "built:v1", "3600")
		waitReplicas(t, d, "built", "1/1")
		ids := waitContainers(t, d, "built", 1)
		if got, _ := d.TryDocker("exec", ids[0], "cat", "/app/out.txt"); got != "hi from shoal\n" {
			t.Fatalf("the service's task has /app/out.txt %q", got)
		}
	})

	t.Run("an unchanged rebuild comes from the cache", func(t *testing.T) {
		out, errOut, code := build(t, "-t", "built:v1", "--build-arg", "GREETING=hi", "--label", "via=cli")
		if code != 0 {
			t.Fatalf("docker build: exit %d\n%s\n%s", code, out, errOut)
		}
		if strings.Contains(out, "Running in") || strings.Count(out, "Using cache") < 10 {
			t.Fatalf("rebuild ran steps instead of using the cache:\n%s", out)
		}
		if id := inspect(d, "built:v1", "{{.Id}}"); id != firstID {
			t.Fatalf("rebuild from cache made image %s, want the same %s", id, firstID)
		}
	})

	t.Run("a changed build arg misses the cache from its step on", func(t *testing.T) {
		out, errOut, code := build(t, "-t", "built:v2", "--build-arg", "GREETING=hey")
		if code != 0 {
			t.Fatalf("docker build: exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "ran-the-builder") {
			t.Fatalf("a new GREETING did not rerun the RUN that reads it:\n%s", out)
		}
		if got, _, _ := dockerIn(t, d, "", "run", "--rm", "built:v2"); got != "hey from shoal\n" {
			t.Fatalf("docker run built:v2: %q", got)
		}
	})

	t.Run("--no-cache runs every step", func(t *testing.T) {
		out, errOut, code := build(t, "--no-cache", "-t", "built:nocache", "--build-arg", "GREETING=hi")
		if code != 0 {
			t.Fatalf("docker build --no-cache: exit %d\n%s\n%s", code, out, errOut)
		}
		if strings.Contains(out, "Using cache") || !strings.Contains(out, "ran-the-builder") {
			t.Fatalf("--no-cache used the cache:\n%s", out)
		}
	})

	t.Run("--target stops at the named stage", func(t *testing.T) {
		out, errOut, code := build(t, "--target", "builder", "-t", "built:builder")
		if code != 0 {
			t.Fatalf("docker build --target builder: exit %d\n%s\n%s", code, out, errOut)
		}
		if strings.Contains(out, "FROM busybox AS final") {
			t.Fatalf("--target builder built the final stage:\n%s", out)
		}
		if got, _, _ := dockerIn(t, d, "", "run", "--rm", "built:builder", "cat", "/out.txt"); got != "hello from shoal\n" {
			t.Fatalf("the builder stage's /out.txt: %q", got)
		}
	})

	t.Run("a child build runs ONBUILD triggers and ADD unpacks archives", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: "inner.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
		tw.Write([]byte("in"))
		tw.Close()
		zw.Close()
		os.WriteFile(filepath.Join(ctxDir, "files.tar.gz"), buf.Bytes(), 0o644)
		os.WriteFile(filepath.Join(ctxDir, "Dockerfile.child"), []byte("FROM built:v1\nUSER root\nADD files.tar.gz /unpacked/\nRUN test -f /unpacked/inner.txt && echo add-unpacked\n"), 0o644)
		out, errOut, code := build(t, "-f", filepath.Join(ctxDir, "Dockerfile.child"), "-t", "built:child")
		if code != 0 {
			t.Fatalf("docker build of the child: exit %d\n%s\n%s", code, out, errOut)
		}
		for _, want := range []string{"# Executing 1 build trigger", "triggered", "add-unpacked"} {
			if !strings.Contains(out, want) {
				t.Errorf("the child build's output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("a failing RUN shows its output and exit code and tags nothing", func(t *testing.T) {
		out, errOut, code := build(t, "-f", filepath.Join(ctxDir, "Dockerfile.fail"), "-t", "broken")
		if code != 1 {
			t.Fatalf("docker build of a failing step: exit %d, want 1\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "about to fail") || strings.Contains(out, "never") {
			t.Fatalf("the failing step's output is not shown, or a later step ran:\n%s", out)
		}
		if want := "The command '/bin/sh -c echo about to fail && false' returned a non-zero code: 1"; !strings.Contains(errOut, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errOut)
		}
		if _, err := d.TryDocker("image", "inspect", "broken"); err == nil {
			t.Fatal("a failed build tagged its image")
		}
	})

	t.Run("builder prune empties the cache and keeps the images", func(t *testing.T) {
		out := d.Docker("builder", "prune", "-f")
		if !strings.Contains(out, "Total reclaimed space") || strings.Contains(out, "Total reclaimed space: 0B") {
			t.Fatalf("docker builder prune freed nothing:\n%s", out)
		}
		if got, _, _ := dockerIn(t, d, "", "run", "--rm", "built:v1"); got != "hi from shoal\n" {
			t.Fatalf("docker run built:v1 after the prune: %q", got)
		}
		out, errOut, code := build(t, "-t", "built:v1", "--build-arg", "GREETING=hi", "--label", "via=cli")
		if code != 0 || strings.Contains(out, "Using cache") || !strings.Contains(out, "ran-the-builder") {
			t.Fatalf("the build after a prune used a cache, or failed: exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("bad requests are refused before anything is built", func(t *testing.T) {
		if out, errOut, code := build(t, "--target", "nope", "-t", "built:nope"); code == 0 || !strings.Contains(errOut, `target: stage "nope" not found`) {
			t.Fatalf("unknown --target: exit %d\n%s\n%s", code, out, errOut)
		}
		broken := filepath.Join(t.TempDir(), "Dockerfile")
		os.WriteFile(broken, []byte("FROM busybox\nNOTANINSTRUCTION x\n"), 0o644)
		if out, errOut, code := build(t, "-f", broken); code == 0 || !strings.Contains(errOut, "dockerfile parse error") {
			t.Fatalf("a Dockerfile that does not parse: exit %d\n%s\n%s", code, out, errOut)
		}
		status, body := postBuild(t, d, "dockerfile=missing.Dockerfile&t=built:missing", map[string]string{"Dockerfile": "FROM busybox\n"})
		if status != http.StatusBadRequest || !strings.Contains(body, "Cannot locate specified Dockerfile: missing.Dockerfile") {
			t.Fatalf("POST /build with a missing dockerfile: %d %s", status, body)
		}
		status, body = postBuild(t, d, "nocache=maybe", map[string]string{"Dockerfile": "FROM busybox\n"})
		if status != http.StatusBadRequest || !strings.Contains(body, "nocache") {
			t.Fatalf("POST /build with nocache=maybe: %d %s", status, body)
		}
		for _, ref := range []string{"built:nope", "built:missing"} {
			if _, err := d.TryDocker("image", "inspect", ref); err == nil {
				t.Fatalf("a refused build tagged %s", ref)
			}
		}
	})
}

// postBuild sends POST /build with a context of files and returns the
// status and body.
func postBuild(t *testing.T, d *Daemon, query string, files map[string]string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	resp, err := d.HTTPClient().Post("http://docker/build?"+query, "application/x-tar", &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
