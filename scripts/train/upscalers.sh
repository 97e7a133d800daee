#!/usr/bin/env bash
# Trains the bundled upscalers (models/upscalers/NAME.safetensors) with `stylize train-upscaler` itself, then
# measures each against bicubic on held-back photos with `stylize evaluate-upscaler` (docs/super-resolution.md).
# The photos of ../shared/data/fetch-photos.sh are split by their sorted position: every 10th is held back.
# Ctrl-C is safe: rerun the script and each unfinished model resumes from its checkpoint.
#   usage: scripts/train/upscalers.sh [PHOTOS_DIR (default /tmp/photos, fetched if missing)] [NAME...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
photos=${1:-/tmp/photos}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(x2 x2-fast x4 x4-fast x4-perceptual)
[ -d "$photos" ] || ../shared/data/fetch-photos.sh "$photos"
split=${TMPDIR:-/tmp}/stylize-upscaler-photos
rm -rf "$split"; mkdir -p "$split/train" "$split/held-out"
i=0
while IFS= read -r file; do
  [ $((i % 10)) -eq 0 ] && part=held-out || part=train
  ln -s "$(realpath "$photos/$file")" "$split/$part/$(echo "$file" | tr / _)"
  i=$((i + 1))
done < <(cd "$photos" && find . -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sed 's|^\./||' | LC_ALL=C sort)
stylize=$(build_product stylize)
mkdir -p models/upscalers
for name in "${names[@]}"; do
  # The shipped settings (docs/super-resolution.md explains them); keep these lines and the docs' in step.
  finish=(); refine=(); polish=(); decay=(); settle=()
  case $name in
    # x2: six residual blocks, 5000 steps of 16 patches of 96 at 2e-4; x2-fast: ESPCN, 3000 steps at 1e-3.
    x2) flags=(--scale 2 --loss pixel --architecture residual --lr 2e-4 --steps 5000) ;;
    x2-fast) flags=(--scale 2 --loss pixel --steps 3000) ;;
    # x4: the residual network at EDSR's baseline depth (16 blocks) on patches of 128, 10000 steps at 2e-4, then
    # 3000 more at 5e-5 (a second run resuming from the first's checkpoint); then refined from that for 3000 steps of
    # 8 patches of 256, whose 64 px inputs are wider than the 16 blocks' reach, with patches of a new seed; then
    # polished for 3000 steps of 16 patches of 128 at 5e-5, each any of its eight mirrors and quarter turns, and 3000
    # more with the learning rate halved every 1000 (resuming the polish's checkpoint); then settled for 1000 steps of 8
    # patches of 256 at 1e-5, eight symmetries, patches of a new seed.
    x4) flags=(--scale 4 --loss pixel --architecture residual --blocks 16 --patch 128 --lr 2e-4 --steps 10000)
        finish=(--steps 13000 --lr 5e-5)
        refine=(--patch 256 --batch 8 --lr 5e-5 --steps 3000 --seed 2)
        polish=(--lr 5e-5 --steps 3000 --seed 3 --augmentation dihedral)
        decay=(4000:2.5e-5 5000:1.25e-5 6000:6.25e-6)
        settle=(--patch 256 --batch 8 --lr 1e-5 --steps 1000 --seed 4 --augmentation dihedral) ;;
    # x4-fast: ESPCN, a sixteenth of x4's work per pixel; 15000 steps at 1e-3, then 3000 more at 1e-4, each patch
    # any of its eight mirrors and quarter turns.
    x4-fast) flags=(--scale 4 --loss pixel --steps 15000 --augmentation dihedral); finish=(--steps 18000 --lr 1e-4) ;;
    # x4 before its polish (models/training/x4-refined, made by the x4 run) fine-tuned on VGG19 features (as SRGAN
    # starts from SRResNet: from fresh weights the feature loss first paints a mesh over the image), with a pixel
    # weight high enough to keep the feature term's hatching away.
    x4-perceptual) flags=(--scale 4 --loss perceptual --architecture residual --blocks 16 --pixel-weight 9000 --steps 1000
                          --start-from models/training/x4-refined.safetensors) ;;
    *) echo "unknown upscaler $name" >&2; exit 2 ;;
  esac
  # A model that is refined trains first in models/training/; every run appends to the shipped model's log. The
  # later runs repeat the first's flags and override some (the last of a repeated option counts).
  train() { "$stylize" train-upscaler --photos "$split/train" "${flags[@]}" --log "models/upscalers/$name.jsonl" "$@"; }
  model=models/upscalers/$name.safetensors
  [ ${#refine[@]} -gt 0 ] && mkdir -p models/training && model=models/training/$name-first.safetensors
  resume=(); [ -f "${model%.safetensors}.checkpoint.safetensors" ] && resume=(--resume)
  train --seed 1 -o "$model" "${resume[@]}"
  if [ ${#finish[@]} -gt 0 ]; then train --seed 1 -o "$model" --resume "${finish[@]}"; fi
  # Each later stage starts from the one before and writes models/training/NAME-refined (-polished); the last writes
  # the shipped model.
  stages=()
  for stage in refine polish settle; do
    declare -n extra=$stage
    if [ ${#extra[@]} -gt 0 ]; then stages+=($stage); fi
  done
  declare -A made=([refine]=refined [polish]=polished)
  for stage in "${stages[@]}"; do
    declare -n extra=$stage
    output=models/upscalers/$name.safetensors
    [ $stage != "${stages[-1]}" ] && output=models/training/$name-${made[$stage]}.safetensors
    resume=(); [ -f "${output%.safetensors}.checkpoint.safetensors" ] && resume=(--resume)
    train "${extra[@]}" --start-from "$model" -o "$output" "${resume[@]}"
    if [ $stage = polish ]; then
      for pair in "${decay[@]}"; do
        train "${extra[@]}" --start-from "$model" -o "$output" --resume --steps "${pair%%:*}" --lr "${pair##*:}"
      done
    fi
    model=$output
  done
  echo "== $name"
  "$stylize" evaluate-upscaler --photos "$split/held-out" --model "models/upscalers/$name.safetensors" \
    | tee "models/upscalers/$name-evaluation.tsv" | tail -1
done
