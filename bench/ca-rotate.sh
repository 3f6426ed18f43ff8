#!/usr/bin/env bash
# Root CA rotation time: on a local cluster of MANAGERS managers and WORKERS
# workers (network namespaces, one daemon each), time `docker swarm ca
# --rotate`, which returns once every node holds a certificate of the new
# root and trusts it alone. Each run rotates again on the same cluster.
# Prints one line per run and a last line rotate_s=<median>.
# Usage: bench/ca-rotate.sh [MANAGERS] [WORKERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
managers=${1:-3}
workers=${2:-2}
runs=${3:-3}
name=rot$$
trap 'bin/shoal cluster down $name >/dev/null 2>&1 || true' EXIT
bin/shoal cluster up --name "$name" --managers "$managers" --workers "$workers" --subnet 10.249.97.0/24 >/dev/null 2>&1
state=/var/lib/shoal-cluster/$name/cluster.json
sock=$(python3 -c "import json;print(json.load(open('$state'))['Hosts'][0]['Socket'])")
export DOCKER_HOST=unix://$sock
times=()
for i in $(seq 1 "$runs"); do
	start=$(date +%s.%N)
	docker swarm ca --rotate >/dev/null
	end=$(date +%s.%N)
	t=$(echo "$end - $start" | bc -l)
	printf 'run %d: %d nodes moved to a new root in %.2f s\n' "$i" "$((managers + workers))" "$t"
	times+=("$t")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'rotate_s=%.2f\n' "$median"
