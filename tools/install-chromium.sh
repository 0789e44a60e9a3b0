#!/usr/bin/env bash
# Installs Debian's Chromium (the dashboard's browser tests drive it with playwright-core; nothing
# downloads a browser). Idempotent: does nothing when /usr/bin/chromium is there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tools/install-chromium.sh: no apt-get here; install Chromium and set ACCORD_CHROMIUM to its path" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
echo "tools/install-chromium.sh: installing Debian's chromium with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
