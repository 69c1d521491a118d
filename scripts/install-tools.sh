#!/usr/bin/env bash
# Install every tool the justfile and the deploy tests need, from this repo's pins:
# the Python-packaged CLIs (just, kubectl, checkov, ...) into .tools/venv, PyYAML into
# the Python that runs pytest, and buildah + mmdebstrap from apt when they are missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.tools/venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$repo/requirements-tools.txt"

# The deploy tests parse rendered manifests; the core's dev extra has no YAML parser.
"$python" -m pip install --quiet --disable-pip-version-check "PyYAML==6.0.4"

missing=()
for tool in buildah mmdebstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ "$(id -u)" != 0 ]]; then
        echo "install-tools: need root to apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

echo "install-tools: ready; put $venv/bin first on PATH or call $venv/bin/just"
