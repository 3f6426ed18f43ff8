#!/usr/bin/env bash
# Plain containers on Shoal against dockerd 20.10 (Debian's docker.io), in
# one sitting on one machine, with the same docker CLI and the same busybox
# image (imported from busybox-static into both):
#   run_rm:   `docker run --rm busybox true`, RUNS times on each engine in
#             turns; p50 and p99 of the wall-clock time of the command;
#             0.2 s between runs (not measured), so that what an engine
#             does after it answered (Shoal frees a removed container's
#             task, snapshot and sandbox then; either's containerd
#             collects garbage) does not fall into the next run;
#   parallel: N `docker run -d busybox sleep 3600` started at once, until
#             `docker ps` counts N running; the containers are then
#             removed (not measured); PAR_RUNS times on each, in turns.
# Each engine runs in a network namespace of its own with its own data
# root, exec root, pidfile, socket and containerd (bench/lib.sh, as
# bench/vs-docker.sh). Prints a line per measurement and last lines
#   engine run_rm runtime=NAME runs=R shoal_p50_ms=… shoal_p99_ms=… docker_p50_ms=… docker_p99_ms=… p50_ratio=… p99_ratio=…
#   engine parallel runtime=NAME shim_group=K n=N runs=R shoal_s=MEDIAN (MIN–MAX) docker_s=… ratio=MEDIAN (MIN–MAX)
# Run it alone: it starts daemons (in this project:
# flock /tmp/shoal-e2e.lock bench/engine.sh).
# With PROFILE=FILE Shoal's daemon runs with --pprof and FILE gets a CPU
# profile of 5 s from the start of its first parallel run.
# With PERF=DIR every parallel run is sampled by `perf record -a` (all
# processes, 499 Hz) from its start until docker ps counts N, into
# DIR/shoal-I.data and DIR/docker-I.data; CPU seconds per command name:
# perf report -i FILE --sort comm -n --stdio, samples / 499.
# With RUNTIME=NAME Shoal's daemon runs its containers with that OCI runtime
# (--default-runtime: runc, its default, or crun; on a hybrid-cgroup host
# crun needs scripts/crun-on-hybrid.sh around the bench); dockerd keeps runc.
# With SHIM_GROUP=K Shoal's daemon runs with --shim-group-size K (up to K
# plain containers a containerd shim; 1: one shim each, as dockerd);
# the daemon's default when unset.
# Usage: [PROFILE=FILE] [PERF=DIR] [RUNTIME=NAME] [SHIM_GROUP=K] [RUN_ON_DISK=1] bench/engine.sh [RUNS] [N] [PAR_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
par=${2:-50}
par_runs=${3:-3}
profile=${PROFILE:-}
perfdir=${PERF:-}
runtime=${RUNTIME:-runc}
shimgroup=${SHIM_GROUP:-}
[ -z "$perfdir" ] || mkdir -p "$perfdir"
. bench/lib.sh

ensure_dockerd
go build -o bin/shoal ./cmd/shoal

tag=en$$
work=$(mktemp -d /var/tmp/shoal-engine.XXXX) # data roots and logs
run=$(mktemp -d /run/en-XXXX)                 # exec roots, sockets
dsock=unix://$run/d.sock
ssock=unix://$run/s.sock
# dockerd 20.10 writes its trust key to /etc/docker/key.json
[ -e /etc/docker/key.json ] && had_key=1 || had_key=0
trap 'side_by_side_down "$tag" "$run" "$work" "$had_key"' EXIT
# Both engines' exec roots and containerds' state (task bundles, FIFOs,
# sockets) live under $run, as under /run on a Debian host, where /run is
# a tmpfs. Where it is not (this project's CI machines: / alone, on an
# ext4 without a journal), files made there cost inode searches after
# every removal on the disk, and that is no engine's own cost; RUN_ON_DISK=1
# keeps them on the disk.
if [ "${RUN_ON_DISK:-0}" != 1 ] && [ "$(stat -f -c %T /run)" != tmpfs ]; then
	mount -t tmpfs -o mode=0755 tmpfs "$run"
fi

netns "$tag-d" 10.249.98.1
netns "$tag-s" 10.249.98.2
./scripts/mkrootfs.sh "$work/rootfs.tar"
containerd_for docker "$tag-d"
dockerd_in "$tag-d" "$dsock"
nsenter --net=/run/netns/"$tag-s" setsid bin/shoal daemon --data-root "$work/shoal" --exec-root "$run/s" \
	--host "$ssock" --pidfile "$run/s.pid" --default-runtime "$runtime" ${profile:+--pprof} \
	${shimgroup:+--shim-group-size "$shimgroup"} >"$work/shoal.log" 2>&1 &
disown
wait_api "$dsock"
wait_api "$ssock"
DOCKER_HOST=$dsock docker import "$work/rootfs.tar" busybox:latest >/dev/null
DOCKER_HOST=$ssock bin/shoal image import "$work/rootfs.tar" busybox:latest >/dev/null

