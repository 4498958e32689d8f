#!/usr/bin/env bash
# Full-ranking evaluation benchmark at ml-25m size: `dnnrec evaluate --split test` of a bpr
# checkpoint (configs/bpr.yaml, embedding_dim 64, trained EPOCHS epochs on THREADS threads) on
# the synthetic ml-25m-size folder of scripts/bench-scale.sh (162,000 users, 62,000 movies,
# 25,000,000 ratings; after bpr's ratings >= 3 and 10-core filter about that many users and
# items), against the plain-PyTorch full ranking of bench/full_ranking_reference.py (U @ V.T + b
# per block of 512 users, index_put_ -inf on the excluded items, torch.topk(20)) at the same
# users x items, with the same mean of excluded (train + val) items per user, in --synthetic mode
# (random factors: a timing reference, not a metrics check). Prints dnnrec's evaluation seconds
# (its "test: full ranking of U users x I items in Xs" log line: scoring, top-20 and metrics,
# not the loading), the reference's, the ratio reference / dnnrec, whether dnnrec meets the
# target of <= 60 s, and the CPU model.
#   scripts/bench-ranking.sh [EPOCHS]    (default 1; about 15-25 minutes on 2 shared cores:
#                                         the folder when missing, training, two evaluations)
# The training run evaluates val and test itself; that time is not the measured number.
# Environment: DNNREC (binary), DNNREC_SYNTH (the synthetic folder: written when absent, reused
# when present, as scripts/bench-scale.sh does), PYTHON (a python3 with torch), THREADS
# (threads of both, default 2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
synth=${DNNREC_SYNTH:-${TMPDIR:-/tmp}/dnnrec-synth-25m}
python=${PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
epochs=${1:-1}
target=60
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ ! -f $synth/ratings.csv ]]; then
  echo "bench-ranking.sh: writing the ml-25m-size synthetic folder $synth" >&2
  "$dnnrec" sample --out "$synth" --users 162000 --movies 62000 --ratings 25000000 \
    --tags 1000000 > /dev/null
fi

echo "bench-ranking.sh: dnnrec train bpr on $synth, $epochs epoch(s), $threads threads" >&2
"$dnnrec" train --config "$root/configs/bpr.yaml" --data "$synth" --epochs "$epochs" \
  --set train.patience=0 --embedding-dim 64 --threads "$threads" --out "$out/run" -q --json \
  --set output.plots=false > "$out/train.json"

echo "bench-ranking.sh: dnnrec evaluate --split test" >&2
"$dnnrec" evaluate --checkpoint "$out/run/best.pt" --split test --json --log-level info \
  > "$out/evaluate.json" 2> "$out/evaluate.log"
# "[hh:mm:ss] info test: full ranking of 162000 users x 62000 items in 12.34s"
line=$(grep -E 'test: full ranking of [0-9]+ users x [0-9]+ items in [0-9.]+s' \
  "$out/evaluate.log" | tail -n 1 || true)
if [[ -z $line ]]; then
  echo "bench-ranking.sh: no 'test: full ranking of ... in Xs' line in dnnrec evaluate's log" \
    "(a binary from before that info line?); its log:" >&2
  cat "$out/evaluate.log" >&2
  exit 1
fi
read -r users items dnnrec_s < <(sed -E \
  's/.*full ranking of ([0-9]+) users x ([0-9]+) items in ([0-9.]+)s.*/\1 \2 \3/' <<< "$line")
# Mean excluded items per user (train + val), from prepare_ranking's info line
# "ranking data: ... split random-per-user -> train T, val V, test S".
per_user=$(sed -nE 's/.*-> train ([0-9]+), val ([0-9]+), test [0-9]+.*/\1 \2/p' \
  "$out/evaluate.log" | tail -n 1 | awk -v u="$users" 'NF == 2 { printf "%d", ($1 + $2) / u + 0.5 }')
per_user=${per_user:-120}

echo "bench-ranking.sh: python reference, $users users x $items items, $per_user excluded" \
  "items per user on average, $threads threads" >&2
"$python" "$root/bench/full_ranking_reference.py" --synthetic --users "$users" --items "$items" \
  --per-user "$per_user" --dim 64 --threads "$threads" > "$out/reference.json"

"$python" - "$out" "$dnnrec_s" "$target" "$per_user" "$threads" <<'PY'
import json, sys
out, dnnrec_s, target, per_user, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
ref = json.load(open(f"{out}/reference.json"))
ev = json.load(open(f"{out}/evaluate.json"))
ndcg = ev.get("test", {}).get("ndcg@10")
print(f"Machine: {json.load(open(f'{out}/train.json')).get('machine', 'unknown')}")
print(f"Full ranking, test split: {ref['users']:,} users x {ref['items']:,} items, dim 64, "
      f"top 20, {per_user} excluded items per user on average, {threads} threads:\n")
print("| run | seconds | reference / dnnrec | test ndcg@10 |")
print("| --- | --- | --- | --- |")
print(f"| dnnrec evaluate (bpr) | {dnnrec_s:.2f} | 1.00x | "
      f"{'' if ndcg is None else f'{ndcg:.4f}'} |")
print(f"| python reference (synthetic factors) | {ref['seconds']:.2f} | "
      f"{ref['seconds'] / dnnrec_s:.2f}x | (random) |")
ok = dnnrec_s <= target
print(f"\ndnnrec <= {target:.0f} s: {'yes' if ok else 'NO'} ({dnnrec_s:.2f} s)")
PY
echo
lscpu | grep 'Model name'
