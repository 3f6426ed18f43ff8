#!/usr/bin/env bash
# Brings up a Shoal swarm of three hosts on this machine (a manager and two
# workers, each a network namespace with its own daemon and containerd),
# deploys the seed documents' WordPress + MySQL stack (busybox standing in
# for both images) and shows it answering through the routing mesh on
# every host, with the web tasks reaching db by name over the overlay.
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

echo "== docker stack deploy of the seed documents' WordPress + MySQL stack (scripts/demo-stack.yml)"
bin/shoal stack deploy --resolve-image never --detach=false -c scripts/demo-stack.yml wp
docker stack services wp
docker stack ps wp
docker network ls

echo "== the routing mesh: port 8080 answers on every host's address, db reached by name over the overlay"
for i in 2 3 4; do
	addr=${subnet%.0/24}.$i
	printf '%s:8080 → ' "$addr"
	busybox wget -q -O - "http://$addr:8080/"
done

echo
echo "The cluster keeps running. Try: export DOCKER_HOST=$DOCKER_HOST; docker stack ps wp"
echo "Remove everything with: make demo-down"
