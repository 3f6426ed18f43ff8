#!/usr/bin/env bash
# Images between nodes: on a local cluster of one manager and four workers
# (network namespaces, one daemon each), time how long an image of about
# MB megabytes loaded on the manager takes to run as a 5-replica service,
# one task per node:
#   peer:     the image is loaded on the manager only (docker load); the
#             workers fetch it from the swarm's nodes (docs/IMAGES-PEER.md);
#   registry: the image is loaded on the manager and pushed to a registry
#             on the cluster bridge (go-containerregistry's, run by
#             shoal-bench registry-serve; the push is timed apart); every
#             node pulls it from there.
# Each run makes two new images (random data layers, so nothing is cached
# anywhere) and measures both, in turns whose order alternates. The clock
# runs from `docker service create` until `docker service ls` shows 5/5.
# Prints one line per measurement, with where the workers' fetches came
# from (their daemon logs) and the CPU seconds the manager's daemon and the
# registry process spent during it (the holders: the manager serves the
# peer runs), and a last line with the medians.
# The transfer alone, without the cluster, for a profile: BenchmarkFetch
# in internal/imagepeer (its doc comment has the command).
# Usage: bench/imagepeer.sh [RUNS] [MB]
# SHOAL=path measures another build (default bin/shoal).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
mb=${2:-50}
layers=5
shoal=${SHOAL:-bin/shoal}
name=ip$$
subnet=10.249.96.0/24
reg=10.249.96.1:5000
work=$(mktemp -d /var/tmp/imagepeer.XXXX)
regpid=
cleanup() {
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null || true
	$shoal cluster down "$name" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/shoal-bench" ./cmd/shoal-bench
./scripts/mkrootfs.sh "$work/rootfs.tar"

state=/var/lib/shoal-cluster/$name/cluster.json
sock() { jq -r ".Hosts[$1].Socket" "$state"; }
logof() { echo "$(jq -r ".Hosts[$1].DataRoot" "$state")/daemon.log"; }
dk() { local h=$1; shift; DOCKER_HOST=unix://$(sock "$h") docker "$@"; }

# mkimage TAG OUT writes a docker save archive of busybox with $layers
# layers of random bytes on top, tagged TAG.
mkimage() {
	local d diffs="" files="" cfg sum i
	d=$(mktemp -d "$work/img.XXXX")
	cp "$work/rootfs.tar" "$d/l0.tar"
	for i in $(seq 1 "$layers"); do
		mkdir -p "$d/l$i/data"
		head -c $((mb * 1024 * 1024 / layers)) /dev/urandom >"$d/l$i/data/r$i"
		tar -C "$d/l$i" --numeric-owner --owner=0 --group=0 -cf "$d/l$i.tar" data
		rm -rf "$d/l$i"
	done
	for i in $(seq 0 "$layers"); do
		diffs+="${diffs:+,}\"sha256:$(sha256sum "$d/l$i.tar" | cut -d' ' -f1)\""
		files+="${files:+,}\"l$i.tar\""
	done
	cfg="{\"architecture\":\"$(go env GOARCH)\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sleep\",\"3600\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$diffs]}}"
	printf '%s' "$cfg" >"$d/config.json"
	sum=$(sha256sum "$d/config.json" | cut -d' ' -f1)
	mv "$d/config.json" "$d/$sum.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":[%s]}]' "$sum" "$1" "$files" >"$d/manifest.json"
	tar -C "$d" -cf "$2" manifest.json "$sum.json" $(cd "$d" && ls l*.tar)
	rm -rf "$d"
}

# converge SERVICE IMAGE creates the service and prints the seconds until
# 5/5 run ("5/5 (max 1 per node)"), giving up after 5 minutes.
converge() {
	local start end deadline
	start=$(date +%s.%N)
	dk 0 service create -d -q --name "$1" --replicas 5 --replicas-max-per-node 1 "$2" >/dev/null
	deadline=$(($(date +%s) + 300))
	until dk 0 service ls --filter "name=$1" --format '{{.Replicas}}' | grep -q "^5/5"; do
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "$1 did not run 5/5 within 5 minutes" >&2
			dk 0 service ps --no-trunc "$1" >&2
			exit 1
		fi
		sleep 0.05
	done
	end=$(date +%s.%N)
	echo "$end - $start" | bc -l
}

