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
	grep -o " $run[^ ]*\| $data[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip link del shoal0 2>/dev/null || true
	nft delete table ip shoal 2>/dev/null || true
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
bin/shoal service create --name web --replicas 3 busybox \
	sh -c 'echo "hello from task $(hostname)" >/tmp/index.html; exec httpd -f -p 8080 -h /tmp'
echo "== docker service ls / ps"
docker service ls
docker service ps web
echo "== docker ps"
docker ps
echo "== each task answers on its own address on the node's bridge"
for c in $(docker ps -q --filter label=com.docker.swarm.service.name=web); do
	ip=$(docker inspect "$c" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
	printf '%s: ' "$ip"; busybox wget -q -O - "http://$ip:8080/"
done
echo "== scale to 5"
docker service scale -d web=5
docker node ls
echo
echo "The node keeps running. Try: export DOCKER_HOST=$DOCKER_HOST; docker service ps web"
echo "Remove everything with: make demo-down"
