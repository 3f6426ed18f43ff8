#!/usr/bin/env bash
# Runs a command so that crun can run containers on a host with hybrid
# cgroups (v1 controllers, and a cgroup2 hierarchy at /sys/fs/cgroup/unified)
# whose cgroup2 hierarchy has controllers: crun refuses every container there
# ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"). While the command runs, a v1 hierarchy mounted in a mount
# namespace of its own holds those controllers (hugetlb on this project's
# machine), so the cgroup2 hierarchy has none; when it ends they go back.
# Nothing else on the host sees the v1 hierarchy. On a cgroup v2 host, or
# a hybrid one without cgroup2 controllers, it just runs the command.
# Usage: scripts/crun-on-hybrid.sh CMD [ARGS...]
set -euo pipefail
unified=/sys/fs/cgroup/unified/cgroup.controllers
ctrls=$( [ -r "$unified" ] && tr ' ' ',' <"$unified" || true)
if [ -z "$ctrls" ]; then
	exec "$@"
fi
dir=$(mktemp -d /tmp/crun-hybrid.XXXX)
ready=$dir.ready
unshare -m --propagation private sh -c 'mount -t cgroup -o "$1" crun-hybrid "$2" && : >"$3" && exec sleep infinity' \
	sh "$ctrls" "$dir" "$ready" &
holder=$!
release() {
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	rm -rf "$dir" "$ready"
	# The kernel gives the controllers back once the hierarchy is gone.
	for _ in $(seq 1 50); do
		[ -n "$(cat "$unified")" ] && return
		sleep 0.1
	done
	echo "crun-on-hybrid: $ctrls not back in cgroup2 yet" >&2
}
trap release EXIT
for _ in $(seq 1 50); do
	[ -e "$ready" ] && break
	kill -0 "$holder" 2>/dev/null || { echo "crun-on-hybrid: could not move $ctrls to a v1 hierarchy" >&2; exit 1; }
	sleep 0.1
done
[ -e "$ready" ] || { echo "crun-on-hybrid: v1 hierarchy for $ctrls not mounted" >&2; exit 1; }
echo "crun-on-hybrid: $ctrls held by a v1 hierarchy; cgroup2 controllers now: [$(cat "$unified")]" >&2
"$@"
