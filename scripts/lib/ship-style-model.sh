#!/usr/bin/env bash
# The last stage of every style-model script (scripts/train/style-models.sh, fast-models.sh): copy a finished model to
# models/NAME.safetensors and its runs' logs, joined in order, to models/NAME.jsonl, render its two gallery images
# (docs/images/NAME-*.png), print the log's summary and score the model against the optimisation. Sourced after
# scripts/lib/build.sh:
#     ship_style_model NAME "$stylize" MODEL_FILE LOG...
ship_style_model() {
  local name=$1 stylize=$2 file=$3 photo base
  shift 3
  cp "$file" "models/$name.safetensors"
  cat "$@" > "models/$name.jsonl"
  for photo in examples/chelsea-cat.png examples/cincinnati-bridge.jpg; do
    base=$(basename "${photo%.*}")
    "$stylize" apply "$name" "$photo" -o "docs/images/$name-$base.png" --size 512 --quiet
  done
  echo "== $name"; scripts/train/summarize-log.py "models/$name.jsonl"
  STYLIZE_SKIP_BUILD=1 scripts/check/score-models.sh "models/$name.safetensors"
}
