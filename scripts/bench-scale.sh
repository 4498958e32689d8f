#!/usr/bin/env bash
# Scale benchmark: dnnrec on the reference work (configs/reference.yaml) at ml-latest-small
# size and at ml-25m size, a synthetic MovieLens folder written by `dnnrec sample` (162,000
# users, 62,000 movies, 25,000,000 ratings, 1,000,000 tags; power-law popularity and
# activity). Prints, per size: load + featurise time from the CSVs (cold) and from the data
# cache, train samples/s and seconds per epoch, peak RSS, test RMSE, and the cost per sample
# relative to ml-latest-small (1.00x = the same cost per sample: cost grows linearly).
#   scripts/bench-scale.sh [SMALL_EPOCHS] [LARGE_EPOCHS]   (defaults 5 and 1; about 15 minutes)
# Environment: DNNREC (binary), DNNREC_DATA (the ml-latest-small folder), DNNREC_SYNTH (the
# synthetic folder: written when absent, reused when present; it needs about 1.2 GB of disk).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
small=${DNNREC_DATA:-$root/data/ml-latest-small}
synth=${DNNREC_SYNTH:-${TMPDIR:-/tmp}/dnnrec-synth-25m}
small_epochs=${1:-5}
large_epochs=${2:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ ! -f $synth/ratings.csv ]]; then
  echo "bench-scale.sh: writing the ml-25m-size synthetic folder $synth" >&2
  "$dnnrec" sample --out "$synth" --users 162000 --movies 62000 --ratings 25000000 \
    --tags 1000000 > /dev/null
fi

run() {  # run NAME DATA EXTRA_ARGS...: one dnnrec train, its metrics JSON into $out/NAME.json
  local name=$1 data=$2
  shift 2
  "$dnnrec" train --config "$root/configs/reference.yaml" --data "$data" --out "$out/$name" \
    -q --json "$@" > "$out/$name.json"
}
for size in small large; do
  data=$small epochs=$small_epochs
  if [[ $size == large ]]; then data=$synth epochs=$large_epochs; fi
  echo "bench-scale.sh: $size ($data): cold load, cached load, $epochs epoch(s)" >&2
  run "$size-cold" "$data" --dry-run --set data.cache=false
  run "$size-warm" "$data" --dry-run  # writes the cache when it is missing or stale
  run "$size-cached" "$data" --dry-run
  run "$size-train" "$data" --epochs "$epochs"
done

python3 - "$out" "$small" "$synth" <<'PY'
import json, sys
out, small, synth = sys.argv[1:4]
def load(name):
    return json.load(open(f"{out}/{name}.json"))
def ratings(folder):
    with open(f"{folder}/ratings.csv", "rb") as f:
        return sum(1 for _ in f) - 1
rows = []
for size, folder, label in (("small", small, "ml-latest-small"), ("large", synth, "synthetic ml-25m size")):
    train = load(f"{size}-train")
    rows.append((label, ratings(folder), load(f"{size}-cold")["load_seconds"],
                 load(f"{size}-cached")["load_seconds"], train["train_samples_per_sec"],
                 train["seconds_per_epoch"], train["peak_rss_mib"], train["test"]["rmse"]))
base = rows[0][4]
print(f"Machine: {load('small-train').get('machine', 'unknown')}\n")
print("| data | ratings | load + featurise, CSV (s) | from cache (s) | train samples/s | "
      "s per epoch | peak RSS (MiB) | test RMSE | cost per sample |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for label, n, cold, cached, sps, epoch, rss, rmse in rows:
    print(f"| {label} | {n:,} | {cold:.3f} | {cached:.3f} | {sps:,.0f} | {epoch:,.1f} | "
          f"{rss:,.0f} | {rmse:.4f} | {base / sps:.2f}x |")
PY
