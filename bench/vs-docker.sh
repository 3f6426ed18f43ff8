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

ensure_dockerd
go build -o bin/shoal ./cmd/shoal
go build -o bin/shoal-bench ./cmd/shoal-bench

tag=vs$$
work=$(mktemp -d /var/tmp/shoal-vs.XXXX) # data roots and logs
run=$(mktemp -d /run/vs-XXXX)             # exec roots, sockets
dsock=unix://$run/d.sock
ssock=unix://$run/s.sock
# dockerd 20.10 writes its trust key to /etc/docker/key.json
[ -e /etc/docker/key.json ] && had_key=1 || had_key=0

# cleanup takes both engines out of their swarms (which removes the
# tasks' containers), then stops them as every side-by-side bench does.
cleanup() {
	local h
	for h in "$dsock" "$ssock"; do DOCKER_HOST=$h timeout 20 docker swarm leave --force >/dev/null 2>&1; done
	side_by_side_down "$tag" "$run" "$work" "$had_key"
}
trap cleanup EXIT

netns "$tag-d" 10.249.97.1
netns "$tag-s" 10.249.97.2
./scripts/mkrootfs.sh "$work/rootfs.tar"

containerd_for docker "$tag-d"
dockerd_in "$tag-d" "$dsock"
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
