#!/usr/bin/env bash
# Trains every model config of configs/ on ml-latest-small and writes docs/RESULTS.md and the
# README's results tables from the runs' metrics.json files:
#   - random 0.8/0.1/0.1 split (split seed 42), rating and binary task, SEEDS seeds each;
#   - served RMSE: scripts/holdout-check.sh removes 10% of the ratings before training and
#     serves them with `dnnrec predict`, once per removal seed 1..SEEDS;
#   - leave-last split (each user's last rating is test, the one before it val), rating task.
#   scripts/results.sh [RUNS_DIR]        (default runs/results; about 12 minutes on 2 cores)
# Environment: DNNREC (binary), DNNREC_DATA (data folder), SEEDS (default 3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
runs=${1:-$root/runs/results}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
seeds=${SEEDS:-3}
models=(global-mean bias mf dnn wide-deep neumf deepfm best)
leave_last_models=(global-mean bias mf dnn wide-deep neumf deepfm best best-leave-last)

mkdir -p "$runs"
train() {  # OUT CONFIG ARGS...
  local out=$1 config=$2
  shift 2
  rm -rf "$out"
  echo "results.sh: $config $* -> $out" >&2
  "$dnnrec" train --config "$root/configs/$config.yaml" --data "$data" --seeds "$seeds" \
    --out "$out" -q "$@" > /dev/null
}
for model in "${models[@]}"; do
  for task in rating binary; do
    train "$runs/$model-$task" "$model" --task "$task" --split random
  done
  for ((seed = 1; seed <= seeds; seed++)); do
    echo "results.sh: holdout-check $model, removal seed $seed" >&2
    DNNREC=$dnnrec "$root/scripts/holdout-check.sh" "$root/configs/$model.yaml" "$data" \
      --seed "$seed" --json > "$runs/$model-served-$seed.json"
  done
done
for model in "${leave_last_models[@]}"; do
  train "$runs/$model-leave-last" "$model" --task rating --split leave-last
done
python3 "$root/scripts/results_table.py" --runs "$runs" --models "${models[@]}" \
  --leave-last-models "${leave_last_models[@]}" --results "$root/docs/RESULTS.md" \
  --readme "$root/README.md"
