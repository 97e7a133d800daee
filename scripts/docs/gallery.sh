#!/usr/bin/env bash
# Renders docs/gallery.png: each example photo (rows: chelsea-cat, cincinnati-bridge) as it is, then painted in
# the style of starry-night and of great-wave, then two more controls per row:
#   chelsea-cat:       starry-night with --preserve-colors luminance;  both styles, --style-blend 1,1
#   cincinnati-bridge: great-wave with --preserve-colors match;        starry-night on the left half and
#                                                                      great-wave on the right (--style-mask)
# under a header row with the two style images. The example images come with no masks, so
# `stylize mask --split left` draws one, and its inverse (`--invert`) goes to the other style.
# 256 px, two scales (128 px for 80 L-BFGS iterations, then 256 px for 50), Winograd convolutions: 8 renders
# of a few minutes each on 2 shared cores.
#   usage: scripts/docs/gallery.sh [OUTPUT]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
output=${1:-docs/gallery.png}
stylize=$(build_product stylize)
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
common=(--size 256 --scales 2 --scale-iterations 80,50 --convolution winograd --quiet)
starry=examples/starry-night.jpg; wave=examples/great-wave.png
render() {  # name, content, then styles and flags
  local name=$1 content=$2; shift 2
  if [ ! -f "$work/$name.png" ]; then
    echo "docs/gallery: $name" >&2
    "$stylize" transfer "$content" "$@" -o "$work/$name.png" "${common[@]}"
  fi
}
cells=(- "$starry" "$wave" - -)
for content in examples/chelsea-cat.png examples/cincinnati-bridge.jpg; do
  n=$(basename "${content%.*}")
  render "$n-starry" "$content" "$starry"
  render "$n-wave" "$content" "$wave"
  cells+=("$content" "$work/$n-starry.png" "$work/$n-wave.png")
done
render chelsea-cat-starry-luminance examples/chelsea-cat.png "$starry" --preserve-colors luminance
render chelsea-cat-blend examples/chelsea-cat.png "$starry" "$wave" --style-blend 1,1
"$stylize" mask examples/cincinnati-bridge.jpg --split left -o "$work/bridge-left.png"
"$stylize" mask examples/cincinnati-bridge.jpg --split left --invert -o "$work/bridge-right.png"
render cincinnati-bridge-wave-match examples/cincinnati-bridge.jpg "$wave" --preserve-colors match
render cincinnati-bridge-masks examples/cincinnati-bridge.jpg "$starry" "$wave" \
  --style-mask 1="$work/bridge-left.png" --style-mask 2="$work/bridge-right.png"
# Rows: the header, then each photo with its two styles and its two extra controls.
cells=("${cells[@]:0:8}" "$work/chelsea-cat-starry-luminance.png" "$work/chelsea-cat-blend.png"
       "${cells[@]:8:3}" "$work/cincinnati-bridge-wave-match.png" "$work/cincinnati-bridge-masks.png")
"$stylize" grid --columns 5 --cell 256 -o "$output" "${cells[@]}"
echo "docs/gallery: wrote $output" >&2
