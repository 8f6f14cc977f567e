#!/usr/bin/env bash
# System packages the test suite needs: git (repositories under test), a Docker engine and
# debootstrap (step images built and run for real), an image registry (pushes),
# MariaDB (ML Metadata on MySQL).
# Idempotent: installs only what is missing. Uses sudo when not root.
set -euo pipefail

declare -A need=(
  [git]=git
  [dockerd]=docker.io
  [debootstrap]=debootstrap
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [docker-registry]=docker-registry
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
