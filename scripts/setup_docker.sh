#!/usr/bin/env bash
# Prepare a Docker engine for the compiler's container tests (idempotent).
#
# 1. installs docker.io and debootstrap from Debian when missing,
# 2. starts dockerd (vfs storage, no iptables, no bridge) unless `docker info` answers,
# 3. makes the Python base image ZENML_KF_BASE_IMAGE with debootstrap + `docker import`
#    when it is absent (no registry can be pulled from on CI machines), from the Debian
#    mirror apt on this machine is configured with (ZENML_KF_DEBIAN_MIRROR overrides it)
#    and through apt's proxy, so a private mirror or a proxy needs no extra set-up.
#
# Prints `BASE_IMAGE=<name>` and `DOCKERD_PID=<pid or empty>` on its last two lines; the
# pid is only set when this run started the daemon, so the caller knows what to stop.
# `--print-mirror` only prints the mirror and proxy step 3 would use, and exits.
set -euo pipefail

BASE_IMAGE="${ZENML_KF_BASE_IMAGE:-zenml-kf-python:3.11-bookworm}"
DOCKERD_LOG="${ZENML_KF_DOCKERD_LOG:-/tmp/zenml-kf-dockerd.log}"
SUITE=bookworm
started_pid=""

log() { echo "setup_docker: $*" >&2; }

# The mirror apt already fetches $SUITE's main component from, as apt itself parsed its
# sources files (one-line and deb822 alike).
apt_mirror() {
    command -v apt-get >/dev/null 2>&1 || return 0
    apt-get indextargets --no-release-info --format '$(SITE)' "Release: $SUITE" 'Component: main' \
        'Identifier: Packages' 2>/dev/null | head -n 1
}

# apt's proxy, for debootstrap (which honours http_proxy) when the environment names none.
apt_proxy() {
    command -v apt-config >/dev/null 2>&1 || return 0
    local proxy=""
    eval "$(apt-config shell proxy Acquire::http::Proxy)"
    printf '%s' "$proxy"
}

debootstrap_source() {
    mirror="${ZENML_KF_DEBIAN_MIRROR:-$(apt_mirror)}"
    if [ -z "$mirror" ]; then
        log "no apt source for Debian $SUITE on this machine; set ZENML_KF_DEBIAN_MIRROR to a Debian mirror URL"
        exit 1
    fi
    if [ -z "${http_proxy:-}" ]; then
        proxy="$(apt_proxy)"
        if [ -n "$proxy" ]; then export http_proxy="$proxy"; fi
    fi
}

if [ "${1:-}" = "--print-mirror" ]; then
    debootstrap_source
    echo "MIRROR=$mirror"
    echo "HTTP_PROXY=${http_proxy:-}"
    exit 0
fi

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
    debootstrap_source
    root="$(mktemp -d /tmp/zenml-kf-rootfs.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    log "building $BASE_IMAGE with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        "$SUITE" "$root" "$mirror" >&2
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import --change 'CMD ["python3"]' - "$BASE_IMAGE" >&2
    rm -rf "$root"
    trap - EXIT
fi

echo "BASE_IMAGE=$BASE_IMAGE"
echo "DOCKERD_PID=$started_pid"
