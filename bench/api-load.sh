#!/usr/bin/env bash
# The API under load: CLIENTS concurrent clients (default 500) hammer a
# one-node Shoal swarm holding SERVICES services of one busybox task each,
# for DURATION — service ls, inspect and task ls, one service update in
# twenty requests, and one client in ten following events — while a probe
# lists services (docker service ls) every 50 ms. Prints the load's
# requests and the last line
#   api-load clients=N ... service_ls_p50_ms=A p99_ms=B max_ms=C
# It starts a daemon: in this project run it under the e2e lock
# (flock /tmp/shoal-e2e.lock bench/api-load.sh).
# With PROFILE=FILE the daemon runs with --pprof and a CPU profile of the
# load's middle 10 seconds is written to FILE (go tool pprof bin/shoal FILE).
# Usage: [PROFILE=FILE] bench/api-load.sh [CLIENTS] [DURATION] [SERVICES]
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
fi
bin/shoal-bench api-load --socket "${DOCKER_HOST#unix://}" --clients "$clients" --duration "$duration"
wait
