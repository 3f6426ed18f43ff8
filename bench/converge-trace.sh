#!/usr/bin/env bash
# Where a converge's time goes on Shoal: bench/converge.sh's measurement on
# a node logging at debug level, then, from the daemon's log, when each task
# reached each step (assigned to the agent, preparing, image ready, network
# sandbox ready, container created, starting, containerd task created,
# started, running, status committed), in seconds from `service create`:
# the first, median and last task. Prints a table per run and a last line
#   converge_trace replicas=N runs=R converge_s=… assigned_s=… created_s=… started_s=… committed_s=…
# with the medians over the runs of when the last task reached each of
# those steps. Run it alone: it starts a daemon (in this project:
# flock /tmp/shoal-e2e.lock bench/converge-trace.sh 20).
# Usage: bench/converge-trace.sh [REPLICAS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-20}
runs=${2:-3}
. bench/lib.sh
go build -o bin/shoal ./cmd/shoal
bench_node strace0 172.26.0.0/16 2396 --log-level debug

summaries=()
for i in $(seq 1 "$runs"); do
	from=$(($(wc -l <"$data/daemon.log") + 1))
	start=$(date +%s.%N)
	t=$(converge_once "trace$i" "$replicas")
	tail -n +"$from" "$data/daemon.log" >"$run/trace.log"
	summaries+=("$(python3 bench/converge-trace.py "$i" "$start" "$t" "$run/trace.log")")
done
python3 bench/converge-trace.py summary "$replicas" "${summaries[@]}"
