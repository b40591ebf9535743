#!/usr/bin/env bash
# Makes sure a headless Chromium is installed: the job report's browser test loads the page
# from our API in it (tests/support/browser.py). Installs Debian's package when it is missing;
# refreshes the package lists only when the first install attempt fails.
set -euo pipefail
command -v chromium >/dev/null && exit 0

echo "ensure-chromium: installing chromium from the distribution's packages" >&2
if [ "$(id -u)" != 0 ]; then
  echo "ensure-chromium: run as root or install chromium first" >&2
  exit 2
fi
install() { DEBIAN_FRONTEND=noninteractive apt-get install --no-install-recommends -y -q chromium >/dev/null 2>&1; }
install || { apt-get update -q >/dev/null 2>&1 && install; } || {
  echo "ensure-chromium: could not install chromium with apt-get" >&2
  exit 2
}
