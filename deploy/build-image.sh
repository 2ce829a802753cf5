#!/usr/bin/env bash
# Builds the commentwarden container image with podman (Debian's package), on a machine that cannot pull
# from a container registry: the base image is bootstrapped from Debian's own packages (mmdebstrap, a
# bookworm rootfs with Python 3.11) and imported into podman, then the Dockerfile is built on it and checked
# by running `commentwarden --version` and a `scan` of the built-in sample in the image.
#
# With registry access, `podman build -t commentwarden .` (or `docker build`) uses python:3.11-slim instead.
#
# Environment: IMAGE (default localhost/commentwarden:latest), BASE_IMAGE (default
# localhost/commentwarden-base:bookworm; bootstrapped when absent), PIP_MIRROR=1 to install the Python
# packages from this machine's local wheel mirror (/opt/wheels, /opt/pypi*) when download.pytorch.org is
# unreachable, as here.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-localhost/commentwarden:latest}"
BASE_IMAGE="${BASE_IMAGE:-localhost/commentwarden-base:bookworm}"

need() {
  if ! command -v "$1" >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$2"
  fi
}
need podman podman
need mmdebstrap mmdebstrap

if ! podman image exists "$BASE_IMAGE"; then
  echo "== bootstrapping $BASE_IMAGE from Debian bookworm packages"
  rootfs="$(mktemp -d)/rootfs.tar"
  mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$rootfs" http://deb.debian.org/debian
  podman import --change 'CMD ["/bin/bash"]' "$rootfs" "$BASE_IMAGE"
  rm -rf "$(dirname "$rootfs")"
fi

build_args=(--build-arg "BASE=$BASE_IMAGE")
if [ "${PIP_MIRROR:-0}" = 1 ]; then
  for dir in /opt/wheels /opt/pypi /opt/pypi-more; do build_args+=(--volume "$dir:$dir:ro"); done
  build_args+=(--build-arg PIP_FIND_LINKS=/opt/wheels
               --build-arg "PIP_EXTRA_INDEX_URL=file:///opt/pypi/simple file:///opt/pypi-more/simple")
fi

echo "== building $IMAGE"
# --format docker keeps the HEALTHCHECK (the OCI image format has no field for it).
podman build --format docker --network host "${build_args[@]}" -t "$IMAGE" .

echo "== checking $IMAGE"
podman run --rm "$IMAGE" commentwarden --version
podman run --rm -e DETOXIFY_MODEL=demo "$IMAGE" commentwarden scan
podman image inspect --format 'user={{.Config.User}} volumes={{.Config.Volumes}} healthcheck={{.Config.Healthcheck.Test}}' "$IMAGE"
