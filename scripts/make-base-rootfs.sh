#!/usr/bin/env bash
# Writes a tarball of a Debian bookworm root file system that stands in for the official
# python:3.11-slim-bookworm image: Debian's Python 3.11 with venv and pip at that image's
# paths (/usr/local/bin/python, pip), no EXTERNALLY-MANAGED marker, docs and caches removed.
# Usage: make-base-rootfs.sh OUT.tar   (root; debootstrap from the mirror apt already uses)
set -euo pipefail
out="$(realpath -m "${1:?usage: $0 OUT.tar}")"
[ "$(id -u)" = 0 ] || { echo "make-base-rootfs: run as root" >&2; exit 2; }
mirror() { apt-get indextargets --format '$(SITE) $(RELEASE)' | awk -v r="$1" '$2==r {print $1; exit}'; }
main="$(mirror bookworm)"
security="$(mirror bookworm-security)"
[ -n "$main" ] || { echo "make-base-rootfs: apt has no bookworm source" >&2; exit 2; }

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/base-rootfs.XXXXXX")"
cleanup() {
  umount "$rootfs/proc" 2>/dev/null || true
  umount "$rootfs/etc/hosts" 2>/dev/null || true
  rm -rf "$rootfs"
}
trap cleanup EXIT
echo "make-base-rootfs: debootstrap bookworm" >&2
debootstrap --variant=minbase --include=ca-certificates,netbase,tzdata,python3,python3-venv \
  bookworm "$rootfs" "$main" >"$out.debootstrap.log" 2>&1
{
  echo "deb $main bookworm main"
  echo "deb $main bookworm-updates main"
  [ -z "$security" ] || echo "deb $security bookworm-security main"
} >"$rootfs/etc/apt/sources.list"
mount --bind /etc/hosts "$rootfs/etc/hosts"
mount -t proc proc "$rootfs/proc"
chroot "$rootfs" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade \
  && DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends python3-pip \
  && apt-get clean' >>"$out.debootstrap.log" 2>&1
umount "$rootfs/proc" "$rootfs/etc/hosts"

bin="$rootfs/usr/local/bin"
mkdir -p "$bin"
ln -sfn /usr/bin/python3.11 "$bin/python3.11"
ln -sfn python3.11 "$bin/python3"
ln -sfn python3 "$bin/python"
ln -sfn /usr/bin/pip3 "$bin/pip3.11"
ln -sfn pip3.11 "$bin/pip3"
ln -sfn pip3 "$bin/pip"
rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
rm -rf "$rootfs"/usr/share/{man,info,locale,groff,lintian}/* "$rootfs"/var/cache/apt/* \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$rootfs" -name __pycache__ -type d -prune -exec rm -rf {} +
: >"$rootfs/etc/resolv.conf"
chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())' >"$rootfs/etc/python-version"
tar --numeric-owner --xattrs -C "$rootfs" -cf "$out.partial" .
mv "$out.partial" "$out"
echo "make-base-rootfs: wrote $out ($(du -h "$out" | cut -f1))" >&2
