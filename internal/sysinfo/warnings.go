package sysinfo

// Warnings are the lines `docker info` prints under WARNING for what the
// host lacks, in dockerd 20.10's words and order. Some apply to one cgroup
// version only: dockerd keeps quiet where the user could do nothing (no
// kernel memory or OOM-kill switch exists on v2, and kernels since 5.0
// have no blkio weight on v1).
func (h Host) Warnings() []string {
	cg, v1 := h.Cgroups, h.Cgroups.Version != "2"
	var w []string
	add := func(missing bool, text string) {
		if missing {
			w = append(w, "WARNING: "+text)
		}
	}
	either := func(v1Text, v2Text string) string {
		if v1 {
			return v1Text
		}
		return v2Text
	}
	add(!cg.Memory, "No memory limit support")
	add(!cg.Swap, "No swap limit support")
	add(v1 && !cg.KernelMemoryTCP, "No kernel memory TCP limit support")
	add(v1 && !cg.OomKillDisable, "No oom kill disable support")
	add(!cg.CPUCfs, "No cpu cfs quota support")
	add(!cg.CPUCfs, "No cpu cfs period support")
	add(!cg.CPUShares, "No cpu shares support")
	add(!cg.CPUSet, "No cpuset support")
	add(!v1 && !cg.BlkioWeight, "No io.weight support")
	add(!v1 && !cg.BlkioWeightDevice, "No io.weight (per device) support")
	add(!cg.BlkioReadBps, either("No blkio throttle.read_bps_device support", "No io.max (rbps) support"))
	add(!cg.BlkioWriteBps, either("No blkio throttle.write_bps_device support", "No io.max (wbps) support"))
	add(!cg.BlkioReadIOps, either("No blkio throttle.read_iops_device support", "No io.max (riops) support"))
	add(!cg.BlkioWriteIOps, either("No blkio throttle.write_iops_device support", "No io.max (wiops) support"))
	add(!h.Networking.IPv4Forwarding, "IPv4 forwarding is disabled")
	add(!h.Networking.BridgeNfIptables, "bridge-nf-call-iptables is disabled")
	add(!h.Networking.BridgeNfIP6tables, "bridge-nf-call-ip6tables is disabled")
	return w
}
