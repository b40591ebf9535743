#!/usr/bin/env bash
# Makes sure Ceph's RADOS Gateway and the daemons it needs (one monitor, one OSD) are installed:
# the tests start their own in-memory cluster on free loopback ports (tests/support/rgw.py).
# Installs Debian's packages when a binary is missing; refreshes the package lists only when
# the first install attempt fails.
set -euo pipefail
needed=(radosgw radosgw-admin ceph-mon ceph-osd ceph monmaptool uuidgen)
missing=()
for binary in "${needed[@]}"; do command -v "$binary" >/dev/null || missing+=("$binary"); done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "ensure-rgw: installing Ceph's gateway from the distribution's packages (missing: ${missing[*]})" >&2
packages=(radosgw ceph-mon ceph-osd uuid-runtime)
install() { apt-get install --no-install-recommends -y -q "${packages[@]}" >/dev/null 2>&1; }
if [ "$(id -u)" != 0 ]; then
  echo "ensure-rgw: run as root or install ${packages[*]} first" >&2
  exit 2
fi
install || { apt-get update -q >/dev/null 2>&1 && install; } || {
  echo "ensure-rgw: could not install ${packages[*]} with apt-get" >&2
  exit 2
}
