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
# packages with this machine's pip configuration and local wheel mirror (/etc/pip.conf, /opt/wheels,
# /opt/pypi*) where download.pytorch.org is unreachable, as here. NESTED=1 inside a container that lacks CAP_SYS_RESOURCE on hybrid cgroups (crun
# refuses hybrid cgroups; podman's default rlimits cannot be set): uses runc and the current limits.
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

podman=(podman)
limits=()
if [ "${NESTED:-0}" = 1 ]; then
  need runc runc
  podman=(podman --runtime runc)
  limits=(--ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit nproc=4096:4096)
fi

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
  # This machine's pip set-up, lent to the build only (volumes are not part of the image): its pip.conf
  # (find-links, constraints, the CA bundle that trusts the registry proxy) and the wheel mirror it names.
  for path in /etc/pip.conf /etc/xdg/pip /etc/ssl/certs/ca-certificates.crt /opt/wheels /opt/pypi /opt/pypi-more; do
    [ -e "$path" ] && build_args+=(--volume "$path:$path:ro")
  done
  # The user's pip.conf holds the find-links for the local CPU torch wheel; the build runs as root.
  [ -e "$HOME/.config/pip/pip.conf" ] && build_args+=(--volume "$HOME/.config/pip/pip.conf:/root/.config/pip/pip.conf:ro")
  build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=file:///opt/pypi/simple file:///opt/pypi-more/simple")
fi

echo "== building $IMAGE"
# --format docker keeps the HEALTHCHECK (the OCI image format has no field for it).
"${podman[@]}" build --format docker --network host "${limits[@]}" "${build_args[@]}" -t "$IMAGE" .

echo "== checking $IMAGE"
podman image inspect --format 'user={{.Config.User}} volumes={{.Config.Volumes}} healthcheck={{.Config.Healthcheck.Test}} stopsignal={{.Config.StopSignal}}' "$IMAGE"
# One-shot commands: no healthcheck timer (podman would need systemd for it).
run=("${podman[@]}" run --rm --no-healthcheck "${limits[@]}")
"${run[@]}" "$IMAGE" commentwarden --version
volume="commentwarden-check-$$"
podman volume create "$volume" >/dev/null
trap 'podman volume rm -f "$volume" >/dev/null' EXIT
"${run[@]}" -v "$volume:/data" -e DETOXIFY_MODEL=demo "$IMAGE" commentwarden scan
echo "== the volume, written by the non-root user; a backup into it; health without a running bot"
"${run[@]}" -v "$volume:/data" "$IMAGE" sh -c 'id; commentwarden db backup /data/backup.db; ls -ln /data'
if "${run[@]}" -v "$volume:/data" "$IMAGE" commentwarden health; then
  echo "health said healthy with no bot running" >&2
  exit 1
fi
echo "== image $IMAGE checked"
