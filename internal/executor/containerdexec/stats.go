package containerdexec

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/moby/moby/api/types/container"
)

// Stats samples the resource use of container idOrName now, as one
// object of GET /containers/{id}/stats without its "pre" fields: CPU,
// memory, block I/O and process counts from the container's cgroup
// (containerd's task metrics, cgroup v1 or v2), network counters from its
// network namespace. A container that does not run has only its name,
// ID and the time, as in dockerd.
func (e *Executor) Stats(ctx context.Context, idOrName string) (container.StatsResponse, error) {
	ctx = e.ns(ctx)
	ctr, rec, err := e.lookup(ctx, idOrName)
	if err != nil {
		return container.StatsResponse{}, err
	}
	s := container.StatsResponse{ID: ctr.ID(), Name: "/" + rec.Name, OSType: runtime.GOOS, Read: time.Now().UTC()}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("load task of %s: %w", ctr.ID(), err)
	}
	m, err := task.Metrics(ctx)
	if cerrdefs.IsNotFound(err) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("metrics of %s: %w", ctr.ID(), err)
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return s, fmt.Errorf("decode metrics of %s: %w", ctr.ID(), err)
	}
	switch d := data.(type) {
	case *v1.Metrics:
		fromCgroup1(&s, d)
	case *v2.Metrics:
		fromCgroup2(&s, d)
	default:
		return s, fmt.Errorf("metrics of %s: unknown type %T", ctr.ID(), data)
	}
	if s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > hostMemory() {
		// No limit: the host's memory is the bound, as docker stats shows.
		s.MemoryStats.Limit = hostMemory()
	}
	s.CPUStats.OnlineCPUs = uint32(runtime.NumCPU())
	if sys, err := systemCPUUsage("/proc/stat"); err == nil {
		s.CPUStats.SystemUsage = sys
	}
	if pid := task.Pid(); pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid)); err == nil {
			s.Networks = netDev(b)
		}
	}
	return s, nil
}

