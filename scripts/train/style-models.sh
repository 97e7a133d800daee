#!/usr/bin/env bash
# Trains the bundled style models (models/NAME.safetensors) with `stylize train` itself, then renders the README
# gallery (docs/images/NAME-*.png), prints the log's summary and scores the model against the optimisation
# (scripts/check/score-models.sh). A model trains in models/training/ (not committed) and is copied to models/, with its
# runs' logs joined into one, when all of its runs are done. About two and a half hours per model on 2 quiet cores with
# AMX (bf16), graffiti's a third of that; Ctrl-C is safe: rerun the script and each unfinished model resumes from its
# checkpoint.
#   usage: scripts/train/style-models.sh [PHOTOS_DIR (default /tmp/photos, fetched if missing)] [NAME...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
source scripts/lib/ship-style-model.sh
photos=${1:-/tmp/photos}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(starry-night great-wave kandinsky-composition-viii street-in-auvers graffiti)
[ -d "$photos" ] || ../shared/data/fetch-photos.sh "$photos"
stylize=$(build_product stylize)
mkdir -p models/training
for name in "${names[@]}"; do
  style=$(ls ../shared/images/style/"$name".* | head -1)
  model=models/training/$name.safetensors
  # The shipped settings (docs/feedforward.md explains them); keep these lines and the docs' in step: the paper's
  # width, 6,000 steps of 4 crops of 256 px (24,000 crops), Adam at 3e-3 and, for the last 1,500 steps, at 1e-3 (a
  # second run resuming from the first's checkpoint), with content weight 30; then 800 steps of 2 crops of 340 px at
  # 1e-3 that move the trained network to neural-style's balance, content weight 5. graffiti's first two runs are
  # instead a fine-tuning of kandinsky-composition-viii's network after its second run: 600 steps at 1e-3, 200 at 3e-4.
  common=(--photos "$photos" --width 1 --seed 1 --checkpoint-every 100 --preview examples/chelsea-cat.png --threads 2)
  trained=(-o "$model" --size 256 --batch 4 --content-weight 30 --log "models/training/$name.jsonl")
  phases=("4500 3e-3" "6000 1e-3")
  if [ "$name" = graffiti ]; then
    start=models/training/kandinsky-composition-viii.safetensors
    [ -f "$start" ] || { echo "style-models: graffiti starts from $start: train kandinsky-composition-viii first" >&2; exit 1; }
    trained+=(--start-from "$start"); phases=("600 1e-3" "800 3e-4")
  fi
  if [ ! -f "models/training/$name.phase1" ]; then
    resume=(); [ -f "models/training/$name.checkpoint.safetensors" ] && resume=(--resume)
    read -r steps lr <<<"${phases[0]}"
    "$stylize" train "$style" "${common[@]}" "${trained[@]}" --steps "$steps" --lr "$lr" "${resume[@]}"
    touch "models/training/$name.phase1"
  fi
  if [ ! -f "models/training/$name.phase2" ]; then
    read -r steps lr <<<"${phases[1]}"
    "$stylize" train "$style" "${common[@]}" "${trained[@]}" --steps "$steps" --lr "$lr" --resume
    touch "models/training/$name.phase2"
  fi
  balanced=models/training/$name-cw5
  resume=(); [ -f "$balanced.checkpoint.safetensors" ] && resume=(--resume)
  "$stylize" train "$style" "${common[@]}" -o "$balanced.safetensors" --start-from "$model" --size 340 --batch 2 \
    --content-weight 5 --log "$balanced.jsonl" --steps 800 --lr 1e-3 "${resume[@]}"
  ship_style_model "$name" "$stylize" "$balanced.safetensors" "models/training/$name.jsonl" "$balanced.jsonl"
done
