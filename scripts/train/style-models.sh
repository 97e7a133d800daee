#!/usr/bin/env bash
# Trains the bundled style models (models/NAME.safetensors) with `stylize train` itself, then renders the README
# gallery (docs/images/NAME-*.png), prints each log's summary and scores the model against the optimisation
# (scripts/check/score-models.sh). A model trains in models/training/ (not committed) and is copied to models/ with
# its log when both of its runs are done. About two hours per model on 2 quiet cores with AMX (bf16), graffiti's
# fine-tuning a seventh of that; Ctrl-C is safe: rerun the script and each unfinished model resumes from its checkpoint.
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
  # second run resuming from the first's checkpoint). graffiti is instead fine-tuned from kandinsky-composition-viii's
  # trained network: 600 steps at 1e-3, then 200 at 3e-4.
  common=(--photos "$photos" -o "$model" --width 1 --size 256 --batch 4 --content-weight 30 --seed 1
          --checkpoint-every 100 --preview examples/chelsea-cat.png --log "models/training/$name.jsonl" --threads 2)
  phases=("4500 3e-3" "6000 1e-3")
  if [ "$name" = graffiti ]; then
    common+=(--start-from kandinsky-composition-viii); phases=("600 1e-3" "800 3e-4")
  fi
  if [ ! -f "models/training/$name.phase1" ]; then
    resume=(); [ -f "models/training/$name.checkpoint.safetensors" ] && resume=(--resume)
    read -r steps lr <<<"${phases[0]}"
    "$stylize" train "$style" "${common[@]}" --steps "$steps" --lr "$lr" "${resume[@]}"
    touch "models/training/$name.phase1"
  fi
  read -r steps lr <<<"${phases[1]}"
  "$stylize" train "$style" "${common[@]}" --steps "$steps" --lr "$lr" --resume
  ship_style_model "$name" "$stylize"
done
