#!/usr/bin/env bash
# Trains the three bundled models (models/NAME.safetensors) with `stylize train` itself, then renders the README
# gallery (docs/images/NAME-*.png) and prints each log's summary. About an hour per model on 2 quiet cores;
# Ctrl-C is safe: rerun the script and each unfinished model resumes from its checkpoint.
#   usage: scripts/train/style-models.sh [PHOTOS_DIR (default /tmp/photos, fetched if missing)] [NAME...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
photos=${1:-/tmp/photos}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(starry-night great-wave kandinsky-composition-viii)
[ -d "$photos" ] || ../shared/data/fetch-photos.sh "$photos"
stylize=$(build_product stylize)
for name in "${names[@]}"; do
  style=$(ls ../shared/images/style/"$name".* | head -1)
  resume=(); [ -f "models/$name.checkpoint.safetensors" ] && resume=(--resume)
  # The shipped settings (docs/feedforward.md explains them); keep this line and the docs' in step.
  "$stylize" train "$style" --photos "$photos" -o "models/$name.safetensors" \
    --width 0.25 --size 256 --batch 2 --steps 1200 --lr 5e-3 --content-weight 30 --seed 1 \
    --checkpoint-every 100 --preview examples/chelsea-cat.png --log "models/$name.jsonl" --threads 2 "${resume[@]}"
  for photo in examples/chelsea-cat.png examples/cincinnati-bridge.jpg; do
    base=$(basename "${photo%.*}")
    "$stylize" apply "$name" "$photo" -o "docs/images/$name-$base.png" --size 512 --quiet
  done
  echo "== $name"; scripts/train/summarize-log.py "models/$name.jsonl"
done
