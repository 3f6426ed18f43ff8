#!/usr/bin/env bash
# Node failure: on a local cluster of one manager and two workers (network
# namespaces, one daemon each), run REPLICAS tasks of a service on worker1,
# SIGKILL worker1's daemon and time until every replica runs on worker2.
# The manager is drained, so that worker2 is the only place left. Each run
# uses a fresh cluster. Prints one line per run, with when the node was
# marked down, when the replacements were created and when the last one
# reported running (all from the SIGKILL), and a last line
# replaced_s=<median>.
# Usage: bench/node-failure.sh [RUNS] [HEARTBEAT] [RESTART_DELAY]
#   HEARTBEAT: docker swarm update --dispatcher-heartbeat (default 1s)
#   RESTART_DELAY: the service's --restart-delay (default: Docker's, 5s)
# SHOAL=path measures another build (default bin/shoal).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
heartbeat=${2:-1s}
delay=${3:-}
replicas=4
shoal=${SHOAL:-bin/shoal}
name=nf$$
tar=$(mktemp /tmp/nf-rootfs.XXXX)
trap '$shoal cluster down $name >/dev/null 2>&1 || true; rm -f "$tar"' EXIT
./scripts/mkrootfs.sh "$tar"
delayflag=()
[ -n "$delay" ] && delayflag=(--restart-delay "$delay")

state=/var/lib/shoal-cluster/$name/cluster.json
sock() { jq -r ".Hosts[$1].Socket" "$state"; }
pid() { jq -r ".Hosts[$1].Pid" "$state"; }
dk() { local h=$1; shift; DOCKER_HOST=unix://$(sock "$h") docker "$@"; }
# api GET PATH on the manager.
api() { curl -sfg --unix-socket "$msock" "http://shoal$1"; }
epoch() { date -d "$1" +%s.%N; }
since() { echo "$1 - $kill" | bc -l; }
filter='filters={"service":["probe"],"desired-state":["running"]}'
# running NODE_ID counts the replicas running on a node as wanted.
running() { api "/tasks?$filter" | jq --arg n "$1" '[.[] | select(.NodeID == $n and .Status.State == "running")] | length'; }
# replicas_on NODE_ID waits until every replica runs on the node, giving
# up after 2 minutes.
replicas_on() {
	local deadline=$(($(date +%s) + 120))
	until [ "$(running "$1")" = "$replicas" ]; do
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "run $i: the replicas did not all run on node $1 within 2 minutes" >&2
			exit 1
		fi
		sleep 0.05
	done
}

times=()
for i in $(seq 1 "$runs"); do
	if ! out=$($shoal cluster up --name "$name" --managers 1 --workers 2 --subnet 10.249.98.0/24 2>&1); then
		printf '%s\n' "$out" >&2
		exit 1
	fi
	for h in 0 1 2; do dk "$h" import "$tar" busybox:latest >/dev/null; done
	msock=$(sock 0)
	dk 0 swarm update --dispatcher-heartbeat "$heartbeat" >/dev/null
	updated=$(date +%s)
	dk 0 node update --availability drain manager1 >/dev/null
	dk 0 node update --availability drain worker2 >/dev/null
	w1=$(dk 0 node inspect worker1 --format '{{.ID}}')
	w2=$(dk 0 node inspect worker2 --format '{{.ID}}')
	dk 0 service create -d -q --no-resolve-image --name probe --replicas "$replicas" "${delayflag[@]}" busybox sleep 3600 >/dev/null
	replicas_on "$w1"
	dk 0 node update --availability active worker2 >/dev/null
	# A new heartbeat period reaches worker1 with its next heartbeat, due
	# at the old period (5 s): the kill waits until it surely has.
	while [ $(($(date +%s) - updated)) -lt 7 ]; do sleep 0.2; done
	kill -9 "$(pid 1)"
	kill=$(date +%s.%N)
	replicas_on "$w2"
	end=$(date +%s.%N)
	t=$(since "$end")
	down=$(since "$(epoch "$(api "/nodes/$w1" | jq -r .UpdatedAt)")")
	tasks=$(api "/tasks?$filter" | jq -c --arg n "$w2" '[.[] | select(.NodeID == $n)]')
	created=$(since "$(epoch "$(jq -r 'map(.CreatedAt) | max' <<<"$tasks")")")
	started=$(since "$(epoch "$(jq -r 'map(.Status.Timestamp) | max' <<<"$tasks")")")
	printf 'run %d: heartbeat %s, restart delay %s: node down %.2f s, replacements created %.2f s, last running %.2f s; all %d running on worker2 seen %.2f s after SIGKILL of worker1\n' \
		"$i" "$heartbeat" "${delay:-default}" "$down" "$created" "$started" "$replicas" "$t"
	times+=("$t")
	$shoal cluster down "$name" >/dev/null
done
printf 'replaced_s=%.2f\n' "$(median "${times[@]}")"
