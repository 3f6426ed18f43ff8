# Shared by the one-node benchmarks (sourced, not run).

# bench_node BRIDGE CIDR PORT [DAEMON FLAG...] starts a throwaway node — its
# own data root, exec root, socket and bridge — exports DOCKER_HOST, removes
# it all on exit, imports busybox:latest (from busybox-static) and makes the
# node a swarm listening on 127.0.0.1:PORT. It sets $data and $run; the
# daemon logs to $data/daemon.log.
bench_node() {
	local bridge=$1 cidr=$2 port=$3
	shift 3
	data=$(mktemp -d /var/tmp/shoal-bench.XXXX)
	run=$(mktemp -d /run/sb-XXXX)
	export DOCKER_HOST=unix://$run/shoal.sock
	bench_bridge=$bridge
	trap bench_cleanup EXIT
	bin/shoal daemon --data-root "$data" --exec-root "$run" --host "$DOCKER_HOST" --pidfile "$run/pid" \
		--bridge-name "$bridge" --bridge-cidr "$cidr" "$@" >"$data/daemon.log" 2>&1 &
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

# converge_once NAME REPLICAS creates service NAME (REPLICAS tasks of
# busybox sleep) on the engine at $DOCKER_HOST, prints the seconds from the
# create until `docker service ls` counts every task running, then removes
# the service and waits until its containers are gone. The same code
# measures Shoal and Docker (bench/vs-docker.sh). KILL stops the tasks at
# once: busybox sleep as PID 1 ignores SIGTERM, and the removal is not what
# is measured.
converge_once() {
	local name=$1 replicas=$2 start now
	start=$(date +%s.%N)
	docker service create -d -q --no-resolve-image --stop-signal KILL --name "$name" --replicas "$replicas" \
		busybox sleep 3600 >/dev/null
	# REPLICAS of service ls counts running tasks (ServiceStatus).
	while [ "$(docker service ls --filter "name=$name" --format '{{.Replicas}}')" != "$replicas/$replicas" ]; do
		now=$(date +%s.%N)
		if [ "$(echo "$now - $start > 300" | bc -l)" = 1 ]; then
			echo "converge_once: $name not converged after 300 s" >&2
			docker service ps --no-trunc "$name" >&2 || true
			return 1
		fi
		sleep 0.05
	done
	now=$(date +%s.%N)
	echo "$now - $start" | bc -l
	docker service rm "$name" >/dev/null
	for _ in $(seq 1 600); do
		[ -z "$(docker ps -aq --filter "label=com.docker.swarm.service.name=$name")" ] && return
		sleep 0.1
	done
	echo "converge_once: containers of $name still there after 60 s" >&2
	return 1
}

# bench_sweep DIR... removes what a benchmark left under its directories:
# processes whose command line names one (containerd, shims and their
# containers, log drivers, a daemon that would not stop), children first,
# then mounts under them, then the directories.
bench_sweep() {
	local p cmd d hit
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		hit=0
		for d in "$@"; do
			case $cmd in *"$d/"*) hit=1 ;; esac
		done
		[ "$hit" = 1 ] && kill_tree "${p#/proc/}"
	done
	for d in "$@"; do
		grep -o " $d/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
		! mountpoint -q "$d" || umount -l "$d"
		rm -rf "$d"
	done
}

# side_by_side_down TAG RUN WORK HAD_KEY stops the two engines of a
# side-by-side bench (dockerd and Shoal, sockets and pidfiles RUN/d.* and
# RUN/s.*, network namespaces TAG-d and TAG-s): their containers removed,
# the daemons stopped, what they left swept, and dockerd's trust key
# removed unless it was there before (HAD_KEY 1).
side_by_side_down() {
	set +e
	local tag=$1 run=$2 work=$3 had_key=$4 h pids p alive
	for h in "unix://$run/d.sock" "unix://$run/s.sock"; do
		DOCKER_HOST=$h timeout 60 sh -c 'docker ps -aq | xargs -r docker rm -f' >/dev/null 2>&1
	done
	pids=$(cat "$run/d.pid" "$run/s.pid" 2>/dev/null)
	for p in $pids; do kill "$p" 2>/dev/null; done
	for _ in $(seq 1 50); do
		alive=0
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.2
	done
	bench_sweep "$run" "$work"
	ip netns del "$tag-d" 2>/dev/null
	ip netns del "$tag-s" 2>/dev/null
	[ "$had_key" = 1 ] || rm -f /etc/docker/key.json
}

