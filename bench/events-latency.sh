#!/usr/bin/env bash
# Swarm events across managers: on a local cluster of MANAGERS managers
# (network namespaces, one daemon each), scale a service RUNS times through
# the first manager while the last follows GET /events, and print how long
# each change took to reach that reader — from the store change (the batch
# time every manager stamps the event with) and from the start of the
# client's write. Needs docker-py (Debian's python3-docker).
# Usage: bench/events-latency.sh [MANAGERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
managers=${1:-3}
runs=${2:-50}
name=evl$$
trap 'bin/shoal cluster down $name >/dev/null 2>&1 || true' EXIT
bin/shoal cluster up --name "$name" --managers "$managers" --workers 0 --subnet 10.249.98.0/24 >/dev/null 2>&1
state=/var/lib/shoal-cluster/$name/cluster.json
sock() { python3 -c "import json;print(json.load(open('$state'))['Hosts'][$1]['Socket'])"; }
first=unix://$(sock 0)
last=unix://$(sock $((managers - 1)))
tar=$(mktemp /tmp/evl-rootfs.XXXX.tar)
./scripts/mkrootfs.sh "$tar"
for i in $(seq 0 $((managers - 1))); do DOCKER_HOST=unix://$(sock "$i") docker import "$tar" busybox:latest >/dev/null; done
rm -f "$tar"
load0=$(cut -d' ' -f1 /proc/loadavg)
out=$(python3 bench/events-latency.py "$first" "$last" "$runs")
echo "managers=$managers $out load=$load0→$(cut -d' ' -f1 /proc/loadavg)"
