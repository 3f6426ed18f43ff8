// Package testimage gives tests and benchmarks container images without
// Docker Hub: a busybox rootfs built from the host's static busybox, OCI
// images made from it, an in-process registry to push them to, and
// docker-save archives of them.
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Busybox is the static busybox the rootfs is built from (Debian's
// busybox-static).
const Busybox = "/bin/busybox"

// epoch is the modification time of every entry, so that the same busybox
// always gives the same tar and the same layer digest.
var epoch = time.Unix(0, 0).UTC()

type entry struct {
	name string
	mode int64
	kind byte   // tar.TypeDir, tar.TypeReg, tar.TypeSymlink
	body []byte // for TypeReg
	link string // for TypeSymlink
}

// BuildRootfsTar writes dir/busybox-rootfs.tar, a busybox root filesystem:
// /bin/busybox with a symlink per applet (so /bin/sh), /etc/passwd and
// /etc/group with root and nobody, /etc/hosts, and the usual empty
// directories. It returns the tar's path.
func BuildRootfsTar(dir string) (string, error) {
	bin, err := os.ReadFile(Busybox)
	if err != nil {
		return "", fmt.Errorf("read %s (is busybox-static installed?): %w", Busybox, err)
	}
	out, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("list busybox applets: %w", err)
	}
	path := filepath.Join(dir, "busybox-rootfs.tar")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := writeRootfs(f, bin, strings.Fields(string(out))); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, nil
}

func writeRootfs(w io.Writer, busybox []byte, applets []string) error {
	tw := tar.NewWriter(w)
	for _, e := range rootfsEntries(busybox, applets) {
		hdr := &tar.Header{
			Typeflag: e.kind,
			Name:     e.name,
			Mode:     e.mode,
			Linkname: e.link,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if e.kind == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if e.kind == tar.TypeReg {
			if _, err := io.Copy(tw, bytes.NewReader(e.body)); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// rootfsEntries lists the rootfs in tar order: every directory before what
// it holds.
func rootfsEntries(busybox []byte, applets []string) []entry {
	dir := func(name string, mode int64) entry { return entry{name: name + "/", mode: mode, kind: tar.TypeDir} }
	file := func(name string, mode int64, body string) entry {
		return entry{name: name, mode: mode, kind: tar.TypeReg, body: []byte(body)}
	}
	es := []entry{
		dir("bin", 0o755),
		{name: "bin/busybox", mode: 0o755, kind: tar.TypeReg, body: busybox},
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		es = append(es, entry{name: "bin/" + a, mode: 0o777, kind: tar.TypeSymlink, link: "busybox"})
	}
	return append(es,
		dir("dev", 0o755),
		dir("etc", 0o755),
		file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"),
		file("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"),
		file("etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
		file("etc/hostname", 0o644, ""),
		file("etc/resolv.conf", 0o644, ""),
		dir("home", 0o755),
		dir("proc", 0o555),
		dir("root", 0o700),
		dir("sys", 0o555),
		dir("tmp", 0o1777),
		dir("usr", 0o755),
		dir("usr/bin", 0o755),
		dir("var", 0o755),
	)
}
