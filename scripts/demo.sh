#!/usr/bin/env bash
# Brings up a one-node Shoal swarm on this machine and runs a service on
# it, then shows it with the docker CLI and the shoal CLI.
# `demo.sh down` stops it and removes what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
data=/var/lib/shoal-demo
run=/run/shoal-demo
sock=$run/shoal.sock
export DOCKER_HOST=unix://$sock

down() {
	if [ -f "$run/shoal.pid" ]; then
		DOCKER_HOST=unix://$sock bin/shoal swarm leave --force >/dev/null 2>&1 || true
		kill "$(cat "$run/shoal.pid")" 2>/dev/null || true
		sleep 2
	fi
	pkill -f "containerd --config $run/" 2>/dev/null || true
	rm -rf "$data" "$run"
}
if [ "${1:-}" = down ]; then down; echo "demo removed"; exit 0; fi

down
mkdir -p "$run"
echo "== starting shoal daemon (log: $run/daemon.log)"
setsid bin/shoal daemon --data-root "$data" --exec-root "$run" --host "unix://$sock" --pidfile "$run/shoal.pid" >"$run/daemon.log" 2>&1 &
for _ in $(seq 1 100); do bin/shoal version >/dev/null 2>&1 && break; sleep 0.2; done

echo "== importing a busybox image built from busybox-static"
./scripts/mkrootfs.sh "$run/rootfs.tar"
bin/shoal image import "$run/rootfs.tar" busybox:latest
docker images

echo "== docker swarm init"
docker swarm init --advertise-addr 127.0.0.1
echo "== shoal service create --replicas 3"
bin/shoal service create --name web --replicas 3 busybox httpd -f -v -p 8080
echo "== docker service ls / ps"
docker service ls
docker service ps web
echo "== docker ps"
docker ps
echo "== scale to 5"
docker service scale web=5
docker node ls
echo
echo "The node keeps running. Try: export DOCKER_HOST=$DOCKER_HOST; docker service ps web"
echo "Remove everything with: make demo-down"
