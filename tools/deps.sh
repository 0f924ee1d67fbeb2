#!/usr/bin/env bash
# Installs the Debian 12 packages incuhub needs to build and test, if any
# are missing. Run as root (or it will use sudo when available).
set -euo pipefail
packages=(build-essential cmake pkg-config libczmq-dev libzmq3-dev
          libsodium-dev liblmdb-dev libmsgpack-dev libjansson-dev
          clang-format clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
