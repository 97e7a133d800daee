#!/usr/bin/env bash
# A model argument as `stylize apply` takes it: a model file, or a bundled model's name (as `stylize models` lists
# them, from STYLIZE_MODELS or models/). Sourced after scripts/lib/build.sh by the scripts that take a model:
#     model=$(model_file "$model" "$stylize")
model_file() {  # MODEL STYLIZE -> prints the model's file; nothing when there is no model by that name
  if [ -f "$1" ]; then echo "$1"; return; fi
  STYLIZE_MODELS=${STYLIZE_MODELS:-models} "$2" models | awk -v n="$1" '$1 == n {print $NF}'
}
