#!/usr/bin/env bash
# Builds a busybox root filesystem tarball from Debian's busybox-static:
# a small image to run without any registry. Usage: mkrootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: mkrootfs.sh OUT.tar}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev,run,var/www}
cp /bin/busybox "$dir/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
chmod 1777 "$dir/tmp"
tar -C "$dir" --numeric-owner --owner=0 --group=0 -cf "$out" .
