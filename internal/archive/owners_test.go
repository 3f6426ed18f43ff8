package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-project/shoal/internal/confine"
)

// entry is what ToContainerOwners may change or must keep of a tar entry.
type entry struct {
	Name, Link, Body string
	Type             byte
	Uid, Gid         int
	PAX              map[string]string
}

func layerTar(t *testing.T, es []entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: 0o644, Uid: e.Uid, Gid: e.Gid, Size: int64(len(e.Body)), PAXRecords: e.PAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func readLayer(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{Name: hdr.Name, Link: hdr.Linkname, Body: string(body), Type: hdr.Typeflag, Uid: hdr.Uid, Gid: hdr.Gid, PAX: hdr.PAXRecords})
	}
}

func TestToContainerOwners(t *testing.T) {
	// Two ranges laid end to end, as dockerd maps a user's subordinate
	// ranges; the gids elsewhere than the uids.
	ids := &confine.Remap{User: "dockremap", Group: "dockremap",
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 1000, HostID: 300000, Size: 65536}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 66536}}}
	xattr := map[string]string{"SCHILY.xattr.user.note": "kept"}
	for _, tc := range []struct {
		name    string
		in      []entry
		want    []entry
		wantErr string
	}{{
		name: "owners become the container's",
		in: []entry{
			{Name: "etc/", Type: tar.TypeDir, Uid: 100000, Gid: 200000},
			{Name: "etc/f", Type: tar.TypeReg, Uid: 100000, Gid: 200000, Body: "made by root\n", PAX: xattr},
			{Name: "g", Type: tar.TypeReg, Uid: 301000, Gid: 202000, Body: "given to 2000"},
			{Name: "l", Type: tar.TypeSymlink, Link: "/etc/f", Uid: 100005, Gid: 200005},
			{Name: "h", Type: tar.TypeLink, Link: "g", Uid: 301000, Gid: 202000},
		},
		want: []entry{
			{Name: "etc/", Type: tar.TypeDir, Uid: 0, Gid: 0},
			{Name: "etc/f", Type: tar.TypeReg, Uid: 0, Gid: 0, Body: "made by root\n", PAX: xattr},
			{Name: "g", Type: tar.TypeReg, Uid: 2000, Gid: 2000, Body: "given to 2000"},
			{Name: "l", Type: tar.TypeSymlink, Link: "/etc/f", Uid: 5, Gid: 5},
			{Name: "h", Type: tar.TypeLink, Link: "g", Uid: 2000, Gid: 2000},
		},
	}, {
		name: "whiteouts are kept as the differ wrote them",
		in: []entry{
			{Name: "etc/.wh.gone", Type: tar.TypeReg},
			{Name: "var/.wh..wh..opq", Type: tar.TypeReg, Uid: 100000, Gid: 200000},
		},
		want: []entry{
			{Name: "etc/.wh.gone", Type: tar.TypeReg},
			{Name: "var/.wh..wh..opq", Type: tar.TypeReg, Uid: 100000, Gid: 200000},
		},
	}, {
		name:    "a host uid outside the mapping is refused",
		in:      []entry{{Name: "ok", Type: tar.TypeReg, Uid: 100000, Gid: 200000}, {Name: "far", Type: tar.TypeReg, Uid: 0, Gid: 200000}},
		wantErr: "/far is owned by host IDs 0:200000",
	}, {
		name:    "a host gid outside the mapping is refused",
		in:      []entry{{Name: "far", Type: tar.TypeDir, Uid: 100000, Gid: 100000}},
		wantErr: "/far is owned by host IDs 100000:100000",
	}, {
		name:    "a host id in the gap between two ranges is refused",
		in:      []entry{{Name: "gap", Type: tar.TypeReg, Uid: 101000, Gid: 200000}},
		wantErr: "/gap is owned by host IDs 101000:200000",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := ToContainerOwners(&out, layerTar(t, tc.in), ids)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ToContainerOwners: %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, readLayer(t, &out)); diff != "" {
				t.Errorf("translated layer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToContainerOwnersBadTar(t *testing.T) {
	ids := &confine.Remap{UIDs: []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}, GIDs: []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}}
	trunc := layerTar(t, []entry{{Name: "f", Type: tar.TypeReg, Uid: 100000, Gid: 100000, Body: strings.Repeat("x", 2000)}}).Bytes()[:1024]
	if err := ToContainerOwners(io.Discard, bytes.NewReader(trunc), ids); err == nil {
		t.Error("ToContainerOwners of a truncated tar: no error, want one")
	}
}
