#!/usr/bin/env bash
# Trains every model config of configs/ on ml-latest-small (random 0.8/0.1/0.1 split, seed 42),
# rating and binary task, 3 seeds each, then writes docs/RESULTS.md and the README's results
# table from the runs' metrics.json files.
#   scripts/results.sh [RUNS_DIR]        (default runs/results; about 10 minutes on 2 cores)
# Environment: DNNREC (binary), DNNREC_DATA (data folder), SEEDS (default 3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
runs=${1:-$root/runs/results}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
seeds=${SEEDS:-3}
models=(global-mean bias mf dnn wide-deep neumf deepfm best)

mkdir -p "$runs"
for model in "${models[@]}"; do
  for task in rating binary; do
    out=$runs/$model-$task
    rm -rf "$out"
    echo "results.sh: $model, $task task, $seeds seeds -> $out" >&2
    "$dnnrec" train --config "$root/configs/$model.yaml" --data "$data" --task "$task" \
      --seeds "$seeds" --out "$out" -q > /dev/null
  done
done
python3 "$root/scripts/results_table.py" --runs "$runs" --models "${models[@]}" \
  --results "$root/docs/RESULTS.md" --readme "$root/README.md"
