#!/usr/bin/env bash
# Runs a command so that crun can run containers on a host with hybrid
# cgroups (v1 controllers, and a cgroup2 hierarchy at /sys/fs/cgroup/unified)
# whose cgroup2 hierarchy has controllers: crun refuses every container there
# ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"). While the command runs, a v1 hierarchy holds those controllers
# (hugetlb on this project's machine), mounted where runc and containerd's
# shim find it in the host's mountinfo (both fail on a controller a process
# is in but no mount shows); when the command ends it is unmounted and the
# kernel gives the controllers back to cgroup2 once no cgroup uses them.
# On a cgroup v2 host, or a hybrid one without cgroup2 controllers, it just
# runs the command. Take the e2e lock first: it changes the host's cgroups
# for as long as the command runs.
# Usage: scripts/crun-on-hybrid.sh CMD [ARGS...]
set -euo pipefail
unified=/sys/fs/cgroup/unified/cgroup.controllers
ctrls=$( [ -r "$unified" ] && tr ' ' ',' <"$unified" || true)
if [ -z "$ctrls" ]; then
	exec "$@"
fi
dir=$(mktemp -d /run/crun-hybrid.XXXX)
mount -t cgroup -o "$ctrls" crun-hybrid "$dir"
release() {
	umount "$dir" || umount -l "$dir"
	rmdir "$dir"
	for _ in $(seq 1 100); do
		[ -n "$(cat "$unified")" ] && return
		sleep 0.1
	done
	echo "crun-on-hybrid: $ctrls not back in cgroup2 after 10 s (a cgroup of the v1 hierarchy lives on)" >&2
}
trap release EXIT
echo "crun-on-hybrid: $ctrls on a v1 hierarchy at $dir; cgroup2 controllers now: [$(cat "$unified")]" >&2
"$@"
