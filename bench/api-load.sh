#!/usr/bin/env bash
# The API under load: CLIENTS concurrent clients (default 500) hammer a
# one-node Shoal swarm holding SERVICES services of one busybox task each,
# for DURATION — service ls, inspect and task ls, one service update in
# twenty requests, and one client in ten following events — while a probe
# lists services (docker service ls) every 50 ms. Prints the load's
# requests and the last line
#   api-load clients=N ... service_ls_p50_ms=A p99_ms=B max_ms=C probe=WHERE
# The probe runs in a process of its own, as a docker CLI does (PROBE=own,
# the default); PROBE=shared runs it in the load's process, as this script
# did until 2026-12-07, where its requests also wait behind the 450 load
# clients' goroutines on the same 2 cores.
# It starts a daemon: in this project run it under the e2e lock
# (flock /tmp/shoal-e2e.lock bench/api-load.sh).
# With PROFILE=FILE the daemon runs with --pprof and a CPU profile of the
# load's middle 10 seconds is written to FILE (go tool pprof bin/shoal FILE).
# ENGINE=dockerd runs the same load and probe against a one-node swarm of
# Debian's dockerd 20.10 instead (its own network namespace, data root,
# exec root, socket and containerd, as bench/vs-docker.sh starts it), so
# that the two can be compared in one sitting.
# Usage: [ENGINE=shoal|dockerd] [PROBE=own|shared] [PROFILE=FILE] bench/api-load.sh [CLIENTS] [DURATION] [SERVICES]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-500}
duration=${2:-30s}
services=${3:-10}
. bench/lib.sh
make build >/dev/null
go build -o bin/shoal-bench ./cmd/shoal-bench
profile=${PROFILE:-}
case ${ENGINE:-shoal} in
shoal)
	bench_node sbapi0 172.24.0.0/16 2393 ${profile:+--pprof}
	;;
dockerd)
	[ -z "$profile" ] || { echo "PROFILE is for ENGINE=shoal" >&2; exit 2; }
	ensure_dockerd
	tag=al$$
	work=$(mktemp -d /var/tmp/shoal-apiload.XXXX)
	run=$(mktemp -d /run/al-XXXX)
	data=$work
	export DOCKER_HOST=unix://$run/d.sock
	keyfile=/etc/docker/key.json # dockerd 20.10 writes its trust key there
	[ -e "$keyfile" ] && had_key=1 || had_key=0
	dockerd_cleanup() {
		set +e
		timeout 20 docker swarm leave --force >/dev/null 2>&1
		[ -f "$run/d.pid" ] && kill "$(cat "$run/d.pid")" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$(cat "$run/d.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
		bench_sweep "$run" "$work"
		ip netns del "$tag" 2>/dev/null
		[ "$had_key" = 1 ] || rm -f "$keyfile"
	}
	trap dockerd_cleanup EXIT
	netns "$tag" 10.249.98.1
	containerd_for docker "$tag"
	dockerd_in "$tag" "$DOCKER_HOST"
	wait_api "$DOCKER_HOST"
	./scripts/mkrootfs.sh "$work/rootfs.tar"
	docker import "$work/rootfs.tar" busybox:latest >/dev/null
	docker swarm init --advertise-addr 10.249.98.1 >/dev/null
	;;
*)
	echo "ENGINE=$ENGINE: want shoal or dockerd" >&2
	exit 2
	;;
esac

for i in $(seq 1 "$services"); do
	docker service create -d -q --no-resolve-image --stop-signal KILL --name "load$i" busybox sleep 3600 >/dev/null
done
if [ -n "$profile" ]; then
	(sleep 5 && curl -sS --unix-socket "${DOCKER_HOST#unix://}" -o "$profile" 'http://docker/debug/pprof/profile?seconds=10') &
	profiling=$!
fi
sock=${DOCKER_HOST#unix://}
case ${PROBE:-own} in
shared)
	bin/shoal-bench api-load --socket "$sock" --clients "$clients" --duration "$duration"
	echo "probe=shared engine=${ENGINE:-shoal}"
	;;
own)
	bin/shoal-bench api-load --socket "$sock" --clients "$clients" --duration "$duration" --probe 0 >"$data/load.txt" &
	load=$!
	bin/shoal-bench api-load --socket "$sock" --clients 0 --duration "$duration" >"$data/probe.txt"
	wait "$load"
	head -n1 "$data/load.txt"
	grep '^first error' "$data/load.txt" || true
	# The load's figures, then the probe's.
	echo "$(sed -n 's/ probes=.*//p' "$data/load.txt" | tail -n1) $(grep -o 'probes=.*' "$data/probe.txt") probe=own engine=${ENGINE:-shoal}"
	;;
*)
	echo "PROBE=$PROBE: want own or shared" >&2
	exit 2
	;;
esac
# Not a bare wait: the daemon is a job of this shell too.
[ -z "$profile" ] || wait "$profiling"
