package sysinfo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// snapshotterPluginType is the containerd plugin type of snapshotters,
// shown as "driver-type" as dockerd shows it for its containerd image
// store.
const snapshotterPluginType = "io.containerd.snapshotter.v1"

// filesystemNames are the names `docker info` gives filesystems in
// "Backing Filesystem", by statfs type. ext2, ext3 and ext4 share a magic
// number, hence "extfs".
var filesystemNames = map[int64]string{
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.CRAMFS_MAGIC:          "cramfs",
	unix.ECRYPTFS_SUPER_MAGIC:  "ecryptfs",
	unix.EXT4_SUPER_MAGIC:      "extfs",
	unix.F2FS_SUPER_MAGIC:      "f2fs",
	unix.FUSE_SUPER_MAGIC:      "fuse",
	unix.JFFS2_SUPER_MAGIC:     "jffs2",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.REISERFS_SUPER_MAGIC:  "reiserfs",
	unix.SMB_SUPER_MAGIC:       "smb",
	unix.SQUASHFS_MAGIC:        "squashfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.XFS_SUPER_MAGIC:       "xfs",
	0x61756673:                 "aufs",
	0x47504653:                 "gpfs",
	0x3153464a:                 "jfs",
	0xa501fcf5:                 "vxfs",
	0x2fc12fc1:                 "zfs",
}

// FilesystemName is the name `docker info` gives the filesystem of statfs
// type magic, "<unknown>" for one it has no name for.
func FilesystemName(magic int64) string {
	if name, ok := filesystemNames[magic]; ok {
		return name
	}
	return "<unknown>"
}

// DriverStatus is the DriverStatus of a containerd snapshotter whose data
// is under root: its plugin type, as dockerd shows a snapshotter, then, as
// dockerd's overlay2 driver shows them, the filesystem under root and, for
// overlayfs, which needs them, whether that filesystem gives entry types in
// directory listings. A row that cannot be found out is left out, and the
// error says why.
func DriverStatus(snapshotter, root string) ([][2]string, error) {
	status := [][2]string{{"driver-type", snapshotterPluginType}}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return status, fmt.Errorf("statfs %s: %w", root, err)
	}
	status = append(status, [2]string{"Backing Filesystem", FilesystemName(int64(st.Type))})
	if snapshotter != "overlayfs" {
		return status, nil
	}
	dtype, err := SupportsDType(root)
	if err != nil {
		return status, err
	}
	return append(status, [2]string{"Supports d_type", strconv.FormatBool(dtype)}), nil
}

// DriverWarnings are the warnings `docker info` adds for driver's status
// rows, in dockerd 20.10's words: overlay on a filesystem without d_type
// mixes up files and directories.
func DriverWarnings(driver string, status [][2]string) []string {
	var backing string
	dtype := true
	for _, row := range status {
		switch row[0] {
		case "Backing Filesystem":
			backing = row[1]
		case "Supports d_type":
			dtype = row[1] != "false"
		}
	}
	if dtype {
		return nil
	}
	const indent = "         "
	w := fmt.Sprintf("WARNING: %s: the backing %s filesystem is formatted without d_type support, which leads to incorrect behavior.\n", driver, backing)
	if backing == "xfs" {
		w += indent + "Reformat the filesystem with ftype=1 to enable d_type support.\n"
	}
	w += indent + "Running without d_type support will not be supported in future releases."
	return []string{w}
}

// SupportsDType reports whether the filesystem of dir fills in the type of
// each entry in a directory listing (d_type). It reads dir and writes
// nothing, so dir must hold an entry other than . and .. to tell by.
func SupportsDType(dir string) (bool, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return false, fmt.Errorf("read directory %s: %w", dir, err)
		}
		if n == 0 {
			return false, fmt.Errorf("directory %s has no entry to tell d_type support by", dir)
		}
		if known, ok := entryTypeKnown(buf[:n]); ok {
			return known, nil
		}
	}
}

// errShortDirent is a getdents64 record that does not fit its buffer.
var errShortDirent = errors.New("short directory entry")

// entryTypeKnown looks at the first entry other than . and .. in buf, a
// run of getdents64 records (ino u64, off s64, reclen u16, type u8, name),
// and reports whether its type is known; ok is false when buf holds no
// such entry (the kernel types . and .. whatever the filesystem).
func entryTypeKnown(buf []byte) (known, ok bool) {
	for len(buf) > 0 {
		name, typ, reclen, err := parseDirent(buf)
		if err != nil {
			return false, false
		}
		buf = buf[reclen:]
		if name == "." || name == ".." {
			continue
		}
		return typ != unix.DT_UNKNOWN, true
	}
	return false, false
}

func parseDirent(buf []byte) (name string, typ uint8, reclen int, err error) {
	const nameOffset = 19
	if len(buf) < nameOffset {
		return "", 0, 0, errShortDirent
	}
	reclen = int(binary.NativeEndian.Uint16(buf[16:18]))
	if reclen < nameOffset || reclen > len(buf) {
		return "", 0, 0, errShortDirent
	}
	raw := buf[nameOffset:reclen]
	for i, c := range raw {
		if c == 0 {
			raw = raw[:i]
			break
		}
	}
	return string(raw), buf[18], reclen, nil
}
