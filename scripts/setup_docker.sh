#!/usr/bin/env bash
# Prepare a Docker engine for the compiler's container tests (idempotent).
#
# 1. installs docker.io and debootstrap from Debian when missing,
# 2. starts dockerd (vfs storage, no iptables, no bridge) unless `docker info` answers,
# 3. makes the Python base image ZENML_KF_BASE_IMAGE with debootstrap + `docker import`
#    when it is absent (no registry can be pulled from on CI machines).
#
# Prints `BASE_IMAGE=<name>` and `DOCKERD_PID=<pid or empty>` on its last two lines; the
# pid is only set when this run started the daemon, so the caller knows what to stop.
set -euo pipefail

BASE_IMAGE="${ZENML_KF_BASE_IMAGE:-zenml-kf-python:3.11-bookworm}"
DOCKERD_LOG="${ZENML_KF_DOCKERD_LOG:-/tmp/zenml-kf-dockerd.log}"
DEBIAN_MIRROR="${ZENML_KF_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
started_pid=""

log() { echo "setup_docker: $*" >&2; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ "${#need_apt[@]}" -gt 0 ]; then
    log "installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: the daemon must outlive this script and the shell that ran it.
    setsid dockerd --storage-driver=vfs --iptables=false --bridge=none >"$DOCKERD_LOG" 2>&1 < /dev/null &
    started_pid=$!
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not answer in 60 s; see $DOCKERD_LOG"; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    root="$(mktemp -d /tmp/zenml-kf-rootfs.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    log "building $BASE_IMAGE with debootstrap (about a minute)"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$root" "$DEBIAN_MIRROR" >&2
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import --change 'CMD ["python3"]' - "$BASE_IMAGE" >&2
    rm -rf "$root"
    trap - EXIT
fi

echo "BASE_IMAGE=$BASE_IMAGE"
echo "DOCKERD_PID=$started_pid"
