#!/usr/bin/env bash
# Speed benchmark, side by side in one run: dnnrec on the reference work (configs/reference.yaml)
# against the Python PyTorch script of the same model and data (bench/reference.py) with a
# DataLoader and with hand-cut index_select batches. Prints train samples/s and the ratios,
# load + featurise time, peak RSS and test RMSE of each, under a line naming the machine (CPU,
# OpenBLAS kernels, libtorch's and dnnrec's kernel paths, as dnnrec logs it).
#   scripts/bench.sh [EPOCHS] [ROUNDS]    (defaults 5 and 3; about 3 minutes)
# The three runs are interleaved ROUNDS times (dnnrec, index_select, DataLoader, dnnrec, ...)
# and each figure is the median over rounds, with the range in brackets: a shared VM's speed
# drifts by tens of percent over minutes, and interleaving spreads the drift over all three.
# Environment: DNNREC (binary), DNNREC_DATA (data folder), PYTHON (a python3 with torch).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
python=${PYTHON:-/usr/bin/python3}
epochs=${1:-5}
rounds=${2:-3}
threads=2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for round in $(seq "$rounds"); do
  echo "bench.sh: round $round/$rounds: dnnrec, $epochs epochs, $threads threads" >&2
  "$dnnrec" train --config "$root/configs/reference.yaml" --data "$data" --epochs "$epochs" \
    --threads "$threads" --out "$out/dnnrec-$round" --set output.plots=false -q --json \
    > "$out/dnnrec-$round.json"
  for loader in index_select dataloader; do
    echo "bench.sh: round $round/$rounds: python ($loader), $epochs epochs, $threads threads" >&2
    "$python" "$root/bench/reference.py" --data "$data" --epochs "$epochs" --threads "$threads" \
      --loader "$loader" --json > "$out/python-$loader-$round.json"
  done
done
"$python" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def runs(name, key_sps, key_rmse):
    docs = [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
    def get(d, key):
        for part in key.split("."):
            d = d[part]
        return d
    return {"sps": [get(d, key_sps) for d in docs], "load": [d["load_seconds"] for d in docs],
            "rss": [d["peak_rss_mib"] for d in docs], "rmse": [get(d, key_rmse) for d in docs]}
table = [("dnnrec", runs("dnnrec", "train_samples_per_sec", "test.rmse"))]
for loader in ("index_select", "dataloader"):
    table.append((f"python ({loader})", runs(f"python-{loader}", "train_samples_per_sec", "test_rmse")))
med = statistics.median
base = med(table[0][1]["sps"])
# The CPU and its kernels decide these figures: the README keeps one table per CPU kind.
machine = json.load(open(f"{out}/dnnrec-1.json")).get("machine", "unknown")
print(f"Machine: {machine}")
print(f"Median of {rounds} interleaved rounds [min - max over rounds]:\n")
print("| run | train samples/s | dnnrec speed-up | load + featurise (s) | peak RSS (MiB) | test RMSE |")
print("| --- | --- | --- | --- | --- | --- |")
for name, r in table:
    sps = r["sps"]
    # The speed-up's range is over rounds, each round's dnnrec against the same round's run.
    ratios = [d / p for d, p in zip(table[0][1]["sps"], sps)]
    lo, hi = min(ratios), max(ratios)
    print(f"| {name} | {med(sps):,.0f} [{min(sps):,.0f} - {max(sps):,.0f}] | "
          f"{base / med(sps):.2f}x [{lo:.2f} - {hi:.2f}] | {med(r['load']):.3f} | "
          f"{med(r['rss']):,.0f} | {med(r['rmse']):.4f} |")
PY
