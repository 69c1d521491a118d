#!/usr/bin/env bash
# Prove the Dockerfile works on a machine with no Docker engine and no registry:
# build a Debian bookworm base with mmdebstrap, build the image with buildah (vfs
# storage, chroot isolation) from wheels fetched on the host, run the CLI in it as
# the image's non-root user, print the image size, and delete all of it afterwards.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d -t habit-notifier-smoke.XXXXXX)"
storage=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
base=localhost/habit-notifier-base:bookworm
image=localhost/habit-notifier:smoke
export PATH="$repo/.tools/bin:$PATH"

cleanup() {
    buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
    buildah "${storage[@]}" rmi --all --force >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "base image: Debian bookworm minbase + python3"
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --mode=root bookworm "$work/rootfs.tar"
ctr="$(buildah "${storage[@]}" from scratch)"
buildah "${storage[@]}" add "$ctr" "$work/rootfs.tar" / >/dev/null
buildah "${storage[@]}" commit --quiet --rm "$ctr" "$base" >/dev/null

step "image build with 'just build' (wheels fetched on the host)"
(
    cd "$repo"
    BUILDAH_FLAGS="${storage[*]}" BUILDAH_ISOLATION=chroot BASE_IMAGE="$base" \
        IMAGE_TAG=smoke WHEELHOUSE="$work/wheelhouse" just build
)

step "run the CLI in the image"
ctr="$(buildah "${storage[@]}" from --pull-never "$image")"
in_image() { buildah "${storage[@]}" run --isolation chroot "$ctr" -- "$@"; }
uid="$(in_image python3 -c 'import os; print(os.getuid())')"
if [[ "$uid" == 0 ]]; then
    echo "image-smoke: the image runs as root" >&2
    exit 1
fi
echo "runs as uid $uid"
in_image habit-notifier --help
touch "$work/before-demo"
in_image habit-notifier demo
root="$(buildah "${storage[@]}" mount "$ctr")"
written="$(find "$root" -xdev -newer "$work/before-demo" -not -path "$root/tmp*" \
    -not -path "$root/dev*" -not -path "$root/proc*" -not -path "$root/sys*" \
    -not -path "$root/run*" -not -path "$root/etc/resolv.conf" -not -path "$root/etc/hosts" \
    -not -path "$root/etc/hostname" -not -path "$root")"
if [[ -n "$written" ]]; then
    echo "image-smoke: demo wrote outside /tmp (a read-only root fs would break):" >&2
    echo "$written" >&2
    exit 1
fi

step "image size"
buildah "${storage[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$image"
buildah "${storage[@]}" push --quiet "$image" "oci-archive:$work/image.tar"
echo "oci-archive: $(du -h "$work/image.tar" | cut -f1)"
step "done"
