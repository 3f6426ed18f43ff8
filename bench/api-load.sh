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
# Usage: [PROBE=own|shared] [PROFILE=FILE] bench/api-load.sh [CLIENTS] [DURATION] [SERVICES]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-500}
duration=${2:-30s}
services=${3:-10}
. bench/lib.sh
make build >/dev/null
go build -o bin/shoal-bench ./cmd/shoal-bench
profile=${PROFILE:-}
bench_node sbapi0 172.24.0.0/16 2393 ${profile:+--pprof}

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
	echo "probe=shared"
	;;
own)
	bin/shoal-bench api-load --socket "$sock" --clients "$clients" --duration "$duration" --probe 0 >"$data/load.txt" &
	load=$!
	bin/shoal-bench api-load --socket "$sock" --clients 0 --duration "$duration" >"$data/probe.txt"
	wait "$load"
	head -n1 "$data/load.txt"
	# The load's figures, then the probe's.
	echo "$(sed -n 's/ probes=.*//p' "$data/load.txt" | tail -n1) $(grep -o 'probes=.*' "$data/probe.txt") probe=own"
	;;
*)
	echo "PROBE=$PROBE: want own or shared" >&2
	exit 2
	;;
esac
# Not a bare wait: the daemon is a job of this shell too.
[ -z "$profile" ] || wait "$profiling"
