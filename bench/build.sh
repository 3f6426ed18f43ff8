#!/usr/bin/env bash
# docker build on Shoal beside dockerd 20.10 (Debian's docker.io), in the
# same sitting: the same multi-stage Dockerfile and context, built by the
# same docker CLI through the classic POST /build route (dockerd 20.10's
# default builder, and Shoal's). Each engine runs in a network namespace of
# its own with its own data root, exec root and socket (dockerd with the
# containerd it manages itself); both get the same busybox, imported.
#   cold: docker build --no-cache (every step runs, every layer is made)
#   warm: the unchanged rebuild (every step from the cache)
# Runs alternate between the engines. Prints a line per run and a last line
#   build runs=R shoal_cold_s=MEDIAN (MIN–MAX) docker_cold_s=… shoal_warm_s=… docker_warm_s=…
# Run it alone: it starts daemons (flock /tmp/shoal-e2e.lock bench/build.sh).
# Usage: bench/build.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. bench/lib.sh
command -v dockerd >/dev/null || { echo "dockerd is missing: apt-get install docker.io (see bench/vs-docker.sh)" >&2; exit 1; }
go build -o bin/shoal ./cmd/shoal

tag=bb$$
work=$(mktemp -d /var/tmp/shoal-build.XXXX) # data roots, logs, the context
run=$(mktemp -d /run/bb-XXXX)                # exec roots, sockets
dsock=unix://$run/d.sock
ssock=unix://$run/s.sock
# dockerd 20.10 writes its trust key to /etc/docker/key.json
[ -e /etc/docker/key.json ] && had_key=1 || had_key=0
trap 'side_by_side_down "$tag" "$run" "$work" "$had_key"' EXIT

for n in "$tag-d" "$tag-s"; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
./scripts/mkrootfs.sh "$work/rootfs.tar"

echo '{}' >"$work/daemon.json"
nsenter --net=/run/netns/"$tag-d" setsid dockerd --config-file "$work/daemon.json" \
	--data-root "$work/docker" --exec-root "$run/d" --pidfile "$run/d.pid" -H "$dsock" \
	--iptables=false --ip-masq=false --userland-proxy=false --log-level info >"$work/docker.log" 2>&1 &
disown
nsenter --net=/run/netns/"$tag-s" setsid bin/shoal daemon --data-root "$work/shoal" --exec-root "$run/s" \
	--host "$ssock" --pidfile "$run/s.pid" >"$work/shoal.log" 2>&1 &
disown
wait_api "$dsock"
wait_api "$ssock"
for h in "$dsock" "$ssock"; do DOCKER_HOST=$h docker import "$work/rootfs.tar" busybox:latest >/dev/null; done

# The context: 200 small source files, one of 8 MiB, and a .dockerignore.
ctx=$work/context
mkdir -p "$ctx/src" "$ctx/logs"
for i in $(seq 1 200); do echo "file $i" >"$ctx/src/f$i.txt"; done
head -c 8388608 /dev/urandom >"$ctx/data.bin"
echo "noise" >"$ctx/logs/x.log"
echo "logs" >"$ctx/.dockerignore"
cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE=busybox
FROM ${BASE} AS build
WORKDIR /src
COPY src/ ./
COPY data.bin /data.bin
RUN cat *.txt | sort > /all.txt && sha256sum /data.bin > /data.sum
RUN mkdir /gen && for i in $(seq 1 100); do echo "$i" > /gen/$i; done

FROM busybox AS final
LABEL bench=build
ENV MODE=bench
COPY --from=build /all.txt /data.sum /out/
COPY --from=build /gen /out/gen
RUN test -s /out/all.txt
USER 1000
CMD ["cat", "/out/data.sum"]
EOF

# build_once HOST [ARGS...] prints the seconds a docker build takes.
build_once() {
	local host=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	# stderr holds the CLI's "legacy builder is deprecated" notice; shown on failure only.
	if ! DOCKER_HOST=$host DOCKER_BUILDKIT=0 docker build -q "$@" -t bench:latest "$ctx" >/dev/null 2>"$work/build.err"; then
		cat "$work/build.err" >&2
		exit 1
	fi
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

# A first build on each, not measured: it pays for once-per-daemon work.
for h in "$dsock" "$ssock"; do build_once "$h" >/dev/null; done

load0=$(cut -d' ' -f1 /proc/loadavg)
declare -A times
for i in $(seq 1 "$runs"); do
	declare -A t=()
	order=(shoal docker)
	[ $((i % 2)) = 0 ] && order=(docker shoal)
	for what in "${order[@]}"; do
		h=$ssock
		[ "$what" = docker ] && h=$dsock
		t[$what-cold]=$(build_once "$h" --no-cache)
		t[$what-warm]=$(build_once "$h")
		times[$what-cold]+=" ${t[$what-cold]}"
		times[$what-warm]+=" ${t[$what-warm]}"
	done
	printf 'run %d: cold shoal %.2f s, docker %.2f s; warm shoal %.3f s, docker %.3f s\n' \
		"$i" "${t[shoal-cold]}" "${t[docker-cold]}" "${t[shoal-warm]}" "${t[docker-warm]}"
done
summary() {
	local -a v
	read -ra v <<<"${times[$1]}"
	printf '%.3f (%s)' "$(median "${v[@]}")" "$(spread "${v[@]}")"
}
printf 'build runs=%d shoal_cold_s=%s docker_cold_s=%s shoal_warm_s=%s docker_warm_s=%s load=%s→%s\n' \
	"$runs" "$(summary shoal-cold)" "$(summary docker-cold)" "$(summary shoal-warm)" "$(summary docker-warm)" \
	"$load0" "$(cut -d' ' -f1 /proc/loadavg)"
