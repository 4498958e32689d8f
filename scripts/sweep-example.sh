#!/usr/bin/env bash
# The way users script a sweep by hand: a plain shell loop over two hyperparameters, one
# `dnnrec train` per point, each run's metrics.json collected into one CSV. (`dnnrec sweep`
# does this and more: seeds, parallel jobs, resume, a ranked leaderboard.) The test suite runs
# this script on generated sample data, so it keeps working.
#   scripts/sweep-example.sh [OUT_DIR]       (default sweeps/example)
# Environment: DNNREC (binary), DNNREC_DATA (data folder), EPOCHS (default 2),
# LRS and DIMS (the values looped over).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
out=${1:-sweeps/example}
epochs=${EPOCHS:-2}
lrs=${LRS:-"0.0003 0.001 0.003"}
dims=${DIMS:-"16 32"}

mkdir -p "$out"
csv=$out/results.csv
echo "lr,embedding_dim,val_rmse,test_rmse,run_dir" > "$csv.tmp"
for lr in $lrs; do
  for dim in $dims; do
    run=$out/lr$lr-dim$dim
    # --json prints metrics.json on stdout and nothing else; logs stay on stderr (--quiet).
    "$dnnrec" train --data "$data" --epochs "$epochs" --lr "$lr" --embedding-dim "$dim" \
      --out "$run" --quiet --json > "$run.json"
    python3 - "$run.json" "$lr" "$dim" >> "$csv.tmp" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]},{sys.argv[3]},{m['val']['rmse']:.4f},{m['test']['rmse']:.4f},{m['run_dir']}")
PY
  done
done
mv "$csv.tmp" "$csv"
echo "$csv"
