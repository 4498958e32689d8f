#!/usr/bin/env bash
# Speed benchmark of the two-tower ranking model, side by side in one run: `dnnrec train --model
# two-tower` against the Python PyTorch script of the same model, data and sampler
# (bench/two_tower_reference.py: nn.Embedding/EmbeddingBag(sparse=True) + SparseAdam).
# Settings of both: configs/pop.yaml's ranking protocol (ratings >= 3, 10-core,
# random-per-user split), no MLP (model.hidden: []), embedding_dim 64, temperature 0.1, log-Q
# correction, in-batch negatives only (--negatives 0), batch 512, lr 0.003, THREADS threads.
# Prints each one's train samples/s (training loop only: dnnrec's per-epoch seconds stop
# before its validation, and the Python script times the training batches alone), the ratio
# dnnrec / python, and each one's val ndcg@10 as a check that both learn the same model, under
# a line naming the machine (dnnrec's, and lscpu's model name).
#   scripts/bench-two-tower.sh [EPOCHS] [ROUNDS]    (defaults 3 and 1; about 5 minutes on 2
#                                                    shared cores, most of it in Python)
# With ROUNDS > 1 the runs are interleaved (dnnrec, python, dnnrec, ...) and each figure is the
# median over rounds, with the range in brackets, as scripts/bench.sh does.
# Environment: DNNREC (binary), DNNREC_DATA (data folder), PYTHON (a python3 with torch),
# THREADS (torch threads of both, default 2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
python=${PYTHON:-/usr/bin/python3}
epochs=${1:-3}
rounds=${2:-1}
threads=${THREADS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for round in $(seq "$rounds"); do
  echo "bench-two-tower.sh: round $round/$rounds: dnnrec, $epochs epochs, $threads threads" >&2
  "$dnnrec" train --config "$root/configs/pop.yaml" --data "$data" --model two-tower \
    --set 'model.hidden=[]' --embedding-dim 64 --set model.temperature=0.1 --negatives 0 \
    --batch-size 512 --lr 0.003 --epochs "$epochs" --threads "$threads" --json -q \
    --set output.plots=false --out "$out/dnnrec-$round" > "$out/dnnrec-$round.json"
  echo "bench-two-tower.sh: round $round/$rounds: python, $epochs epochs, $threads threads" >&2
  "$python" "$root/bench/two_tower_reference.py" --data "$data" --epochs "$epochs" \
    --threads "$threads" --embedding-dim 64 --temperature 0.1 --negatives 0 --batch-size 512 \
    --lr 0.003 --json > "$out/python-$round.json"
done
"$python" - "$out" "$rounds" "$epochs" "$threads" <<'PY'
import json, statistics, sys
out, rounds, epochs, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
load = lambda name: [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
dnnrec, python = load("dnnrec"), load("python")
d_sps = [d["train_samples_per_sec"] for d in dnnrec]
p_sps = [p["train_samples_per_sec"] for p in python]
ratios = [d / p for d, p in zip(d_sps, p_sps)]  # each round's dnnrec against its own python
med = statistics.median
rng = lambda xs, f: f"[{f.format(min(xs))} - {f.format(max(xs))}]" if len(xs) > 1 else ""
print(f"Machine: {dnnrec[0].get('machine', 'unknown')}")
print(f"two-tower: {epochs} epochs, {threads} threads, batch 512, dim 64, "
      f"{python[0]['train_examples']} training examples; median of {rounds} round(s)"
      + (" [min - max over rounds]" if rounds > 1 else "") + ":\n")
print("| run | train samples/s | val ndcg@10 |")
print("| --- | --- | --- |")
print(f"| dnnrec | {med(d_sps):,.0f} {rng(d_sps, '{:,.0f}')} | "
      f"{med(d['val']['ndcg@10'] for d in dnnrec):.4f} |")
print(f"| python (SparseAdam) | {med(p_sps):,.0f} {rng(p_sps, '{:,.0f}')} | "
      f"{med(p['val_ndcg@10'] for p in python):.4f} |")
print(f"\ndnnrec/python: {med(ratios):.2f}x {rng(ratios, '{:.2f}')}")
PY
echo
lscpu | grep 'Model name'
