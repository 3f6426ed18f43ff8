#!/usr/bin/env bash
# docker cp into a container of hostile archives, on Shoal and on dockerd
# 20.10 (Debian's docker.io) side by side: each archive of
# bench/cp-hostile.py (good entries, then a bad one) is PUT to
# /containers/{id}/archive?path=/dst&noOverwriteDirNonDir=true (as the
# docker CLI sends it) into a running busybox container whose /dst holds
# only keepdir/, and one line per engine and archive says the HTTP status,
# the message, and what /dst holds afterwards (and whether /evil.txt or
# /etc/via-abs.txt appeared). Each engine runs in a network namespace of
# its own (bench/lib.sh). Run it alone: it starts daemons (in this project:
# flock /tmp/shoal-e2e.lock bench/cp-hostile.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ensure_dockerd
go build -o bin/shoal ./cmd/shoal

tag=cp$$
work=$(mktemp -d /var/tmp/shoal-cp.XXXX)
run=$(mktemp -d /run/cp-XXXX)
dsock=unix://$run/d.sock
ssock=unix://$run/s.sock
# dockerd 20.10 writes its trust key to /etc/docker/key.json
[ -e /etc/docker/key.json ] && had_key=1 || had_key=0
trap 'side_by_side_down "$tag" "$run" "$work" "$had_key"' EXIT

netns "$tag-d" 10.249.97.1
netns "$tag-s" 10.249.97.2
./scripts/mkrootfs.sh "$work/rootfs.tar"
python3 bench/cp-hostile.py "$work/tars"
containerd_for docker "$tag-d"
dockerd_in "$tag-d" "$dsock"
nsenter --net=/run/netns/"$tag-s" setsid bin/shoal daemon --data-root "$work/shoal" --exec-root "$run/s" \
	--host "$ssock" --pidfile "$run/s.pid" >"$work/shoal.log" 2>&1 &
disown
wait_api "$dsock"
wait_api "$ssock"
DOCKER_HOST=$dsock docker import "$work/rootfs.tar" busybox:latest >/dev/null
DOCKER_HOST=$ssock bin/shoal image import "$work/rootfs.tar" busybox:latest >/dev/null

for engine in dockerd shoal; do
	[ "$engine" = dockerd ] && export DOCKER_HOST=$dsock || export DOCKER_HOST=$ssock
	c=$(docker run -d busybox sleep 3600)
	for t in "$work"/tars/*.tar; do
		docker exec "$c" sh -c 'rm -rf /dst /evil.txt /etc/via-abs.txt; mkdir -p /dst/keepdir'
		resp=$(curl -sS --unix-socket "${DOCKER_HOST#unix://}" -o "$work/body" -w '%{http_code}' -X PUT \
			-H 'Content-Type: application/x-tar' --data-binary @"$t" \
			"http://docker/v1.41/containers/$c/archive?path=/dst&noOverwriteDirNonDir=true")
		after=$(docker exec "$c" sh -c 'cd /dst && find . -mindepth 1 | sort | tr "\n" " "; for f in /evil.txt /etc/via-abs.txt; do [ -e $f ] && printf "%s " $f; done; true')
		printf '%-8s %-24s %s %s | after: %s\n' "$engine" "$(basename "$t" .tar)" "$resp" "$(tr -d '\n' <"$work/body")" "$after"
	done
	docker rm -f "$c" >/dev/null
done
