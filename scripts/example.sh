#!/usr/bin/env bash
# The main job on the bundled example images: paints examples/chelsea-cat.png in the style of
# examples/starry-night.jpg and writes out/example.png. Installs what it needs on the way.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product stylize
mkdir -p out
.build/release/stylize weights
.build/release/stylize transfer examples/chelsea-cat.png examples/starry-night.jpg -o out/example.png \
  --size 384 --iterations 200 "$@"
