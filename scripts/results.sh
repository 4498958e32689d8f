#!/usr/bin/env bash
# Trains the README's results configurations on ml-latest-small and prints the results table
# (Markdown) from each run's metrics.json. Usage: scripts/results.sh [RUNS_DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
runs=${1:-$root/runs/results}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
mkdir -p "$runs"

# name|flags
configs=(
  "random|--split random"
  "temporal|--split temporal"
  "leave-last|--split leave-last"
  "random, binary|--split random --task binary"
)
for entry in "${configs[@]}"; do
  name=${entry%%|*}
  flags=${entry#*|}
  dir=$runs/$(echo "$name" | tr -c 'a-z0-9\n' '-')
  rm -rf "$dir"
  # shellcheck disable=SC2086
  "$dnnrec" train --data "$data" --epochs 5 $flags --out "$dir" -q > /dev/null
  echo "$name|dnnrec train --epochs 5 $flags|$dir"
done | python3 "$root/scripts/results_table.py"
