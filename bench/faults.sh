#!/usr/bin/env bash
# Fault schedules (e2e/faults) seed after seed, each on a fresh local
# cluster, taking the shared e2e lock for one schedule at a time so that
# other runs get their turn between. Prints each schedule's line, the
# anomalies of any that had some, and the totals docs/RELIABILITY.md
# records.
# Usage: N=100 [SEED=1] [MANAGERS=3] [DISK=1] [CLOCK=1] [LOAD=1] bench/faults.sh
# LOAD=1 runs CPU hogs (one more than the cores) and a disk writer that
# syncs beside each schedule, inside its lock turn only: the machine of a
# CI run or a shared host, where finding 5 of docs/RELIABILITY.md was seen.
# Histories of schedules with anomalies are left in $FAULTS_OUT
# (default /var/tmp/shoal-faults).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-10}
first=${SEED:-1}
export FAULTS_OUT=${FAULTS_OUT:-/var/tmp/shoal-faults}
mkdir -p "$FAULTS_OUT"
record=$FAULTS_OUT/record-$$.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -tags shoaltesthooks -o "$tmp/shoal" ./cmd/shoal
go test -c -o "$tmp/faults.test" ./e2e/faults
export SHOAL_BIN=$tmp/shoal
# schedule runs one seed's schedule, with LOAD's hogs beside it.
schedule() {
	local hogs=() rc=0
	if [ -n "${LOAD:-}" ]; then
		for _ in $(seq 0 "$(nproc)"); do
			sha256sum /dev/zero >/dev/null &
			hogs+=($!)
		done
		(while :; do dd if=/dev/zero of="$tmp/load" bs=1M count=64 conv=fsync status=none; done) &
		hogs+=($!)
	fi
	"$tmp/faults.test" -test.run TestFaults -test.v -test.timeout 10m \
		-faults.n 1 -faults.seed "$1" -faults.managers "${MANAGERS:-3}" -faults.record "$record" ${DISK:+-faults.disk} ${CLOCK:+-faults.clock} || rc=$?
	if [ ${#hogs[@]} -gt 0 ]; then
		kill "${hogs[@]}" 2>/dev/null || true
		wait "${hogs[@]}" 2>/dev/null || true
		rm -f "$tmp/load"
	fi
	return $rc
}
for seed in $(seq "$first" $((first + n - 1))); do
	log=$FAULTS_OUT/seed-$seed.log
	if ! (cd e2e/faults && flock 9 && schedule "$seed") 9>/tmp/shoal-e2e.lock >"$log" 2>&1; then
		echo "seed $seed: FAILED, see $log"
		grep -E "seed $seed: |not linearizable|^\s+\[" "$log" | grep -v "calls (writes" | head -40 || true
	fi
	tail -n 1 "$record" 2>/dev/null | grep "^seed=$seed " || echo "seed=$seed: no result, see $log"
done
awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	{ runs++; faults += v["faults"]; calls += v["calls"]; ok += v["writes_ok"]; unknown += v["writes_unknown"]
	  if (v["anomalies"] > 0) bad++; if (v["strict"] != "Ok") stale++; applied += v["applied_5xx"]
	  if (v["converge_s"] >= 0) { conv++; sum += v["converge_s"]; if (v["converge_s"] > worst) worst = v["converge_s"] }
	  if (v["catchup_s"] != "") { caught++; csum += v["catchup_s"]; if (v["catchup_s"] > cworst) cworst = v["catchup_s"] } }
	END { printf "schedules=%d faults=%d calls=%d writes_ok=%d writes_unknown=%d schedules_with_anomalies=%d schedules_with_stale_reads=%d writes_5xx_applied=%d converged=%d converge_mean_s=%.1f converge_worst_s=%.1f catchup_mean_s=%.1f catchup_worst_s=%.1f\n",
		runs, faults, calls, ok, unknown, bad + 0, stale + 0, applied, conv, conv ? sum / conv : 0, worst, caught ? csum / caught : 0, cworst }
' "$record"