# cpu PID prints the CPU seconds (user and system) process PID has used.
cpu() {
	awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}

# cpus PROG... runs PROG and appends to its output the CPU seconds the
# manager's daemon and the registry spent while it ran.
cpus() {
	local m0 r0 out
	m0=$(cpu "$(jq -r '.Hosts[0].Pid' "$state")")
	r0=$(cpu "$regpid")
	out=$("$@")
	printf '%s manager_cpu=%.2f registry_cpu=%.2f\n' "$out" \
		"$(echo "$(cpu "$(jq -r '.Hosts[0].Pid' "$state")") - $m0" | bc -l)" "$(echo "$(cpu "$regpid") - $r0" | bc -l)"
}

# sources IMAGE counts the workers' fetches of IMAGE from nodes, by the
# holder's role, e.g. "manager=3 peer=1".
sources() {
	local h m=0 p=0
	for h in 1 2 3 4; do
		m=$((m + $(grep -c "image fetched from a node of the swarm.*image=$1.*source=manager" "$(logof "$h")" || true)))
		p=$((p + $(grep -c "image fetched from a node of the swarm.*image=$1.*source=peer" "$(logof "$h")" || true)))
	done
	echo "from_manager=$m from_peer=$p"
}

if ! out=$($shoal cluster up --name "$name" --managers 1 --workers 4 --subnet "$subnet" --daemon-arg=--insecure-registry=$reg 2>&1); then
	printf '%s\n' "$out" >&2
	exit 1
fi
"$work/shoal-bench" registry-serve --addr "$reg" &
regpid=$!
load0=$(cut -d' ' -f1 /proc/loadavg)

# The peer image is named on the registry's host too but never pushed
# there: `docker service create` first asks the daemon for the image's
# registry digest (GET /distribution), and under docker.io's name that
# lookup waits about 1 s for a DNS answer the cluster's namespaces never
# get, where the bench registry answers 404 at once. Both runs pay the same
# quick lookup; the manager then pins the image it holds and the workers
# fetch it from the nodes.
peer() {
	local img=$reg/peerbench:p$1 t cpu_use
	mkimage "$img" "$work/p.tar"
	dk 0 load -i "$work/p.tar" >/dev/null
	read -r t cpu_use < <(cpus converge "p$1" "$img")
	peer_s+=("$t")
	printf 'run %d peer: %.2f s (%s %s)\n' "$1" "$t" "$(sources "$img")" "$cpu_use"
	dk 0 service rm "p$1" >/dev/null
}

registry() {
	mkimage "$reg/peerbench:r$1" "$work/r.tar"
	dk 0 load -i "$work/r.tar" >/dev/null
	local start push t cpu_use
	start=$(date +%s.%N)
	"$work/shoal-bench" registry-push --tar "$work/r.tar" --ref "$reg/peerbench:r$1"
	push=$(echo "$(date +%s.%N) - $start" | bc -l)
	read -r t cpu_use < <(cpus converge "r$1" "$reg/peerbench:r$1")
	reg_s+=("$t")
	push_s+=("$push")
	printf 'run %d registry: %.2f s, after a push of %.2f s (%s %s)\n' "$1" "$t" "$push" "$(sources "$reg/peerbench:r$1")" "$cpu_use"
	dk 0 service rm "r$1" >/dev/null
}

peer_s=()
reg_s=()
push_s=()
for i in $(seq 1 "$runs"); do
	if [ $((i % 2)) = 1 ]; then
		peer "$i"
		registry "$i"
	else
		registry "$i"
		peer "$i"
	fi
done
printf 'imagepeer nodes=5 image_mb=%d layers=%d runs=%d peer_s=%.2f (%s) registry_s=%.2f (%s) push_s=%.2f (%s) load=%s→%s\n' \
	"$mb" "$((layers + 1))" "$runs" "$(median "${peer_s[@]}")" "$(spread "${peer_s[@]}")" \
	"$(median "${reg_s[@]}")" "$(spread "${reg_s[@]}")" "$(median "${push_s[@]}")" "$(spread "${push_s[@]}")" \
	"$load0" "$(cut -d' ' -f1 /proc/loadavg)"
