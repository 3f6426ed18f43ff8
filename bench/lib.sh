# Shared by the one-node benchmarks (sourced, not run).

# bench_node BRIDGE CIDR PORT starts a throwaway node — its own data root,
# exec root, socket and bridge — exports DOCKER_HOST, removes it all on
# exit, imports busybox:latest (from busybox-static) and makes the node a
# swarm listening on 127.0.0.1:PORT. It sets $data and $run.
bench_node() {
	local bridge=$1 cidr=$2 port=$3
	data=$(mktemp -d /var/tmp/shoal-bench.XXXX)
	run=$(mktemp -d /run/sb-XXXX)
	export DOCKER_HOST=unix://$run/shoal.sock
	bench_bridge=$bridge
	trap bench_cleanup EXIT
	bin/shoal daemon --data-root "$data" --exec-root "$run" --host "$DOCKER_HOST" --pidfile "$run/pid" \
		--bridge-name "$bridge" --bridge-cidr "$cidr" >"$data/daemon.log" 2>&1 &
	for _ in $(seq 1 100); do bin/shoal version >/dev/null 2>&1 && break; sleep 0.2; done
	./scripts/mkrootfs.sh "$run/rootfs.tar"
	bin/shoal image import "$run/rootfs.tar" busybox:latest >/dev/null
	docker swarm init --advertise-addr "127.0.0.1:$port" --listen-addr "127.0.0.1:$port" >/dev/null
}

bench_cleanup() {
	bin/shoal swarm leave --force >/dev/null 2>&1 || true
	[ -f "$run/pid" ] && kill "$(cat "$run/pid")" 2>/dev/null || true
	sleep 1
	# The daemon's private containerd, found by its own state directory.
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^containerd --config $run/"; then
			kill -9 "${p#/proc/}" 2>/dev/null || true
		fi
	done
	grep -o " $run[^ ]*\| $data[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip link del "$bench_bridge" 2>/dev/null || true
	rm -rf "$data" "$run"
}

# median prints the median of its arguments.
median() {
	printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
