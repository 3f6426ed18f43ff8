#!/usr/bin/env bash
# Measures how long `service create --replicas N` takes to reach N running
# tasks on a one-node Shoal swarm with real containers (busybox sleep).
# Prints one line per run and a last line converge_s=<median>.
# Usage: bench/converge.sh [REPLICAS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${1:-20}
runs=${2:-3}
data=$(mktemp -d /var/tmp/shoal-bench.XXXX)
run=$(mktemp -d /run/sb-XXXX)
sock=$run/shoal.sock
export DOCKER_HOST=unix://$sock
cleanup() {
	bin/shoal swarm leave --force >/dev/null 2>&1 || true
	[ -f "$run/pid" ] && kill "$(cat "$run/pid")" 2>/dev/null || true
	sleep 1
	pkill -9 -f "containerd --config $run/" 2>/dev/null || true
	grep -o " $run[^ ]*\| $data[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip link del sbench0 2>/dev/null || true
	rm -rf "$data" "$run"
}
trap cleanup EXIT
bin/shoal daemon --data-root "$data" --exec-root "$run" --host "unix://$sock" --pidfile "$run/pid" \
	--bridge-name sbench0 --bridge-cidr 172.28.0.0/16 >"$data/daemon.log" 2>&1 &
for _ in $(seq 1 100); do bin/shoal version >/dev/null 2>&1 && break; sleep 0.2; done
./scripts/mkrootfs.sh "$run/rootfs.tar"
bin/shoal image import "$run/rootfs.tar" busybox:latest >/dev/null
docker swarm init --advertise-addr 127.0.0.1:2399 --listen-addr 127.0.0.1:2399 >/dev/null

times=()
for i in $(seq 1 "$runs"); do
	start=$(date +%s.%N)
	docker service create -d -q --name "bench$i" --replicas "$replicas" busybox sleep 3600 >/dev/null
	# REPLICAS of service ls counts running tasks (ServiceStatus).
	while [ "$(docker service ls --filter "name=bench$i" --format '{{.Replicas}}')" != "$replicas/$replicas" ]; do
		sleep 0.05
	done
	end=$(date +%s.%N)
	t=$(echo "$end - $start" | bc -l)
	printf 'run %d: %d replicas running after %.2f s\n' "$i" "$replicas" "$t"
	times+=("$t")
	docker service rm "bench$i" >/dev/null
	while [ -n "$(docker ps -q --filter "label=com.docker.swarm.service.name=bench$i")" ]; do sleep 0.2; done
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'converge_s=%.2f\n' "$median"
