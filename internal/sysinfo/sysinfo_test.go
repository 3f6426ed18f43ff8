package sysinfo

import (
	"maps"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// procCgroups is /proc/cgroups of a kernel with every usual controller
// enabled.
const procCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
cpuacct	2	1	1
blkio	7	1	1
memory	4	34	1
devices	5	1	1
freezer	6	1	1
net_cls	0	1	1
pids	8	1	1
`

// v1Mounts are the cgroup lines of /proc/self/mountinfo on a hybrid v1
// host: a tmpfs at /sys/fs/cgroup, a hierarchy per controller, systemd's
// named one and an empty v2 tree.
var v1Mounts = []string{
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
	"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu",
	"33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
	"34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
	"36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices",
	"37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer",
	"38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio",
	"39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
	"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
}

// v1Files are the files each v1 controller's mount offers; blkio has no
// weight files, as on kernels since 5.0.
var v1Files = map[string][]string{
	"memory":  {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.oom_control", "memory.swappiness", "memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"},
	"cpu":     {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.rt_period_us"},
	"cpuset":  {"cpuset.cpus", "cpuset.mems"},
	"blkio":   {"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"},
	"pids":    {"cgroup.procs"},
	"devices": {"devices.allow"},
}

// networkOn are the forwarding sysctls as dockerd leaves them.
var networkOn = fstest.MapFS{
	"proc/sys/net/ipv4/ip_forward":                 {Data: []byte("1\n")},
	"proc/sys/net/bridge/bridge-nf-call-iptables":  {Data: []byte("1\n")},
	"proc/sys/net/bridge/bridge-nf-call-ip6tables": {Data: []byte("1\n")},
}

// v1Host is a hybrid cgroup v1 host like the one the tests were written
// on, with the forwarding sysctls on. edit changes the tree before use.
func v1Host(edit func(fstest.MapFS)) fstest.MapFS {
	fsys := maps.Clone(networkOn)
	fsys["proc/cgroups"] = &fstest.MapFile{Data: []byte(procCgroups)}
	fsys["proc/self/mountinfo"] = &fstest.MapFile{Data: []byte(strings.Join(v1Mounts, "\n") + "\n")}
	fsys["sys/fs/cgroup/unified/cgroup.procs"] = &fstest.MapFile{}
	for controller, files := range v1Files {
		for _, f := range files {
			fsys["sys/fs/cgroup/"+controller+"/"+f] = &fstest.MapFile{}
		}
	}
	if edit != nil {
		edit(fsys)
	}
	return fsys
}

// v2Host is a unified cgroup v2 host with every controller, the reader in
// a service's cgroup with swap accounting, and the forwarding sysctls on.
func v2Host(edit func(fstest.MapFS)) fstest.MapFS {
	fsys := maps.Clone(networkOn)
	fsys["proc/cgroups"] = &fstest.MapFile{Data: []byte(procCgroups)}
	fsys["proc/self/cgroup"] = &fstest.MapFile{Data: []byte("0::/system.slice/shoal.service\n")}
	fsys["proc/self/mountinfo"] = &fstest.MapFile{Data: []byte("30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n")}
	fsys["sys/fs/cgroup/cgroup.controllers"] = &fstest.MapFile{Data: []byte("cpuset cpu io memory hugetlb pids rdma misc\n")}
	fsys["sys/fs/cgroup/system.slice/shoal.service/memory.max"] = &fstest.MapFile{}
	fsys["sys/fs/cgroup/system.slice/shoal.service/memory.swap.max"] = &fstest.MapFile{}
	if edit != nil {
		edit(fsys)
	}
	return fsys
}

// removeMount drops the mountinfo line of the v1 hierarchy at dir.
func removeMount(fsys fstest.MapFS, dir string) {
	var kept []string
	for _, l := range strings.Split(string(fsys["proc/self/mountinfo"].Data), "\n") {
		if !strings.Contains(l, " "+dir+" ") {
			kept = append(kept, l)
		}
	}
	fsys["proc/self/mountinfo"] = &fstest.MapFile{Data: []byte(strings.Join(kept, "\n"))}
}

// allV1 is everything a complete v1 host offers.
var allV1 = Cgroups{
	Version:         "1",
	Controllers:     []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"},
	Memory:          true,
	Swap:            true,
	OomKillDisable:  true,
	KernelMemoryTCP: true,
	CPUShares:       true,
	CPUCfs:          true,
	CPUSet:          true,
	Pids:            true,
	BlkioReadBps:    true, BlkioWriteBps: true, BlkioReadIOps: true, BlkioWriteIOps: true,
}

// allV2 is everything a complete v2 host offers.
var allV2 = Cgroups{
	Version:     "2",
	Controllers: []string{"cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"},
	Memory:      true,
	Swap:        true,
	CPUShares:   true,
	CPUCfs:      true,
	CPUSet:      true,
	Pids:        true,
	BlkioWeight: true, BlkioWeightDevice: true,
	BlkioReadBps: true, BlkioWriteBps: true, BlkioReadIOps: true, BlkioWriteIOps: true,
}

func with(cg Cgroups, edit func(*Cgroups)) Cgroups {
	edit(&cg)
	return cg
}

func TestRead(t *testing.T) {
	allOn := Networking{IPv4Forwarding: true, BridgeNfIptables: true, BridgeNfIP6tables: true}
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		want     Host
		warnings []string
	}{
		{
			name: "v1 with every controller",
			fsys: v1Host(nil),
			want: Host{Cgroups: allV1, Networking: allOn},
		},
		{
			name:     "v1 without swap accounting",
			fsys:     v1Host(func(f fstest.MapFS) { delete(f, "sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") }),
			want:     Host{Cgroups: with(allV1, func(c *Cgroups) { c.Swap = false }), Networking: allOn},
			warnings: []string{"WARNING: No swap limit support"},
		},
		{
			name: "v1 without kernel memory or OOM control",
			fsys: v1Host(func(f fstest.MapFS) {
				delete(f, "sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes")
				delete(f, "sys/fs/cgroup/memory/memory.oom_control")
			}),
			want:     Host{Cgroups: with(allV1, func(c *Cgroups) { c.KernelMemoryTCP, c.OomKillDisable = false, false }), Networking: allOn},
			warnings: []string{"WARNING: No kernel memory TCP limit support", "WARNING: No oom kill disable support"},
		},
		{
			name: "v1 with memory disabled at boot",
			fsys: v1Host(func(f fstest.MapFS) {
				f["proc/cgroups"] = &fstest.MapFile{Data: []byte(strings.Replace(procCgroups, "memory\t4\t34\t1", "memory\t0\t1\t0", 1))}
				removeMount(f, "/sys/fs/cgroup/memory")
			}),
			want: Host{Cgroups: with(allV1, func(c *Cgroups) {
				c.Controllers = []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "pids"}
				c.Memory, c.Swap, c.OomKillDisable, c.KernelMemoryTCP = false, false, false, false
			}), Networking: allOn},
			warnings: []string{"WARNING: No memory limit support", "WARNING: No swap limit support", "WARNING: No kernel memory TCP limit support", "WARNING: No oom kill disable support"},
		},
		{
			name: "v1 without a pids hierarchy",
			fsys: v1Host(func(f fstest.MapFS) { removeMount(f, "/sys/fs/cgroup/pids") }),
			want: Host{Cgroups: with(allV1, func(c *Cgroups) {
				c.Controllers = []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory"}
				c.Pids = false
			}), Networking: allOn},
		},
		{
			name: "v1 without cpu, cpuset or blkio throttling",
			fsys: v1Host(func(f fstest.MapFS) {
				removeMount(f, "/sys/fs/cgroup/cpu")
				removeMount(f, "/sys/fs/cgroup/cpuset")
				for _, name := range v1Files["blkio"] {
					delete(f, "sys/fs/cgroup/blkio/"+name)
				}
			}),
			want: Host{Cgroups: with(allV1, func(c *Cgroups) {
				c.Controllers = []string{"blkio", "cpuacct", "devices", "freezer", "memory", "pids"}
				c.CPUShares, c.CPUCfs, c.CPUSet = false, false, false
				c.BlkioReadBps, c.BlkioWriteBps, c.BlkioReadIOps, c.BlkioWriteIOps = false, false, false, false
			}), Networking: allOn},
			warnings: []string{
				"WARNING: No cpu cfs quota support", "WARNING: No cpu cfs period support", "WARNING: No cpu shares support", "WARNING: No cpuset support",
				"WARNING: No blkio throttle.read_bps_device support", "WARNING: No blkio throttle.write_bps_device support",
				"WARNING: No blkio throttle.read_iops_device support", "WARNING: No blkio throttle.write_iops_device support",
			},
		},
		{
			name: "v1 with cpu and cpuacct on one hierarchy",
			fsys: v1Host(func(f fstest.MapFS) {
				removeMount(f, "/sys/fs/cgroup/cpu")
				removeMount(f, "/sys/fs/cgroup/cpuacct")
				f["proc/self/mountinfo"].Data = append(f["proc/self/mountinfo"].Data, "\n50 31 0:40 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"...)
				for _, name := range v1Files["cpu"] {
					delete(f, "sys/fs/cgroup/cpu/"+name)
					f["sys/fs/cgroup/cpu,cpuacct/"+name] = &fstest.MapFile{}
				}
			}),
			want: Host{Cgroups: allV1, Networking: allOn},
		},
		{
			name: "v1 with a mount point that needs escaping",
			fsys: v1Host(func(f fstest.MapFS) {
				removeMount(f, "/sys/fs/cgroup/memory")
				f["proc/self/mountinfo"].Data = append(f["proc/self/mountinfo"].Data, "\n50 31 0:40 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"...)
				for _, name := range v1Files["memory"] {
					delete(f, "sys/fs/cgroup/memory/"+name)
					f["sys/fs/cgroup/my memory/"+name] = &fstest.MapFile{}
				}
			}),
			want: Host{Cgroups: allV1, Networking: allOn},
		},
		{
			name: "v2 with every controller",
			fsys: v2Host(nil),
			want: Host{Cgroups: allV2, Networking: allOn},
		},
		{
			name:     "v2 without swap accounting",
			fsys:     v2Host(func(f fstest.MapFS) { delete(f, "sys/fs/cgroup/system.slice/shoal.service/memory.swap.max") }),
			want:     Host{Cgroups: with(allV2, func(c *Cgroups) { c.Swap = false }), Networking: allOn},
			warnings: []string{"WARNING: No swap limit support"},
		},
		{
			// The root cgroup has no limit files; dockerd looks only at its own.
			name:     "v2 in the root cgroup",
			fsys:     v2Host(func(f fstest.MapFS) { f["proc/self/cgroup"] = &fstest.MapFile{Data: []byte("0::/\n")} }),
			want:     Host{Cgroups: with(allV2, func(c *Cgroups) { c.Swap = false }), Networking: allOn},
			warnings: []string{"WARNING: No swap limit support"},
		},
		{
			name: "v2 with only memory and pids",
			fsys: v2Host(func(f fstest.MapFS) {
				f["sys/fs/cgroup/cgroup.controllers"] = &fstest.MapFile{Data: []byte("pids memory\n")}
			}),
			want: Host{Cgroups: Cgroups{Version: "2", Controllers: []string{"memory", "pids"}, Memory: true, Swap: true, Pids: true}, Networking: allOn},
			warnings: []string{
				"WARNING: No cpu cfs quota support", "WARNING: No cpu cfs period support", "WARNING: No cpu shares support", "WARNING: No cpuset support",
				"WARNING: No io.weight support", "WARNING: No io.weight (per device) support",
				"WARNING: No io.max (rbps) support", "WARNING: No io.max (wbps) support", "WARNING: No io.max (riops) support", "WARNING: No io.max (wiops) support",
			},
		},
		{
			name: "v2 without memory",
			fsys: v2Host(func(f fstest.MapFS) {
				f["sys/fs/cgroup/cgroup.controllers"] = &fstest.MapFile{Data: []byte("cpuset cpu io pids\n")}
			}),
			want: Host{Cgroups: with(allV2, func(c *Cgroups) {
				c.Controllers = []string{"cpu", "cpuset", "io", "pids"}
				c.Memory, c.Swap = false, false
			}), Networking: allOn},
			warnings: []string{"WARNING: No memory limit support", "WARNING: No swap limit support"},
		},
		{
			name:     "ip_forward 0",
			fsys:     v2Host(func(f fstest.MapFS) { f["proc/sys/net/ipv4/ip_forward"] = &fstest.MapFile{Data: []byte("0\n")} }),
			want:     Host{Cgroups: allV2, Networking: Networking{BridgeNfIptables: true, BridgeNfIP6tables: true}},
			warnings: []string{"WARNING: IPv4 forwarding is disabled"},
		},
		{
			name: "ip_forward 1, bridge netfilter off",
			fsys: v2Host(func(f fstest.MapFS) {
				f["proc/sys/net/bridge/bridge-nf-call-iptables"] = &fstest.MapFile{Data: []byte("0\n")}
				f["proc/sys/net/bridge/bridge-nf-call-ip6tables"] = &fstest.MapFile{Data: []byte("0\n")}
			}),
			want:     Host{Cgroups: allV2, Networking: Networking{IPv4Forwarding: true}},
			warnings: []string{"WARNING: bridge-nf-call-iptables is disabled", "WARNING: bridge-nf-call-ip6tables is disabled"},
		},
		{
			name: "br_netfilter not loaded",
			fsys: v1Host(func(f fstest.MapFS) {
				delete(f, "proc/sys/net/bridge/bridge-nf-call-iptables")
				delete(f, "proc/sys/net/bridge/bridge-nf-call-ip6tables")
			}),
			want:     Host{Cgroups: allV1, Networking: Networking{IPv4Forwarding: true}},
			warnings: []string{"WARNING: bridge-nf-call-iptables is disabled", "WARNING: bridge-nf-call-ip6tables is disabled"},
		},
		{
			name: "nothing readable",
			fsys: fstest.MapFS{},
			want: Host{Cgroups: Cgroups{Version: "1"}},
			warnings: []string{
				"WARNING: No memory limit support", "WARNING: No swap limit support",
				"WARNING: No kernel memory TCP limit support", "WARNING: No oom kill disable support",
				"WARNING: No cpu cfs quota support", "WARNING: No cpu cfs period support", "WARNING: No cpu shares support", "WARNING: No cpuset support",
				"WARNING: No blkio throttle.read_bps_device support", "WARNING: No blkio throttle.write_bps_device support",
				"WARNING: No blkio throttle.read_iops_device support", "WARNING: No blkio throttle.write_iops_device support",
				"WARNING: IPv4 forwarding is disabled", "WARNING: bridge-nf-call-iptables is disabled", "WARNING: bridge-nf-call-ip6tables is disabled",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Read(tt.fsys)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, got.Warnings()); diff != "" {
				t.Errorf("Warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCgroupDriver(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/shoal/0123abcd", "cgroupfs"},
		{"/default/ctr", "cgroupfs"},
		{"", "cgroupfs"},
		{"system.slice:shoal:0123abcd", "systemd"},
		{"machine.slice:docker:abc", "systemd"},
		{"/weird:path:with:colons", "cgroupfs"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := CgroupDriver(tt.path); got != tt.want {
				t.Errorf("CgroupDriver(%q): got %s, want %s", tt.path, got, tt.want)
			}
		})
	}
}
