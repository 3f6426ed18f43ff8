#!/usr/bin/env bash
# The routing mesh against a service's VIP and a task's own address, in
# one run, on a local cluster of two hosts (manager1 and worker1, network
# namespaces with a daemon each). One server task (bench/httpload's
# server, Go net/http) runs on worker1 on an overlay network and publishes
# port 8080; a client task runs on manager1 on the same network. Every
# path is measured from that client task, so that client and server are
# the same and only the path differs:
#   direct      → the server task's overlay address
#   vip         → the service's VIP on the overlay (nftables DNAT)
#   mesh-remote → manager1:8080 (the client's own host, where no server
#                 task runs): the mesh carries it over the ingress overlay
#   mesh-local  → worker1:8080 over the underlay; the task is local there
# Each path is measured ROUNDS times for SECONDS with CONNS clients,
# interleaved, with connections kept alive and with a new connection per
# request. Prints one line per measurement, then per mode and path the
# medians, and the mesh's ratios to direct:
#   mesh mode=keepalive path=mesh-remote rps=… p99_ms=… rps_vs_direct=… p99_vs_direct=…
# Run it alone (it starts daemons): flock /tmp/shoal-e2e.lock bench/mesh.sh
# Usage: bench/mesh.sh [ROUNDS] [SECONDS] [CONNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
seconds=${2:-5}
conns=${3:-16}
name=mesh$$
subnet=10.249.96.0/24
manager=${subnet%.0/24}.2
worker=${subnet%.0/24}.3
work=$(mktemp -d /tmp/meshbench.XXXX)
trap 'bin/shoal cluster down $name >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

make -s build
CGO_ENABLED=0 go build -o "$work/bin/shoal-bench" ./cmd/shoal-bench
./scripts/mkrootfs.sh "$work/rootfs.tar"
tar -C "$work" --numeric-owner --owner=0 --group=0 -rf "$work/rootfs.tar" ./bin/shoal-bench

bin/shoal cluster up --name "$name" --managers 1 --workers 1 --subnet "$subnet" >/dev/null
run=/run/shc/$name
dk() { local h=$1; shift; DOCKER_HOST=unix://$run/$h/shoal.sock docker "$@"; }
for h in manager1 worker1; do
	DOCKER_HOST=unix://$run/$h/shoal.sock bin/shoal image import "$work/rootfs.tar" meshbench:latest >/dev/null
done
dk manager1 network create -d overlay bench >/dev/null
dk manager1 service create -q --no-resolve-image --name srv --network bench -p 8080:80 \
	--constraint node.hostname==worker1 meshbench shoal-bench http-serve --addr :80 >/dev/null
dk manager1 service create -q --no-resolve-image --name client --network bench \
	--constraint node.hostname==manager1 meshbench sleep 3600 >/dev/null

net=$(dk manager1 network inspect -f '{{.ID}}' bench)
vip=$(dk manager1 service inspect -f "{{range .Endpoint.VirtualIPs}}{{if eq .NetworkID \"$net\"}}{{.Addr}}{{end}}{{end}}" srv)
task=$(dk manager1 service ps -q --filter desired-state=running srv)
addr=$(dk manager1 inspect -f "{{range .NetworksAttachments}}{{if eq .Network.ID \"$net\"}}{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}" "$task")
client=$(dk manager1 ps -q --filter label=com.docker.swarm.service.name=client)
echo "server task $task at ${addr%/*}, VIP ${vip%/*}, client container $client; $rounds rounds of ${seconds}s, $conns connections"

load() { dk manager1 exec "$client" shoal-bench http-load "$@"; }
declare -A url=(
	[direct]="http://${addr%/*}/"
	[vip]="http://${vip%/*}/"
	[mesh-remote]="http://$manager:8080/"
	[mesh-local]="http://$worker:8080/"
)
paths=(direct vip mesh-remote mesh-local)

# Every path must answer before anything is measured.
for p in "${paths[@]}"; do
	for _ in $(seq 1 60); do
		load --url "${url[$p]}" --conns 1 --duration 200ms >/dev/null 2>&1 && break
		sleep 0.5
	done
	load --url "${url[$p]}" --conns 1 --duration 200ms >/dev/null
done

declare -A rps p99
for mode in keepalive newconn; do
	flag=()
	[ "$mode" = newconn ] && flag=(--new-conns)
	for r in $(seq 1 "$rounds"); do
		for p in "${paths[@]}"; do
			line=$(load --url "${url[$p]}" --conns "$conns" --duration "${seconds}s" "${flag[@]}")
			echo "round $r mode=$mode path=$p $line"
			[[ $line =~ rps=([0-9.]+).*p99_ms=([0-9.]+) ]]
			rps[$mode.$p]+="${BASH_REMATCH[1]} "
			p99[$mode.$p]+="${BASH_REMATCH[2]} "
		done
	done
done

for mode in keepalive newconn; do
	# shellcheck disable=SC2086
	d_rps=$(median ${rps[$mode.direct]})
	# shellcheck disable=SC2086
	d_p99=$(median ${p99[$mode.direct]})
	for p in "${paths[@]}"; do
		# shellcheck disable=SC2086
		m_rps=$(median ${rps[$mode.$p]})
		# shellcheck disable=SC2086
		m_p99=$(median ${p99[$mode.$p]})
		printf 'mesh mode=%s path=%s rps=%.0f p99_ms=%.2f rps_vs_direct=%.2f p99_vs_direct=%.2f\n' "$mode" "$p" "$m_rps" "$m_p99" \
			"$(echo "$m_rps / $d_rps" | bc -l)" "$(echo "$m_p99 / $d_p99" | bc -l)"
	done
done
echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
