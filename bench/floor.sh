#!/usr/bin/env bash
# The floor under any orchestrator on this machine: N containers
# (busybox sleep, from the same busybox-static image as the converge
# benchmarks) created and started straight through the containerd client,
# all at once, against a private containerd such as Shoal starts
# (bench/floorbench). Prints one line per run and a last line
#   floor containers=N runs=R floor_s=MEDIAN (MIN–MAX) load=BEFORE→AFTER
# Run it alone: it starts containerd (in this project:
# flock /tmp/shoal-e2e.lock bench/floor.sh 20).
# Usage: bench/floor.sh [CONTAINERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
containers=${1:-20}
runs=${2:-5}
. bench/lib.sh
go build -o bin/shoal-bench ./cmd/shoal-bench

work=$(mktemp -d /var/tmp/shoal-floor.XXXX)
run=$(mktemp -d /run/fl-XXXX)
trap 'bench_sweep "$run" "$work"' EXIT
./scripts/mkrootfs.sh "$work/rootfs.tar"

load0=$(cut -d' ' -f1 /proc/loadavg)
times=()
while IFS= read -r line; do
	printf '%s\n' "$line"
	if [[ $line =~ ^run\ [0-9]+:\ [0-9]+\ containers\ started\ in\ ([0-9.]+)\ s ]]; then
		times+=("${BASH_REMATCH[1]}")
	fi
done < <(bin/shoal-bench floor --containers "$containers" --runs "$runs" --rootfs "$work/rootfs.tar" \
	--root "$work/containerd" --state "$run/containerd")
[ "${#times[@]}" = "$runs" ] || { echo "floor: ${#times[@]} of $runs runs measured" >&2; exit 1; }
printf 'floor containers=%d runs=%d floor_s=%.2f (%s) load=%s→%s\n' "$containers" "$runs" "$(median "${times[@]}")" "$(spread "${times[@]}")" \
	"$load0" "$(cut -d' ' -f1 /proc/loadavg)"