# kill_tree PID kills a process and everything under it, children first.
kill_tree() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do kill_tree "$c"; done
	kill -9 "$1" 2>/dev/null || true
}

# median prints the median of its arguments.
median() {
	printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# spread prints the smallest and largest of its arguments as "MIN–MAX".
spread() {
	printf '%s\n' "$@" | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.2f–%.2f", lo, hi}'
}

# The side-by-side benchmarks against dockerd (bench/vs-docker.sh,
# bench/engine.sh) share what follows; containerd_for uses their $work and
# $run directories.

# ensure_dockerd installs Debian's docker.io when dockerd is missing,
# starting nothing: policy-rc.d makes the package's scripts skip their
# service starts.
ensure_dockerd() {
	command -v dockerd >/dev/null && return
	echo "installing docker.io (dockerd is missing)" >&2
	[ -e /usr/sbin/policy-rc.d ] && { echo "/usr/sbin/policy-rc.d exists; not touching it" >&2; exit 1; }
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >&2 || rc=$?
	rm -f /usr/sbin/policy-rc.d
	[ "$rc" = 0 ] || exit "$rc"
}
# netns NAME ADDR makes a network namespace with loopback and a veth pair
# of its own, one end holding ADDR, the address the swarm advertises:
# nothing in it reaches the host's network.
netns() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n "$1" link add swarm0 type veth peer name swarm1
	ip -n "$1" addr add "$2/24" dev swarm0
	ip -n "$1" link set swarm0 up
	ip -n "$1" link set swarm1 up
}

# containerd_for NAME NETNS starts a containerd for dockerd in network
# namespace NETNS, its state under $run/NAME-c and its root under $work,
# configured as Shoal configures its private one (internal/privatecontainerd).
containerd_for() {
	local root=$work/$1-containerd state=$run/$1-c
	mkdir -p "$root" "$state"
	cat >"$state/config.toml" <<-EOF
		version = 2
		root = "$root"
		state = "$state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]
		[grpc]
		  address = "$state/containerd.sock"
		[ttrpc]
		  address = "$state/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
	EOF
	nsenter --net=/run/netns/"$2" setsid containerd --config "$state/config.toml" >"$work/$1-containerd.log" 2>&1 &
	disown
	for _ in $(seq 1 100); do ctr --address "$state/containerd.sock" version >/dev/null 2>&1 && return; sleep 0.1; done
	echo "containerd for $1 did not come up; its log:" >&2
	cat "$work/$1-containerd.log" >&2
	exit 1
}

# wait_api HOST waits until the engine at HOST answers.
wait_api() {
	for _ in $(seq 1 150); do DOCKER_HOST=$1 docker version >/dev/null 2>&1 && return; sleep 0.2; done
	echo "engine at $1 did not come up" >&2
	exit 1
}


# dockerd_in NETNS SOCK starts dockerd in network namespace NETNS, serving
# SOCK, on the containerd containerd_for started as "docker": its data root
# under $work, its exec root and pidfile ($run/d.pid) under $run, no
# iptables rules and no userland proxy.
dockerd_in() {
	echo '{}' >"$work/daemon.json"
	nsenter --net=/run/netns/"$1" setsid dockerd --config-file "$work/daemon.json" \
		--data-root "$work/docker" --exec-root "$run/d" --pidfile "$run/d.pid" -H "$2" \
		--containerd "$run/docker-c/containerd.sock" --iptables=false --ip-masq=false \
		--userland-proxy=false --log-level info >"$work/docker.log" 2>&1 &
	disown
}
