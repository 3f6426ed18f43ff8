#!/usr/bin/env bash
# Shoal against Docker and the floor: the same converge measurement
# (bench/lib.sh, converge_once: `docker service create --replicas N` until
# `docker service ls` shows N/N) on a one-node Shoal swarm and on a
# one-node Docker swarm (Debian's docker.io), started side by side, and the
# floor (bench/floor.sh: N containers started straight through containerd),
# measured in turns so that all three see the same load. Each engine runs
# in a network namespace of its own with its own data root, exec root,
# socket and containerd (the same containerd binary, with the plugins
# Shoal's private containerd disables disabled too), and all get the same
# image, imported from busybox-static. Prints a line per run (its three
# times and the ratios of that run) and a last line
#   vs_docker replicas=N runs=R shoal_s=MEDIAN (MIN–MAX) docker_s=… floor_s=… shoal/docker=MEDIAN (MIN–MAX) shoal/floor=… load=BEFORE→AFTER
# where the ratios are the medians of the runs' own ratios and load is the
# one-minute load average before the first run and after the last.
# Installs docker.io when dockerd is missing. Run it alone: it starts
# daemons (in this project: flock /tmp/shoal-e2e.lock bench/vs-docker.sh 20).
# Usage: bench/vs-docker.sh [REPLICAS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-20}
runs=${2:-5}
. bench/lib.sh

# ensure_dockerd installs Debian's docker.io when dockerd is missing,
# starting nothing: policy-rc.d makes the package's scripts skip their
# service starts.
ensure_dockerd() {
	command -v dockerd >/dev/null && return
	echo "installing docker.io (dockerd is missing)" >&2
	[ -e /usr/sbin/policy-rc.d ] && { echo "/usr/sbin/policy-rc.d exists; not touching it" >&2; exit 1; }
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >&2 || rc=$?
	rm -f /usr/sbin/policy-rc.d
	[ "$rc" = 0 ] || exit "$rc"
}
ensure_dockerd
go build -o bin/shoal ./cmd/shoal
go build -o bin/shoal-bench ./cmd/shoal-bench

tag=vs$$
work=$(mktemp -d /var/tmp/shoal-vs.XXXX) # data roots and logs
run=$(mktemp -d /run/vs-XXXX)             # exec roots, sockets
dsock=unix://$run/d.sock
ssock=unix://$run/s.sock
keyfile=/etc/docker/key.json # dockerd 20.10 writes its trust key there
[ -e "$keyfile" ] && had_key=1 || had_key=0

cleanup() {
	set +e
	for h in "$dsock" "$ssock"; do DOCKER_HOST=$h timeout 20 docker swarm leave --force >/dev/null 2>&1; done
	local pids p alive
	pids=$(cat "$run/d.pid" "$run/s.pid" 2>/dev/null)
	for p in $pids; do kill "$p" 2>/dev/null; done
	for _ in $(seq 1 50); do
		alive=0
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.2
	done
	bench_sweep "$run" "$work"
	ip netns del "$tag-d" 2>/dev/null
	ip netns del "$tag-s" 2>/dev/null
	[ "$had_key" = 1 ] || rm -f "$keyfile"
}
trap cleanup EXIT

# netns NAME ADDR makes a network namespace with loopback and a veth pair
# of its own, one end holding ADDR, the address the swarm advertises:
# nothing in it reaches the host's network.
netns() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n "$1" link add swarm0 type veth peer name swarm1
	ip -n "$1" addr add "$2/24" dev swarm0
	ip -n "$1" link set swarm0 up
	ip -n "$1" link set swarm1 up
}

# containerd_for NAME starts a containerd for dockerd under $run/NAME-c,
# configured as Shoal configures its private one (internal/privatecontainerd).
containerd_for() {
	local root=$work/$1-containerd state=$run/$1-c
	mkdir -p "$root" "$state"
	cat >"$state/config.toml" <<-EOF
		version = 2
		root = "$root"
		state = "$state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]
		[grpc]
		  address = "$state/containerd.sock"
		[ttrpc]
		  address = "$state/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
	EOF
	nsenter --net=/run/netns/"$tag-d" setsid containerd --config "$state/config.toml" >"$work/$1-containerd.log" 2>&1 &
	disown
	for _ in $(seq 1 100); do ctr --address "$state/containerd.sock" version >/dev/null 2>&1 && return; sleep 0.1; done
	echo "containerd for $1 did not come up; its log:" >&2
	cat "$work/$1-containerd.log" >&2
	exit 1
}

