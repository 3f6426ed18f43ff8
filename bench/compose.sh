#!/usr/bin/env bash
# `compose up -d` of a 5-service project (a project network, a named volume,
# one published port, depends_on between services) on Shoal and on dockerd
# 20.10 (Debian's docker.io), started side by side in network namespaces of
# their own with their own data roots, exec roots, sockets and containerd,
# as bench/vs-docker.sh starts them, measured in turns with the same
# clients: `shoal compose` (Docker Compose v5) and, when installed, Debian's
# docker-compose (Compose v1). The project is taken down (down -v) after
# each run, which is not measured. Prints a line per run and last
#   compose_up services=5 runs=R client=C shoal_s=MEDIAN (MIN–MAX) docker_s=… shoal/docker=MEDIAN load=BEFORE→AFTER
# Run it alone: it starts daemons (in this project:
# flock /tmp/shoal-e2e.lock bench/compose.sh).
# Usage: bench/compose.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. bench/lib.sh
command -v dockerd >/dev/null || {
	echo "dockerd is missing: bench/vs-docker.sh installs docker.io" >&2
	exit 1
}
make build >/dev/null
shoal=$PWD/bin/shoal

tag=cb$$
work=$(mktemp -d /var/tmp/shoal-cb.XXXX)
run=$(mktemp -d /run/cb-XXXX)
dsock=unix://$run/d.sock
ssock=unix://$run/s.sock
keyfile=/etc/docker/key.json # dockerd 20.10 writes its trust key there
[ -e "$keyfile" ] && had_key=1 || had_key=0

cleanup() {
	set +e
	local pids p
	pids=$(cat "$run/d.pid" "$run/s.pid" 2>/dev/null)
	for p in $pids; do kill "$p" 2>/dev/null; done
	sleep 2
	bench_sweep "$run" "$work"
	ip netns del "$tag-d" 2>/dev/null
	ip netns del "$tag-s" 2>/dev/null
	[ "$had_key" = 1 ] || rm -f "$keyfile"
}
trap cleanup EXIT

mkdir -p "$work/project"
cat >"$work/project/compose.yaml" <<'EOF'
services:
  db:
    image: busybox:latest
    command: ["sleep", "3600"]
    volumes: [data:/data]
    stop_signal: SIGKILL
  cache:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
  api:
    image: busybox:latest
    command: ["sleep", "3600"]
    depends_on: [db, cache]
    stop_signal: SIGKILL
  worker:
    image: busybox:latest
    command: ["sleep", "3600"]
    depends_on: [db]
    stop_signal: SIGKILL
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "80"]
    ports: ["8080:80"]
    depends_on: [api]
    stop_signal: SIGKILL
volumes:
  data:
EOF

ip netns add "$tag-d"
ip netns add "$tag-s"
ip -n "$tag-d" link set lo up
ip -n "$tag-s" link set lo up
./scripts/mkrootfs.sh "$work/rootfs.tar"

containerd_for docker "$tag-d"
dockerd_in "$tag-d" "$dsock"
nsenter --net=/run/netns/"$tag-s" setsid bin/shoal daemon --data-root "$work/shoal" --exec-root "$run/s" \
	--host "$ssock" --pidfile "$run/s.pid" >"$work/shoal.log" 2>&1 &
disown
for h in "$dsock" "$ssock"; do
	for _ in $(seq 1 150); do DOCKER_HOST=$h docker version >/dev/null 2>&1 && break; sleep 0.2; done
	DOCKER_HOST=$h docker import "$work/rootfs.tar" busybox:latest >/dev/null
done

# up_once CLIENT HOST prints the seconds `CLIENT up -d` of the project takes
# on the engine at HOST, then takes the project down.
up_once() {
	local client=$1 host=$2 start end
	local -a cmd
	case $client in
	shoal) cmd=("$shoal" compose -p bench) ;;
	v1) cmd=(docker-compose -p bench) ;;
	esac
	start=$(date +%s.%N)
	(cd "$work/project" && DOCKER_HOST=$host "${cmd[@]}" up -d >"$work/up.log" 2>&1) || {
		echo "$client up on $host failed:" >&2
		cat "$work/up.log" >&2
		exit 1
	}
	end=$(date +%s.%N)
	(cd "$work/project" && DOCKER_HOST=$host "${cmd[@]}" down -v >/dev/null 2>&1)
	echo "$end - $start" | bc -l
}

clients=(shoal)
command -v docker-compose >/dev/null && clients+=(v1)
load0=$(cut -d' ' -f1 /proc/loadavg)
for client in "${clients[@]}"; do
	# One run each, not measured: the first up makes the project network
	# on an engine that has never made one.
	up_once "$client" "$dsock" >/dev/null
	up_once "$client" "$ssock" >/dev/null
	s=() d=() r=()
	for i in $(seq 1 "$runs"); do
		if [ $((i % 2)) = 1 ]; then
			ts=$(up_once "$client" "$ssock")
			td=$(up_once "$client" "$dsock")
		else
			td=$(up_once "$client" "$dsock")
			ts=$(up_once "$client" "$ssock")
		fi
		s+=("$ts") d+=("$td") r+=("$(echo "$ts / $td" | bc -l)")
		printf 'run %d: client %s: shoal %.2f s, docker %.2f s, shoal/docker %.2f\n' "$i" "$client" "$ts" "$td" "${r[-1]}"
	done
	printf 'compose_up services=5 runs=%d client=%s shoal_s=%.2f (%s) docker_s=%.2f (%s) shoal/docker=%.2f (%s) load=%s→%s\n' \
		"$runs" "$client" "$(median "${s[@]}")" "$(spread "${s[@]}")" "$(median "${d[@]}")" "$(spread "${d[@]}")" \
		"$(median "${r[@]}")" "$(spread "${r[@]}")" "$load0" "$(cut -d' ' -f1 /proc/loadavg)"
done
