#!/usr/bin/env bash
# Speed benchmark, side by side in one run: dnnrec on the reference work (configs/reference.yaml)
# against the Python PyTorch script of the same model and data (bench/reference.py) with a
# DataLoader and with hand-cut index_select batches. Prints train samples/s and the ratios,
# load + featurise time, peak RSS and test RMSE of each.
#   scripts/bench.sh [EPOCHS]    (default 5)
# Environment: DNNREC (binary), DNNREC_DATA (data folder), PYTHON (a python3 with torch).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
data=${DNNREC_DATA:-$root/data/ml-latest-small}
python=${PYTHON:-/usr/bin/python3}
epochs=${1:-5}
threads=2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "bench.sh: dnnrec, $epochs epochs, $threads threads" >&2
"$dnnrec" train --config "$root/configs/reference.yaml" --data "$data" --epochs "$epochs" \
  --threads "$threads" --out "$out/dnnrec" -q --json > "$out/dnnrec.json"
for loader in index_select dataloader; do
  echo "bench.sh: python ($loader), $epochs epochs, $threads threads" >&2
  "$python" "$root/bench/reference.py" --data "$data" --epochs "$epochs" --threads "$threads" \
    --loader "$loader" --json > "$out/python-$loader.json"
done
"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
d = json.load(open(f"{out}/dnnrec.json"))
runs = [("dnnrec", d["train_samples_per_sec"], d["load_seconds"], d["peak_rss_mib"], d["test"]["rmse"])]
for loader in ("index_select", "dataloader"):
    p = json.load(open(f"{out}/python-{loader}.json"))
    runs.append((f"python ({loader})", p["train_samples_per_sec"], p["load_seconds"],
                 p["peak_rss_mib"], p["test_rmse"]))
print("| run | train samples/s | dnnrec speed-up | load + featurise (s) | peak RSS (MiB) | test RMSE |")
print("| --- | --- | --- | --- | --- | --- |")
for name, sps, load, rss, rmse in runs:
    print(f"| {name} | {sps:,.0f} | {runs[0][1] / sps:.2f}x | {load:.3f} | {rss:,.0f} | {rmse:.4f} |")
PY
