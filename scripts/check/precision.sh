#!/usr/bin/env bash
# Does bf16 change what the optimisation reaches? For each example pair, runs `stylize transfer` with
# --precision fp32 and with auto (bf16 on CPUs with native bf16 units), then scores both saved images with the
# same float32 objective (a zero-iteration run started from the image) and prints a Markdown table. With
# --images it also paints both precisions at 512 px for 500 iterations into docs/images/precision-*.png, to be
# looked at side by side. The objective's values depend only on the inputs, not on the machine's load.
#   usage: scripts/check/precision.sh [--size 256] [--iterations 100] [--images]  > table.md
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
size=256; iterations=100; images=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --images) images=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/setup.sh >&2
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pairs=("examples/chelsea-cat.png examples/starry-night.jpg" "examples/cincinnati-bridge.jpg examples/great-wave.png")
score() {  # the float32 objective of an image: iteration 0 of a run that starts from it
  "$stylize" transfer "$2" "$3" -o "$work/score.png" --size "$size" --iterations 0 --init "$1" --precision fp32 \
    --threads 2 --quiet --log "$work/score.jsonl"
  python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["total"])' "$work/score.jsonl"
}
echo "Objective after $iterations L-BFGS iterations at $size px from the content photo, each result saved as PNG and"
echo "scored in float32 ($(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))."
echo
echo "| pair | fp32 | auto | ran in | auto / fp32 |"
echo "|---|---:|---:|---|---:|"
for pair in "${pairs[@]}"; do
  read -r content style <<<"$pair"
  name="$(basename "${content%.*}") + $(basename "${style%.*}")"
  declare -A total ran
  for precision in fp32 auto; do
    echo "check/precision: $name, $precision" >&2
    "$stylize" transfer "$content" "$style" -o "$work/$precision.png" --size "$size" --iterations "$iterations" \
      --precision "$precision" --threads 2 --quiet --log "$work/$precision.jsonl"
    total[$precision]=$(score "$work/$precision.png" "$content" "$style")
    ran[$precision]=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline()).get("precision", "?"))' "$work/$precision.jsonl")
  done
  python3 -c 'import sys; a, b = float(sys.argv[2]), float(sys.argv[3]); print(f"| {sys.argv[1]} | {a:.4g} | {b:.4g} | {sys.argv[4]} | {b / a:.3f} |")' \
    "$name" "${total[fp32]}" "${total[auto]}" "${ran[auto]}"
done
if [ "$images" = 1 ]; then
  for precision in fp32 auto; do
    echo "check/precision: 512 px, 500 iterations, $precision" >&2
    "$stylize" transfer examples/chelsea-cat.png examples/starry-night.jpg -o "docs/images/precision-$precision.png" \
      --size 512 --iterations 500 --precision "$precision" --threads 2 --quiet
  done
fi
