package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// whiteoutPrefix starts the name of an entry that deletes a file of the
// layers below (".wh.name") or all of a directory's (".wh..wh..opq").
const whiteoutPrefix = ".wh."

// ToContainerOwners copies the tar of a layer from src to dst, the owner
// of every entry translated from host IDs to those the container sees
// (ids), as dockerd records the changes of a container in a remapped user
// namespace: a file its root made is owned by 0 in the image. Whiteouts
// are copied as they are: the differ writes them, and their owner means
// nothing. An owner outside the mapping is refused, as dockerd refuses
// it, rather than recorded as the overflow ID the container shows: an
// image would then give the file to another owner than it had.
func ToContainerOwners(dst io.Writer, src io.Reader, ids IDMap) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(dst)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the layer: %w", err)
		}
		if !strings.HasPrefix(path.Base(hdr.Name), whiteoutPrefix) {
			uid, gid := ids.ToContainer(hdr.Uid, hdr.Gid)
			// ToContainer shows an unmapped ID as the overflow ID: only
			// a mapped one comes back to where it was.
			if hu, hg, err := ids.ToHost(uid, gid); err != nil || hu != hdr.Uid || hg != hdr.Gid {
				return fmt.Errorf("/%s is owned by host IDs %d:%d, outside the container's user namespace", path.Clean(hdr.Name), hdr.Uid, hdr.Gid)
			}
			hdr.Uid, hdr.Gid = uid, gid
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write the layer: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("copy %s: %w", hdr.Name, err)
		}
	}
	return tw.Close()
}
