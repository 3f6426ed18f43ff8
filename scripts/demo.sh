#!/usr/bin/env bash
# Brings up a Shoal swarm of three hosts on this machine (a manager and two
# workers, each a network namespace with its own daemon and containerd),
# puts a web service on an overlay network with a port published through
# the routing mesh, and shows it answering on every host, by name from
# another service, and to the docker CLI and the shoal CLI.
# `demo.sh down` stops it and removes what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
name=demo
subnet=10.249.99.0/24
run=/run/shc/$name

down() {
	bin/shoal cluster down "$name" >/dev/null 2>&1 || true
}
if [ "${1:-}" = down ]; then down; echo "demo removed"; exit 0; fi

down
echo "== shoal cluster up: 1 manager and 2 workers, each its own network namespace"
bin/shoal cluster up --name "$name" --managers 1 --workers 2 --subnet "$subnet"
bin/shoal cluster ls

echo "== importing a busybox image built from busybox-static on every host"
tar=$(mktemp /tmp/shoal-demo-rootfs.XXXXXX.tar)
trap 'rm -f "$tar"' EXIT
./scripts/mkrootfs.sh "$tar"
for h in manager1 worker1 worker2; do
	DOCKER_HOST=unix://$run/$h/shoal.sock bin/shoal image import "$tar" busybox:latest >/dev/null
done
export DOCKER_HOST=unix://$run/manager1/shoal.sock
docker node ls

echo "== an overlay network, a web service published on port 8080, and a client"
docker network create --driver overlay front
bin/shoal service create --no-resolve-image --name web --network front --replicas 3 --publish 8080:80 busybox \
	sh -c 'mkdir -p /www; echo "hello from task $(hostname)" >/www/index.html; exec httpd -f -p 80 -h /www'
bin/shoal service create --no-resolve-image --name client --network front --constraint node.hostname==worker2 busybox sleep 3600
docker service ls
docker service ps web
docker network ls

echo "== the routing mesh: port 8080 answers on every host's address"
for i in 2 3 4; do
	addr=${subnet%.0/24}.$i
	printf '%s:8080 → ' "$addr"
	busybox wget -q -O - "http://$addr:8080/"
done

echo "== service discovery: the client on worker2 reaches web by name (its VIP) and tasks.web"
client=$(DOCKER_HOST=unix://$run/worker2/shoal.sock docker ps -q --filter label=com.docker.swarm.service.name=client)
DOCKER_HOST=unix://$run/worker2/shoal.sock docker exec "$client" nslookup tasks.web 127.0.0.11 | grep -A1 Name || true
for _ in 1 2 3 4; do
	DOCKER_HOST=unix://$run/worker2/shoal.sock docker exec "$client" wget -q -O - http://web/
done

echo
echo "The cluster keeps running. Try: export DOCKER_HOST=$DOCKER_HOST; docker service ps web"
echo "Remove everything with: make demo-down"
