package sysinfo

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Cgroups is what the cgroup controllers let containers limit, found as
// dockerd finds it: on cgroup v1 by the files a controller's mount offers,
// on v2 by the controllers the root cgroup lists.
type Cgroups struct {
	// Version is "2" on a unified hierarchy and "1" otherwise, hybrid
	// hosts (v1 controllers beside an empty v2 tree) included.
	Version string
	// Controllers are the controllers containers can use, sorted: on v1
	// the enabled ones (/proc/cgroups) that are mounted, on v2 those in
	// the root's cgroup.controllers.
	Controllers []string

	Memory          bool // memory limits
	Swap            bool // memory+swap limits
	OomKillDisable  bool // memory.oom_control (v1 only)
	KernelMemoryTCP bool // memory.kmem.tcp (v1 only)
	CPUShares       bool
	CPUCfs          bool // CFS quota and period
	CPUSet          bool
	Pids            bool

	BlkioWeight       bool
	BlkioWeightDevice bool
	BlkioReadBps      bool
	BlkioWriteBps     bool
	BlkioReadIOps     bool
	BlkioWriteIOps    bool
}

// cgroupRoot is where cgroups are mounted, relative to /.
const cgroupRoot = "sys/fs/cgroup"

func readCgroups(fsys fs.FS) Cgroups {
	if b, err := fs.ReadFile(fsys, path.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return readCgroupsV2(fsys, strings.Fields(string(b)))
	}
	return readCgroupsV1(fsys)
}

// readCgroupsV1 checks, in each controller's mount, the files its limits
// are set through.
func readCgroupsV1(fsys fs.FS) Cgroups {
	cg := Cgroups{Version: "1"}
	enabled := enabledControllers(fsys)
	mounts := map[string]string{} // controller → mount point, relative to /
	if b, err := fs.ReadFile(fsys, "proc/self/mountinfo"); err == nil {
		for _, m := range parseMountinfo(b) {
			if m.fstype != "cgroup" {
				continue
			}
			for _, opt := range strings.Split(m.superOptions, ",") {
				if _, seen := mounts[opt]; enabled[opt] && !seen {
					mounts[opt] = m.mountPoint
				}
			}
		}
	}
	for c := range mounts {
		cg.Controllers = append(cg.Controllers, c)
	}
	slices.Sort(cg.Controllers)

	offers := func(controller, file string) bool {
		dir, ok := mounts[controller]
		return ok && exists(fsys, path.Join(dir, file))
	}
	_, cg.Memory = mounts["memory"]
	cg.Swap = offers("memory", "memory.memsw.limit_in_bytes")
	cg.OomKillDisable = offers("memory", "memory.oom_control")
	cg.KernelMemoryTCP = offers("memory", "memory.kmem.tcp.limit_in_bytes")
	cg.CPUShares = offers("cpu", "cpu.shares")
	cg.CPUCfs = offers("cpu", "cpu.cfs_quota_us")
	_, cg.CPUSet = mounts["cpuset"]
	_, cg.Pids = mounts["pids"]
	cg.BlkioWeight = offers("blkio", "blkio.weight")
	cg.BlkioWeightDevice = offers("blkio", "blkio.weight_device")
	cg.BlkioReadBps = offers("blkio", "blkio.throttle.read_bps_device")
	cg.BlkioWriteBps = offers("blkio", "blkio.throttle.write_bps_device")
	cg.BlkioReadIOps = offers("blkio", "blkio.throttle.read_iops_device")
	cg.BlkioWriteIOps = offers("blkio", "blkio.throttle.write_iops_device")
	return cg
}

// readCgroupsV2 grants each feature its controller gives. Swap limits need
// memory.swap.max, which the kernel has only with swap accounting; like
// dockerd it looks for it in the reader's own cgroup.
func readCgroupsV2(fsys fs.FS, controllers []string) Cgroups {
	slices.Sort(controllers)
	has := func(c string) bool { return slices.Contains(controllers, c) }
	blkio := has("io")
	cg := Cgroups{
		Version:     "2",
		Controllers: controllers,
		Memory:      has("memory"),
		CPUShares:   has("cpu"),
		CPUCfs:      has("cpu"),
		CPUSet:      has("cpuset"),
		Pids:        has("pids"),

		BlkioWeight:       blkio,
		BlkioWeightDevice: blkio,
		BlkioReadBps:      blkio,
		BlkioWriteBps:     blkio,
		BlkioReadIOps:     blkio,
		BlkioWriteIOps:    blkio,
	}
	if own, ok := ownCgroupV2(fsys); cg.Memory && ok {
		cg.Swap = exists(fsys, path.Join(cgroupRoot, own, "memory.swap.max"))
	}
	return cg
}

// enabledControllers reads /proc/cgroups: the kernel's controllers and
// whether each is enabled (cgroup_disable= turns them off at boot).
func enabledControllers(fsys fs.FS) map[string]bool {
	out := map[string]bool{}
	b, err := fs.ReadFile(fsys, "proc/cgroups")
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out[f[0]] = f[3] == "1"
	}
	return out
}

// ownCgroupV2 returns the reader's cgroup on the unified hierarchy, the
// "0::/path" line of /proc/self/cgroup.
func ownCgroupV2(fsys fs.FS) (string, bool) {
	b, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, true
		}
	}
	return "", false
}

// mount is one line of /proc/self/mountinfo, as far as cgroups need it.
type mount struct {
	mountPoint   string // relative to /: "sys/fs/cgroup/memory"
	fstype       string
	superOptions string
}

// parseMountinfo reads the lines of a mountinfo file (proc(5)): ID,
// parent, device, root, mount point, options, optional fields up to "-",
// then filesystem type, source and super options.
func parseMountinfo(b []byte) []mount {
	var out []mount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		out = append(out, mount{
			mountPoint:   relative(unescapeOctal(f[4])),
			fstype:       f[sep+1],
			superOptions: f[sep+3],
		})
	}
	return out
}

// relative turns an absolute path into the fs.FS name of the same file
// under a view of /.
func relative(p string) string {
	p = strings.TrimPrefix(path.Clean(p), "/")
	if p == "" {
		return "."
	}
	return p
}

// unescapeOctal undoes the \NNN escapes mountinfo uses for space, tab,
// newline and backslash in paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
