#!/usr/bin/env bash
# The main job on the bundled example images: paints examples/chelsea-cat.png in the style of
# examples/starry-night.jpg and writes out/example.png. Installs what it needs on the way.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
scripts/setup.sh
stylize=$(build_product stylize)
mkdir -p out
"$stylize" weights
"$stylize" transfer examples/chelsea-cat.png examples/starry-night.jpg -o out/example.png \
  --size 384 --iterations 200 "$@"
