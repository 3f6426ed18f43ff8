package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// cpTar is a tar of hdrs; a regular file holds its own name.
func cpTar(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(h.Name))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// cpAllOrNothing copies archives whose good entries come first and whose
// last is bad into the running container talker (with the docker CLI,
// from stdin) and the stopped container three (a raw PUT): each is
// refused with a 400 naming the entry, and none of its good entries is
// there afterwards; the good entries alone are copied.
func cpAllOrNothing(t *testing.T, d *Daemon) {
	good := []*tar.Header{
		{Name: "cpgood/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "cpgood/a.txt", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "cpb.txt", Typeflag: tar.TypeReg, Mode: 0o644},
	}
	withLast := func(last ...*tar.Header) []byte {
		return cpTar(t, append(append([]*tar.Header{}, good...), last...)...)
	}
	traversal := withLast(&tar.Header{Name: "../evil.txt", Typeflag: tar.TypeReg, Mode: 0o644})
	_, stderr, code := dockerIn(t, d, string(traversal), "cp", "-", "talker:/data")
	if code == 0 || !strings.Contains(stderr, `archive entry "../evil.txt" is outside the extraction point`) {
		t.Fatalf("docker cp - talker:/data of a climbing entry: exit %d, %q", code, stderr)
	}
	if out, _ := d.TryDocker("exec", "talker", "sh", "-c", "ls -a /data; ls /evil.txt"); strings.Contains(out, "cpgood") || strings.Contains(out, "cpb.txt") || !strings.Contains(out, "/evil.txt: No such file") {
		t.Fatalf("a refused docker cp left part of it in /data (or wrote /evil.txt):\n%s", out)
	}

	truncated := withLast(&tar.Header{Name: "big.txt", Typeflag: tar.TypeReg, Mode: 0o644})
	// Cut after 3 of the 7 bytes of big.txt's content: a cut in the
	// padding after it would lose nothing.
	truncated = truncated[:len(truncated)-1024-512+3]
	for _, tt := range []struct {
		name string
		body []byte
		want string
	}{
		{"below a file", withLast(&tar.Header{Name: "cpb.txt/c", Typeflag: tar.TypeReg, Mode: 0o644}), `archive entry "cpb.txt/c": /cpb.txt is not a directory`},
		{"a hard link to nothing", withLast(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "nothing"}), `archive entry "h" links to "nothing", which is not there`},
		{"truncated", truncated, `read the archive after entry "big.txt": unexpected EOF`},
	} {
		req, _ := http.NewRequest(http.MethodPut, "http://shoal/v1.41/containers/three/archive?path=/&noOverwriteDirNonDir=true", bytes.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/x-tar")
		resp, err := d.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var msg struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&msg)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.Message, tt.want) {
			t.Errorf("PUT of an archive %s into three: %d %q, want 400 %q", tt.name, resp.StatusCode, msg.Message, tt.want)
		}
		for _, p := range []string{"three:/cpgood", "three:/cpb.txt"} {
			if out, err := d.TryDocker("cp", p, t.TempDir()); err == nil || !strings.Contains(out, "Could not find the file") {
				t.Errorf("after the archive %s was refused, docker cp %s: %v %q; want it not there", tt.name, p, err, out)
			}
		}
	}

	if _, stderr, code := dockerIn(t, d, string(cpTar(t, good...)), "cp", "-", "talker:/data"); code != 0 {
		t.Fatalf("docker cp - talker:/data of the good entries: exit %d, %q", code, stderr)
	}
	if out := d.Docker("exec", "talker", "cat", "/data/cpgood/a.txt", "/data/cpb.txt"); out != "cpgood/a.txtcpb.txt" {
		t.Fatalf("the good entries copied: %q", out)
	}
}
