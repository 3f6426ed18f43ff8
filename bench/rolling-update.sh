#!/usr/bin/env bash
# Measures how long a rolling update of N replicas to a new image takes on
# a one-node Shoal swarm with real containers: parallelism 2, delay 0,
# monitor 1 s, stop-first, from `docker service update -d` until
# UpdateStatus is "completed" with every task of the new image running.
# The tasks stop on SIGTERM as a server does (WORKLOAD graceful, the
# default), or ignore it as `sleep` run as PID 1 does (WORKLOAD sleep): then
# every stop waits out the 10 s stop grace period, as in Docker.
# Prints one line per run and a last line rolling_update_s=<median>.
# Usage: bench/rolling-update.sh [REPLICAS] [RUNS] [graceful|sleep]
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-10}
runs=${2:-3}
case ${3:-graceful} in
graceful) workload=(sh -c 'trap "exit 0" TERM; sleep 3600 & wait') ;;
sleep) workload=(sleep 3600) ;;
*) echo "unknown workload ${3}: graceful or sleep" >&2; exit 2 ;;
esac
. bench/lib.sh
bench_node sbench1 172.29.0.0/16 2398
bin/shoal image import "$run/rootfs.tar" app:1 >/dev/null
bin/shoal image import -c 'ENV VERSION=2' "$run/rootfs.tar" app:2 >/dev/null

# state prints the update state and the count of running tasks of app:2.
state() {
	local st running
	st=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$1")
	running=$(docker service ps --filter desired-state=running --format '{{.Image}} {{.CurrentState}}' "$1" | grep -c '^app:2 Running' || true)
	echo "$st $running"
}

times=()
for i in $(seq 1 "$runs"); do
	svc="roll$i"
	docker service create -d -q --no-resolve-image --name "$svc" --replicas "$replicas" \
		--update-parallelism 2 --update-delay 0s --update-monitor 1s app:1 "${workload[@]}" >/dev/null
	while [ "$(docker service ls --filter "name=$svc" --format '{{.Replicas}}')" != "$replicas/$replicas" ]; do
		sleep 0.05
	done
	start=$(date +%s.%N)
	docker service update -d -q --no-resolve-image --image app:2 "$svc" >/dev/null
	while [ "$(state "$svc")" != "completed $replicas" ]; do
		sleep 0.05
	done
	end=$(date +%s.%N)
	t=$(echo "$end - $start" | bc -l)
	printf 'run %d: %d replicas rolled to a new image in %.2f s\n' "$i" "$replicas" "$t"
	times+=("$t")
	docker service rm "$svc" >/dev/null
	while [ -n "$(docker ps -q --filter "label=com.docker.swarm.service.name=$svc" 2>/dev/null)" ]; do sleep 0.2; done
done
printf 'rolling_update_s=%.2f\n' "$(median "${times[@]}")"
