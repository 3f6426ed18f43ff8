package sysinfo

import "strings"

// CgroupDriver names the cgroup driver that manages a container whose OCI
// spec has the given cgroupsPath, by runc's convention: "slice:prefix:name"
// is for the systemd driver, and anything else, a path such as
// /shoal/ID, for cgroupfs.
func CgroupDriver(cgroupsPath string) string {
	if !strings.HasPrefix(cgroupsPath, "/") && strings.Count(cgroupsPath, ":") == 2 {
		return "systemd"
	}
	return "cgroupfs"
}
