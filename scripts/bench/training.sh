#!/usr/bin/env bash
# Training throughput in each precision, in one run: `stylize train` (a style network at width 0.25 and at the
# paper's width 1.0, 256 px crops, batch 2), `stylize distill` (width 0.5 from the shipped starry-night, the same
# crops) and `stylize train-upscaler` (x4 ESPCN and the residual network on the pixel loss, and the
# residual network on the perceptual loss), STEPS steps each, from the same seed. Prints images per second and the
# loss at the last step, as a Markdown table naming the CPU.
#   usage: scripts/bench/training.sh [PHOTOS_DIR (default /tmp/photos, fetched if missing)] [STEPS (30)] [PRECISIONS ("fp32 auto")]
#          [ONLY (runs whose name contains this, e.g. "width 1.0")]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
photos=${1:-/tmp/photos}; steps=${2:-30}; precisions=${3:-"fp32 auto"}; only=${4:-}
[ -d "$photos" ] || ../shared/data/fetch-photos.sh "$photos"
stylize=$(build_product stylize)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
runs=(
  "style network, width 0.25|train examples/starry-night.jpg --photos $photos --width 0.25 --size 256 --batch 2 --lr 5e-3 --content-weight 30"
  "style network, width 1.0|train examples/starry-night.jpg --photos $photos --width 1 --size 256 --batch 2 --lr 1e-3"
  "style network, width 0.5, distilled|distill starry-night --photos $photos --width 0.5 --size 256 --batch 2 --lr 3e-3"
  "upscaler x4 ESPCN, pixel loss|train-upscaler --photos $photos --scale 4 --loss pixel"
  "upscaler x4 residual, pixel loss|train-upscaler --photos $photos --scale 4 --loss pixel --architecture residual"
  "upscaler x4 residual, perceptual loss|train-upscaler --photos $photos --scale 4 --loss perceptual --architecture residual"
)
echo "$(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), 2 threads, $steps steps from seed 1"
echo
echo "| what | --precision | ran in | images/s | loss at step $steps |"
echo "|---|---|---|---:|---:|"
for run in "${runs[@]}"; do
  name=${run%%|*}; read -ra args <<<"${run#*|}"
  [[ $name == *"$only"* ]] || continue
  for precision in $precisions; do
    rm -f "$work"/m*
    echo "bench/training: $name, $precision" >&2
    "$stylize" "${args[@]}" -o "$work/m.safetensors" --steps "$steps" --seed 1 --checkpoint-every 100000 \
      --threads 2 --quiet --precision "$precision" --log "$work/m.jsonl"
    python3 - "$work/m.jsonl" "$name" "$precision" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
last = rows[-1]
# The first steps compile the networks and, for auto, time both formats: throughput from the second half.
half = rows[len(rows) // 2 - 1]
rate = (last["images_per_second"] * last["seconds"] - half["images_per_second"] * half["seconds"]) / (last["seconds"] - half["seconds"])
loss = last["total"] if "total" in last else last["pixel"]  # distillation's one term: the difference from the teacher
print(f"| {sys.argv[2]} | {sys.argv[3]} | {last.get('precision', '?')} | {rate:.2f} | {loss:.4g} |")
PY
  done
done
