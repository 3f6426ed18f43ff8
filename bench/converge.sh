#!/usr/bin/env bash
# Measures how long `service create --replicas N` takes to reach N running
# tasks on a one-node Shoal swarm with real containers (busybox sleep).
# Prints one line per run and a last line converge_s=<median>.
# Usage: bench/converge.sh [REPLICAS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-20}
runs=${2:-3}
. bench/lib.sh
bench_node sbench0 172.28.0.0/16 2399

times=()
for i in $(seq 1 "$runs"); do
	t=$(converge_once "bench$i" "$replicas")
	printf 'run %d: %d replicas running after %.2f s\n' "$i" "$replicas" "$t"
	times+=("$t")
done
printf 'converge_s=%.2f\n' "$(median "${times[@]}")"