# ms prints the milliseconds since the nanosecond time $1.
ms() { echo "($(date +%s%N) - $1) / 1000000" | bc; }

# run_rm_once prints the milliseconds of one `docker run --rm busybox true`.
run_rm_once() {
	local t0
	t0=$(date +%s%N)
	docker run --rm busybox true
	ms "$t0"
}

# parallel_once NAME prints the seconds from starting $par containers at
# once until docker ps counts them all running, then removes them. On
# Shoal, the first takes PROFILE; with PERF, perf samples the run into
# $perfdir/NAME.data.
parallel_once() {
	local t0 i n pp= started=()
	if [ -n "$profile" ] && [ "$DOCKER_HOST" = "$ssock" ] && [ ! -e "$profile" ]; then
		: >"$profile"
		curl -sS --unix-socket "${ssock#unix://}" -o "$profile" 'http://docker/debug/pprof/profile?seconds=5' >/dev/null 2>&1 &
	fi
	if [ -n "$perfdir" ]; then
		perf record -a -F 499 -q -o "$perfdir/$1.data" >/dev/null 2>&1 &
		pp=$!
		sleep 0.5 # perf is sampling
	fi
	t0=$(date +%s%N)
	for i in $(seq 1 "$par"); do
		docker run -d busybox sleep 3600 >/dev/null &
		started+=($!)
	done
	# Their own PIDs: the last N of jobs -p were perf's too when a run
	# had ended before jobs -p, and the wait then lasted until perf did.
	wait "${started[@]}"
	while n=$(docker ps -q | wc -l) && [ "$n" -lt "$par" ]; do sleep 0.02; done
	echo "scale=3; $(ms "$t0") / 1000" | bc
	if [ -n "$pp" ]; then
		kill -INT "$pp"
		wait "$pp" || true
	fi
	docker ps -aq | xargs -r docker rm -f >/dev/null
}

# pct P VALUES... prints the P-th percentile (nearest rank).
pct() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{a[NR]=$1} END {r=int((p*NR+99)/100); if (r<1) r=1; print a[r]}'
}

# A first run on each, not measured.
for h in "$dsock" "$ssock"; do DOCKER_HOST=$h run_rm_once >/dev/null; done

load0=$(cut -d' ' -f1 /proc/loadavg)
shoal=() docker=()
for i in $(seq 1 "$runs"); do
	if [ $((i % 2)) = 0 ]; then
		shoal+=("$(DOCKER_HOST=$ssock run_rm_once)")
		sleep 0.2
		docker+=("$(DOCKER_HOST=$dsock run_rm_once)")
	else
		docker+=("$(DOCKER_HOST=$dsock run_rm_once)")
		sleep 0.2
		shoal+=("$(DOCKER_HOST=$ssock run_rm_once)")
	fi
	sleep 0.2
done
sp50=$(pct 50 "${shoal[@]}") sp99=$(pct 99 "${shoal[@]}")
dp50=$(pct 50 "${docker[@]}") dp99=$(pct 99 "${docker[@]}")
printf 'engine run_rm runtime=%s runs=%d shoal_p50_ms=%d shoal_p99_ms=%d docker_p50_ms=%d docker_p99_ms=%d p50_ratio=%.2f p99_ratio=%.2f load=%s→%s\n' \
	"$runtime" "$runs" "$sp50" "$sp99" "$dp50" "$dp99" "$(echo "$sp50 / $dp50" | bc -l)" "$(echo "$sp99 / $dp99" | bc -l)" \
	"$load0" "$(cut -d' ' -f1 /proc/loadavg)"

load0=$(cut -d' ' -f1 /proc/loadavg)
ps_=() pd=() ratio=()
for i in $(seq 1 "$par_runs"); do
	if [ $((i % 2)) = 0 ]; then
		s=$(DOCKER_HOST=$ssock parallel_once "shoal-$i")
		d=$(DOCKER_HOST=$dsock parallel_once "docker-$i")
	else
		d=$(DOCKER_HOST=$dsock parallel_once "docker-$i")
		s=$(DOCKER_HOST=$ssock parallel_once "shoal-$i")
	fi
	ps_+=("$s") pd+=("$d") ratio+=("$(echo "$s / $d" | bc -l)")
	printf 'run %d: %d containers: shoal %.2f s, docker %.2f s, shoal/docker %.2f\n' "$i" "$par" "$s" "$d" "${ratio[-1]}"
done
printf 'engine parallel runtime=%s shim_group=%s n=%d runs=%d shoal_s=%.2f (%s) docker_s=%.2f (%s) ratio=%.2f (%s) load=%s→%s\n' \
	"$runtime" "${shimgroup:-default}" "$par" "$par_runs" "$(median "${ps_[@]}")" "$(spread "${ps_[@]}")" "$(median "${pd[@]}")" "$(spread "${pd[@]}")" \
	"$(median "${ratio[@]}")" "$(spread "${ratio[@]}")" "$load0" "$(cut -d' ' -f1 /proc/loadavg)"
