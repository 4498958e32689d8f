#!/usr/bin/env bash
# Trains every ranking config of configs/ on ml-latest-small under both ranking protocols and
# writes the ranking tables of docs/RESULTS.md and the README from the runs' metrics.json:
#   - random-per-user: issue 16's protocol (ratings >= 3, 10-core, each user's interactions
#     split 0.8/0.1/0.1 at random, split seed 42), full ranking;
#   - leave-last: each user's newest interaction is test, the one before it val.
# SEEDS training seeds each (mean ± std; the closed-form models do not depend on the seed).
#   scripts/ranking-results.sh [RUNS_DIR]       (default runs/ranking-results)
# Environment: DNNREC (binary), DNNREC_DATA (data folder), SEEDS (default 3), RANDOM_MODELS and
# LEAVE_LAST_MODELS (space-separated: train only these; the tables still list every model,
# from the runs already in RUNS_DIR).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
runs=${1:-$root/runs/ranking-results}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
seeds=${SEEDS:-3}
# NAME+rated: configs/NAME.yaml with eval.exclude=rated (the yardstick of configs/ranking.yaml).
random_models=(pop pop+rated itemknn ease ease+rated bpr two-tower dnn-ranking deepfm-ranking
  neumf-ranking ranking)
leave_last_models=(pop itemknn ease bpr two-tower dnn-ranking deepfm-ranking neumf-ranking
  sasrec ease-sequential sequential)
read -r -a train_random <<< "${RANDOM_MODELS-${random_models[*]}}"
read -r -a train_leave_last <<< "${LEAVE_LAST_MODELS-${leave_last_models[*]}}"

mkdir -p "$runs"
train() {  # OUT CONFIG ARGS...
  local out=$1 config=$2
  shift 2
  rm -rf "$out"
  echo "ranking-results.sh: $config $* -> $out" >&2
  "$dnnrec" train --config "$root/configs/$config.yaml" --data "$data" --seeds "$seeds" \
    --out "$out" -q --set output.plots=false "$@" > /dev/null
}
for model in "${train_random[@]}"; do
  if [[ $model == *+rated ]]; then
    train "$runs/$model-random-per-user" "${model%+rated}" --split random-per-user \
      --set eval.exclude=rated
  else
    train "$runs/$model-random-per-user" "$model" --split random-per-user
  fi
done
for model in "${train_leave_last[@]}"; do
  train "$runs/$model-leave-last" "$model" --split leave-last
done
python3 "$root/scripts/ranking_table.py" --runs "$runs" --random-models "${random_models[@]}" \
  --leave-last-models "${leave_last_models[@]}" --results "$root/docs/RESULTS.md" \
  --readme "$root/README.md"
