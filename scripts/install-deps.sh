#!/usr/bin/env bash
# Installs, from Debian packages, what Shoal needs at run time and what its
# tests drive: containerd and runc (containers), crun (the other OCI
# runtime, --default-runtime crun), busybox-static (test
# images), nftables and iproute2 (networking), tini (--init), socat,
# tcpdump and ping (the network tests look at the wire), a docker CLI
# when the machine has none (Debian's docker.io ships one), chromium (the
# web UI's browser tests), Debian's docker-py (python3-docker, for e2e
# TestCompat/docker-py) and Debian's docker-compose (Compose v1 on docker-py,
# for e2e TestCompose).
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
command -v socat >/dev/null || need+=(socat)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v ping >/dev/null || need+=(iputils-ping)
command -v tini-static >/dev/null || need+=(tini)
command -v docker >/dev/null || need+=(docker.io)
command -v chromium >/dev/null || need+=(chromium)
/usr/bin/python3 -c 'import docker' 2>/dev/null || need+=(python3-docker)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# docker.io would start its own engine; keep package scripts from starting services.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi
