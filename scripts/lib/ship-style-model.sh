#!/usr/bin/env bash
# The last stage of every style-model script (scripts/train/style-models.sh, fast-models.sh): copy a finished model and
# its log from models/training/ to models/, render its two gallery images (docs/images/NAME-*.png), print the log's
# summary and score the model against the optimisation. Sourced after scripts/lib/build.sh:
#     ship_style_model NAME "$stylize"
ship_style_model() {
  local name=$1 stylize=$2 photo base
  cp "models/training/$name.safetensors" "models/$name.safetensors"
  cp "models/training/$name.jsonl" "models/$name.jsonl"
  for photo in examples/chelsea-cat.png examples/cincinnati-bridge.jpg; do
    base=$(basename "${photo%.*}")
    "$stylize" apply "$name" "$photo" -o "docs/images/$name-$base.png" --size 512 --quiet
  done
  echo "== $name"; scripts/train/summarize-log.py "models/$name.jsonl"
  STYLIZE_SKIP_BUILD=1 scripts/check/score-models.sh "models/$name.safetensors"
}
