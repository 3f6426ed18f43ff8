#!/usr/bin/env bash
# Leader failover time: on a local cluster of MANAGERS managers (network
# namespaces, one daemon each), SIGKILL the raft leader's daemon and time
# until the first write (docker service scale) succeeds through another
# manager. Each run uses a fresh cluster. Prints one line per run and a
# last line failover_s=<median>.
# Usage: bench/failover.sh [MANAGERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
managers=${1:-3}
runs=${2:-3}
name=fo$$
trap 'bin/shoal cluster down $name >/dev/null 2>&1 || true' EXIT
times=()
for i in $(seq 1 "$runs"); do
	bin/shoal cluster up --name "$name" --managers "$managers" --workers 0 --subnet 10.249.99.0/24 >/dev/null 2>&1
	state=/var/lib/shoal-cluster/$name/cluster.json
	sock() { python3 -c "import json,sys;print(json.load(open('$state'))['Hosts'][$1]['Socket'])"; }
	pid() { python3 -c "import json,sys;print(json.load(open('$state'))['Hosts'][$1]['Pid'])"; }
	DOCKER_HOST=unix://$(sock 0) docker service create -d -q --name probe --replicas 0 --no-resolve-image busybox >/dev/null
	kill -9 "$(pid 0)"
	start=$(date +%s.%N)
	until DOCKER_HOST=unix://$(sock 1) docker service scale -d probe=$i >/dev/null 2>&1; do sleep 0.05; done
	end=$(date +%s.%N)
	t=$(echo "$end - $start" | bc -l)
	printf 'run %d: %d managers, first write %.2f s after SIGKILL of the leader\n' "$i" "$managers" "$t"
	times+=("$t")
	bin/shoal cluster down "$name" >/dev/null
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'failover_s=%.2f\n' "$median"