# wait_api HOST waits until the engine at HOST answers.
wait_api() {
	for _ in $(seq 1 150); do DOCKER_HOST=$1 docker version >/dev/null 2>&1 && return; sleep 0.2; done
	echo "engine at $1 did not come up" >&2
	exit 1
}

netns "$tag-d" 10.249.97.1
netns "$tag-s" 10.249.97.2
./scripts/mkrootfs.sh "$work/rootfs.tar"

containerd_for docker
echo '{}' >"$work/daemon.json"
nsenter --net=/run/netns/"$tag-d" setsid dockerd --config-file "$work/daemon.json" \
	--data-root "$work/docker" --exec-root "$run/d" --pidfile "$run/d.pid" -H "$dsock" \
	--containerd "$run/docker-c/containerd.sock" --iptables=false --ip-masq=false \
	--userland-proxy=false --log-level info >"$work/docker.log" 2>&1 &
disown
nsenter --net=/run/netns/"$tag-s" setsid bin/shoal daemon --data-root "$work/shoal" --exec-root "$run/s" \
	--host "$ssock" --pidfile "$run/s.pid" >"$work/shoal.log" 2>&1 &
disown
wait_api "$dsock"
wait_api "$ssock"

DOCKER_HOST=$dsock docker import "$work/rootfs.tar" busybox:latest >/dev/null
DOCKER_HOST=$ssock bin/shoal image import "$work/rootfs.tar" busybox:latest >/dev/null
DOCKER_HOST=$dsock docker swarm init --advertise-addr 10.249.97.1 >/dev/null
DOCKER_HOST=$ssock docker swarm init --advertise-addr 10.249.97.2 >/dev/null

# A first service on each, not measured: what happens once per swarm
# (Docker sets up networking for its first task) is not the converge.
for h in "$dsock" "$ssock"; do DOCKER_HOST=$h converge_once warmup 1 >/dev/null; done

# floor_once prints the seconds the floor benchmark (bench/floorbench) takes
# to start the same number of containers, with a containerd of its own.
floor_once() {
	bin/shoal-bench floor --runs 1 --containers "$replicas" --rootfs "$work/rootfs.tar" \
		--root "$work/floor-containerd" --state "$run/fl" |
		sed -n 's/^run 1: [0-9]* containers started in \([0-9.]*\) s.*/\1/p'
}

load0=$(cut -d' ' -f1 /proc/loadavg)
declare -A times
ratio_docker=()
ratio_floor=()
contenders=(shoal docker floor)
for i in $(seq 1 "$runs"); do
	# The order turns every run, so that none always runs right after
	# another's removals.
	declare -A t=()
	for k in 0 1 2; do
		what=${contenders[$(((i + k) % 3))]}
		case $what in
		shoal) t[$what]=$(DOCKER_HOST=$ssock converge_once "c$i" "$replicas") ;;
		docker) t[$what]=$(DOCKER_HOST=$dsock converge_once "c$i" "$replicas") ;;
		floor) t[$what]=$(floor_once) ;;
		esac
		times[$what]+=" ${t[$what]}"
	done
	ratio_docker+=("$(echo "${t[shoal]} / ${t[docker]}" | bc -l)")
	ratio_floor+=("$(echo "${t[shoal]} / ${t[floor]}" | bc -l)")
	printf 'run %d: %d replicas: shoal %.2f s, docker %.2f s, floor %.2f s; shoal/docker %.2f, shoal/floor %.2f\n' \
		"$i" "$replicas" "${t[shoal]}" "${t[docker]}" "${t[floor]}" "${ratio_docker[-1]}" "${ratio_floor[-1]}"
done
# summary WHAT prints "MEDIAN (MIN–MAX)" of a contender's times.
summary() {
	local -a v
	read -ra v <<<"${times[$1]}"
	printf '%.2f (%s)' "$(median "${v[@]}")" "$(spread "${v[@]}")"
}
printf 'vs_docker replicas=%d runs=%d shoal_s=%s docker_s=%s floor_s=%s shoal/docker=%.2f (%s) shoal/floor=%.2f (%s) load=%s→%s\n' \
	"$replicas" "$runs" "$(summary shoal)" "$(summary docker)" "$(summary floor)" \
	"$(median "${ratio_docker[@]}")" "$(spread "${ratio_docker[@]}")" "$(median "${ratio_floor[@]}")" "$(spread "${ratio_floor[@]}")" \
	"$load0" "$(cut -d' ' -f1 /proc/loadavg)"
