#!/usr/bin/env bash
# Compares `docker info` of a Shoal node with Debian's dockerd (docker.io)
# and with what the machine has, field by field. Each daemon runs in turn
# in one private network namespace, with its own data root, exec root and
# socket; dockerd with --bridge=none --iptables=false.
#
#   scripts/info-vs-docker.sh            the machine as it is
#   scripts/info-vs-docker.sh degraded   a machine that lacks things, the same for both
#                                        daemons: the memory and cpu hierarchies' files are
#                                        hidden under empty tmpfs mounts (in a private mount
#                                        namespace) and bridge-nf-call-ip(6)tables are 0
#
# Needs root, bin/shoal (go build -o bin/shoal ./cmd/shoal) and dockerd:
#   printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
#   apt-get install -y --no-install-recommends docker.io
# Run it under flock /tmp/shoal-e2e.lock: it shares the host with the e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
ns=shoal-info-$$
data=$(mktemp -d /var/tmp/shoal-info.XXXX)
run=$(mktemp -d /run/si-XXXX)
out=$data/out
mkdir -p "$out" "$run/d" "$run/s"

# The daemons' pids, and what the cleanup leaves alone until they are gone.
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
	# Shoal's private containerd outlives its daemon by design.
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^containerd --config $run/"; then
			kill "${p#/proc/}" 2>/dev/null || true
		fi
	done
	sleep 1
	grep -o " $run[^ ]*\| $data[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$data" "$run"
}
trap cleanup EXIT

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
if [ "$mode" = degraded ]; then
	nsenter --net="/run/netns/$ns" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
fi

# start CMD... runs CMD in the namespace (and, degraded, behind the empty
# tmpfs mounts). unshare, sh and nsenter each exec the next, so $! is the
# daemon itself.
start() {
	local hide=""
	if [ "$mode" = degraded ]; then
		hide="mount -t tmpfs none /sys/fs/cgroup/memory && mount -t tmpfs none /sys/fs/cgroup/cpu && "
	fi
	unshare -m --propagation private sh -c "$hide"'exec nsenter --net=/run/netns/'"$ns"' "$@"' start "$@" &
	pids+=($!)
}

wait_socket() {
	for _ in $(seq 1 150); do docker -H "unix://$1" version >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "no daemon answers on $1" >&2
	return 1
}

fields=(ID Driver DriverStatus CgroupDriver CgroupVersion MemoryLimit SwapLimit OomKillDisable
	CPUCfsPeriod CPUCfsQuota CPUShares CPUSet PidsLimit IPv4Forwarding Warnings)
template=""
for f in "${fields[@]}"; do template+="{{json .$f}}"$'\n'; done

# The machine, as each daemon would see it.
machine() {
	unshare -m --propagation private sh -c "${1:-}"'exec nsenter --net=/run/netns/'"$ns"' sh -c "$0"' '
		echo "/sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup)"
		if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
			echo "v2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
		else
			echo "v1 controllers mounted: $(awk '\''$1 !~ /^#/ && $2 != 0 && $4 == 1 {print $1}'\'' /proc/cgroups | tr "\n" " ")"
		fi
		for f in memory/memory.memsw.limit_in_bytes memory/memory.oom_control memory/memory.kmem.tcp.limit_in_bytes \
			cpu/cpu.cfs_quota_us cpu/cpu.shares; do
			[ -e /sys/fs/cgroup/$f ] && echo "has $f" || echo "lacks $f"
		done
		sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables'
}

start dockerd --data-root "$data/d" --exec-root "$run/d" -H "unix://$run/d/d.sock" \
	--pidfile "$run/d/d.pid" --bridge=none --iptables=false >"$out/dockerd.log" 2>&1
wait_socket "$run/d/d.sock"
docker -H "unix://$run/d/d.sock" info --format "$template" >"$out/docker"
docker -H "unix://$run/d/d.sock" info >"$out/docker.txt" 2>&1
kill "${pids[0]}"

start bin/shoal daemon --data-root "$data/s" --exec-root "$run/s" --host "unix://$run/s/s.sock" \
	--bridge-name "sbi$$" --bridge-cidr 172.31.250.0/24 >"$out/shoal.log" 2>&1
wait_socket "$run/s/s.sock"
docker -H "unix://$run/s/s.sock" info --format "$template" >"$out/shoal"
docker -H "unix://$run/s/s.sock" info >"$out/shoal.txt" 2>&1
snapshot_root=$(find "$data/s/containerd" -maxdepth 1 -name 'io.containerd.snapshotter.v1.*' -printf '%f ' 2>/dev/null)
engine_id=$(cat "$data/s/engine-id")

hide=""
if [ "$mode" = degraded ]; then
	hide="mount -t tmpfs none /sys/fs/cgroup/memory && mount -t tmpfs none /sys/fs/cgroup/cpu && "
fi
echo "== the machine${mode:+ ($mode)}, after both daemons set it up"
machine "$hide"
echo "Shoal's containerd snapshotter directories: $snapshot_root"
echo "Shoal's engine-id file: $engine_id"
echo
echo "== docker info, field by field"
paste "$out/docker" "$out/shoal" | while IFS=$'\t' read -r d s; do
	[ ${#fields[@]} -gt 0 ] || break
	f=${fields[0]}
	fields=("${fields[@]:1}")
	mark="  "
	[ "$d" = "$s" ] || mark="≠ "
	printf '%s%-15s dockerd: %s\n%17s shoal:   %s\n' "$mark" "$f" "$d" "" "$s"
done
