#!/usr/bin/env bash
# Distils the shipped style networks (models/NAME.safetensors, which scripts/train/style-models.sh trains) to width 0.5
# (models/NAME-fast.safetensors) with `stylize distill`: the same style at a quarter of the work per photo. Then renders
# the gallery (docs/images/NAME-fast-*.png), prints the log's summary and scores the new model against the optimisation
# (scripts/check/score-models.sh). About an hour per model in bf16 on 2 cores of an Intel Xeon with AMX (about 4.7
# hours in float32 on an AMD EPYC with AVX2 only); Ctrl-C is safe: rerun the script and an unfinished model resumes
# from its checkpoint.
#   usage: scripts/train/fast-models.sh [PHOTOS_DIR (default /tmp/photos, fetched if missing)] [NAME...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
source scripts/lib/ship-style-model.sh
photos=${1:-/tmp/photos}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(kandinsky-composition-viii)
[ -d "$photos" ] || ../shared/data/fetch-photos.sh "$photos"
stylize=$(build_product stylize)
mkdir -p models/training
for name in "${names[@]}"; do
  fast=$name-fast
  model=models/training/$fast.safetensors
  # docs/feedforward.md ("A narrower network by distillation") explains these: width 0.5, 6,000 steps of 4 crops of
  # 256 px, Adam at 3e-3 and, for the last 1,200 steps, at 1e-3 (a second run resuming from the first's checkpoint).
  # `stylize distill` names a missing teacher itself, and set -e stops here.
  teacher=models/$name.safetensors
  common=("$teacher" --photos "$photos" -o "$model" --width 0.5 --size 256 --batch 4 --seed 1 --checkpoint-every 100
          --preview examples/chelsea-cat.png --log "models/training/$fast.jsonl" --threads 2)
  if [ ! -f "models/training/$fast.phase1" ]; then
    resume=(); [ -f "models/training/$fast.checkpoint.safetensors" ] && resume=(--resume)
    "$stylize" distill "${common[@]}" --steps 4800 --lr 3e-3 "${resume[@]}"
    touch "models/training/$fast.phase1"
  fi
  "$stylize" distill "${common[@]}" --steps 6000 --lr 1e-3 --resume
  ship_style_model "$fast" "$stylize" "$model" "models/training/$fast.jsonl"
done