// fromCgroup1 fills s from cgroup v1 metrics, with the fields and memory
// stat names dockerd gives on cgroup v1 hosts.
func fromCgroup1(s *container.StatsResponse, m *v1.Metrics) {
	if c := m.CPU; c != nil {
		if u := c.Usage; u != nil {
			s.CPUStats.CPUUsage = container.CPUUsage{TotalUsage: u.Total, PercpuUsage: u.PerCPU, UsageInKernelmode: u.Kernel, UsageInUsermode: u.User}
		}
		if t := c.Throttling; t != nil {
			s.CPUStats.ThrottlingData = container.ThrottlingData{Periods: t.Periods, ThrottledPeriods: t.ThrottledPeriods, ThrottledTime: t.ThrottledTime}
		}
	}
	if mem := m.Memory; mem != nil {
		s.MemoryStats.Stats = map[string]uint64{
			"cache": mem.Cache, "rss": mem.RSS, "rss_huge": mem.RSSHuge, "mapped_file": mem.MappedFile,
			"dirty": mem.Dirty, "writeback": mem.Writeback, "pgpgin": mem.PgPgIn, "pgpgout": mem.PgPgOut,
			"pgfault": mem.PgFault, "pgmajfault": mem.PgMajFault, "inactive_anon": mem.InactiveAnon,
			"active_anon": mem.ActiveAnon, "inactive_file": mem.InactiveFile, "active_file": mem.ActiveFile,
			"unevictable": mem.Unevictable, "hierarchical_memory_limit": mem.HierarchicalMemoryLimit,
			"hierarchical_memsw_limit": mem.HierarchicalSwapLimit, "total_cache": mem.TotalCache,
			"total_rss": mem.TotalRSS, "total_rss_huge": mem.TotalRSSHuge, "total_mapped_file": mem.TotalMappedFile,
			"total_dirty": mem.TotalDirty, "total_writeback": mem.TotalWriteback, "total_pgpgin": mem.TotalPgPgIn,
			"total_pgpgout": mem.TotalPgPgOut, "total_pgfault": mem.TotalPgFault, "total_pgmajfault": mem.TotalPgMajFault,
			"total_inactive_anon": mem.TotalInactiveAnon, "total_active_anon": mem.TotalActiveAnon,
			"total_inactive_file": mem.TotalInactiveFile, "total_active_file": mem.TotalActiveFile,
			"total_unevictable": mem.TotalUnevictable,
		}
		if u := mem.Usage; u != nil {
			s.MemoryStats.Usage, s.MemoryStats.MaxUsage, s.MemoryStats.Limit, s.MemoryStats.Failcnt = u.Usage, u.Max, u.Limit, u.Failcnt
		}
	}
	if b := m.Blkio; b != nil {
		s.BlkioStats = container.BlkioStats{
			IoServiceBytesRecursive: blkio1(b.IoServiceBytesRecursive),
			IoServicedRecursive:     blkio1(b.IoServicedRecursive),
			IoQueuedRecursive:       blkio1(b.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkio1(b.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkio1(b.IoWaitTimeRecursive),
			IoMergedRecursive:       blkio1(b.IoMergedRecursive),
			IoTimeRecursive:         blkio1(b.IoTimeRecursive),
			SectorsRecursive:        blkio1(b.SectorsRecursive),
		}
	}
	if p := m.Pids; p != nil {
		s.PidsStats = container.PidsStats{Current: p.Current, Limit: p.Limit}
	}
}

func blkio1(es []*v1.BlkIOEntry) []container.BlkioStatEntry {
	out := make([]container.BlkioStatEntry, 0, len(es))
	for _, e := range es {
		out = append(out, container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// fromCgroup2 fills s from cgroup v2 metrics as dockerd does on cgroup v2
// hosts: CPU times in nanoseconds, memory stat names of memory.stat, and
// block I/O as read and write byte counts.
func fromCgroup2(s *container.StatsResponse, m *v2.Metrics) {
	if c := m.CPU; c != nil {
		s.CPUStats.CPUUsage = container.CPUUsage{TotalUsage: c.UsageUsec * 1000, UsageInKernelmode: c.SystemUsec * 1000, UsageInUsermode: c.UserUsec * 1000}
		s.CPUStats.ThrottlingData = container.ThrottlingData{Periods: c.NrPeriods, ThrottledPeriods: c.NrThrottled, ThrottledTime: c.ThrottledUsec * 1000}
	}
	if mem := m.Memory; mem != nil {
		s.MemoryStats.Usage, s.MemoryStats.Limit = mem.Usage, mem.UsageLimit
		s.MemoryStats.Stats = map[string]uint64{
			"anon": mem.Anon, "file": mem.File, "kernel_stack": mem.KernelStack, "slab": mem.Slab, "sock": mem.Sock,
			"shmem": mem.Shmem, "file_mapped": mem.FileMapped, "file_dirty": mem.FileDirty, "file_writeback": mem.FileWriteback,
			"anon_thp": mem.AnonThp, "inactive_anon": mem.InactiveAnon, "active_anon": mem.ActiveAnon,
			"inactive_file": mem.InactiveFile, "active_file": mem.ActiveFile, "unevictable": mem.Unevictable,
			"slab_reclaimable": mem.SlabReclaimable, "slab_unreclaimable": mem.SlabUnreclaimable,
			"pgfault": mem.Pgfault, "pgmajfault": mem.Pgmajfault,
		}
	}
	if io := m.Io; io != nil {
		for _, e := range io.Usage {
			s.BlkioStats.IoServiceBytesRecursive = append(s.BlkioStats.IoServiceBytesRecursive,
				container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: "read", Value: e.Rbytes},
				container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: "write", Value: e.Wbytes})
		}
	}
	if p := m.Pids; p != nil {
		s.PidsStats = container.PidsStats{Current: p.Current, Limit: p.Limit}
	}
}

// netDev reads /proc/PID/net/dev: the counters of each interface of the
// process's network namespace but loopback, by name, as dockerd keys
// them.
func netDev(b []byte) map[string]container.NetworkStats {
	out := map[string]container.NetworkStats{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := make([]uint64, 16)
		for i := range n {
			n[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out[name] = container.NetworkStats{
			RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11],
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Shoal runs on.
const clockTicks = 100

// systemCPUUsage is the host's CPU time in nanoseconds, from the cpu line
// of /proc/stat, as dockerd computes system_cpu_usage.
func systemCPUUsage(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseSystemCPU(b)
}

func parseSystemCPU(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var ticks uint64
		// user nice system idle iowait irq softirq: dockerd's sum.
		for _, v := range f[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse /proc/stat: %w", err)
			}
			ticks += n
		}
		return ticks * (1e9 / clockTicks), nil
	}
	return 0, fmt.Errorf("no cpu line in /proc/stat")
}

// hostMemory is the host's memory in bytes (0 when unknown).
func hostMemory() uint64 {
	n, err := memTotal("/proc/meminfo")
	if err != nil {
		return 0
	}
	return uint64(n)
}
