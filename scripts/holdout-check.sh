#!/usr/bin/env bash
# The accuracy users get, measured the hard way: removes a random fraction of the ratings (and
# the tags of those user-movie pairs) from a copy of a MovieLens folder before dnnrec sees
# them, trains CONFIG on the rest, serves the removed pairs with `dnnrec predict`, and prints
# their RMSE ("served") beside the run's own test RMSE. For a ranking config (train.task
# ranking) it serves `dnnrec recommend --users all -k 10` instead and prints the hit rate and
# NDCG@10 of those lists against each user's removed ratings of 4 or more, beside the same for
# the most popular movies the user has not rated in the kept data (the one-line baseline).
#   scripts/holdout-check.sh CONFIG [DATA] [--fraction F] [--seed N] [--json] [-- TRAIN_ARGS...]
# DATA defaults to data/ml-latest-small; F to 0.1; N (which ratings are removed) to 1.
# TRAIN_ARGS go to `dnnrec train` as they are (e.g. --epochs 3 --set features.history_len=0).
# Environment: DNNREC (binary), PYTHON (a python3; only its standard library is used),
# KEEP (a folder to keep the copy, the run and the predictions in; default: a temporary one).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dnnrec=${DNNREC:-$root/build/dnnrec}
python=${PYTHON:-python3}

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
config=$1
shift
data=$root/data/ml-latest-small
fraction=0.1
seed=1
json=false
if [[ $# -gt 0 && $1 != -* ]]; then
  data=$1
  shift
fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --fraction) fraction=${2:?--fraction needs a value}; shift 2 ;;
    --seed) seed=${2:?--seed needs a value}; shift 2 ;;
    --json) json=true; shift ;;
    --) shift; break ;;
    *) echo "holdout-check.sh: unknown option '$1'" >&2; usage ;;
  esac
done
[[ -f $config ]] || { echo "holdout-check.sh: no config file '$config'" >&2; exit 2; }
[[ -f $data/ratings.csv ]] || { echo "holdout-check.sh: no ratings.csv in '$data'" >&2; exit 2; }

if [[ -n ${KEEP:-} ]]; then
  work=$KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# The copy: ratings.csv without the held-out rows, tags.csv without their pairs, the other
# files as they are; the held-out rows go to heldout.csv.
"$python" - "$data" "$work" "$fraction" "$seed" <<'PY'
import csv, os, random, shutil, sys
data, work, fraction, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
if not 0 < fraction < 1:
    sys.exit(f"holdout-check.sh: --fraction must be in (0, 1), not {fraction}")
copy = os.path.join(work, "data")
os.makedirs(copy, exist_ok=True)
for name in os.listdir(data):
    if name.endswith(".csv") and name not in ("ratings.csv", "tags.csv"):
        shutil.copyfile(os.path.join(data, name), os.path.join(copy, name))
rng = random.Random(seed)
held = set()
with open(os.path.join(data, "ratings.csv"), newline="", encoding="utf-8") as src, \
     open(os.path.join(copy, "ratings.csv"), "w", newline="", encoding="utf-8") as kept, \
     open(os.path.join(work, "heldout.csv"), "w", newline="", encoding="utf-8") as out:
    header = src.readline()
    kept.write(header)
    out.write("userId,movieId,rating\n")
    for line in src:
        if rng.random() < fraction:
            user, movie, rating = line.rstrip("\r\n").split(",")[:3]
            held.add((user, movie))
            out.write(f"{user},{movie},{rating}\n")
        else:
            kept.write(line)
tags = os.path.join(data, "tags.csv")
removed_tags = 0
if os.path.exists(tags):
    with open(tags, newline="", encoding="utf-8") as src, \
         open(os.path.join(copy, "tags.csv"), "w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        writer.writerow(next(reader))
        for row in reader:
            if (row[0], row[1]) in held:
                removed_tags += 1
            else:
                writer.writerow(row)
print(f"holdout-check.sh: held out {len(held)} ratings and {removed_tags} tags of their pairs",
      file=sys.stderr)
PY

echo "holdout-check.sh: training $config on the rest" >&2
"$dnnrec" train --config "$config" --data "$work/data" --out "$work/run" -q --json \
  --set output.plots=false "$@" > "$work/metrics.json"
checkpoint=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["checkpoint"])' \
  "$work/metrics.json")
if "$python" -c 'import json,sys; sys.exit(0 if "ndcg@10" in json.load(open(sys.argv[1]))["test"] else 1)' \
  "$work/metrics.json"; then
  echo "holdout-check.sh: serving top-10 lists for every user with $checkpoint" >&2
  "$dnnrec" recommend --checkpoint "$checkpoint" --users all -k 10 --output "$work/recs.csv" -q
  exec "$python" - "$work" "$config" "$fraction" "$seed" "$json" <<'PY'
import collections, csv, json, math, sys
work, config, fraction, seed, as_json = sys.argv[1:6]
# What each user kept (the tool saw it) and what was removed with a rating of 4 or more.
rated = collections.defaultdict(set)
count = collections.Counter()
with open(f"{work}/data/ratings.csv", newline="") as f:
    for r in csv.DictReader(f):
        rated[r["userId"]].add(r["movieId"])
        count[r["movieId"]] += 1
liked = collections.defaultdict(set)
with open(f"{work}/heldout.csv", newline="") as f:
    for r in csv.DictReader(f):
        if float(r["rating"]) >= 4:
            liked[r["userId"]].add(r["movieId"])
lists = collections.defaultdict(list)
with open(f"{work}/recs.csv", newline="") as f:
    for r in csv.DictReader(f):
        lists[r["userId"]].append(r["movieId"])
popular = sorted(count, key=lambda m: (-count[m], int(m)))

def measure(ranked, relevant):
    dcg = sum(1 / math.log2(i + 2) for i, m in enumerate(ranked[:10]) if m in relevant)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return (1.0 if dcg > 0 else 0.0), dcg / idcg

users = sorted((u for u in liked if u in lists), key=int)
served = [measure(lists[u], liked[u]) for u in users]
pop = [measure([m for m in popular if m not in rated[u]][:10], liked[u]) for u in users]
mean = lambda xs, i: sum(x[i] for x in xs) / max(1, len(xs))
metrics = json.load(open(f"{work}/metrics.json"))
out = {"config": config, "fraction": float(fraction), "seed": int(seed), "users": len(users),
       "served": {"hit@10": mean(served, 0), "ndcg@10": mean(served, 1)},
       "pop": {"hit@10": mean(pop, 0), "ndcg@10": mean(pop, 1)},
       "test": {k: metrics["test"][k] for k in ("hit@10", "ndcg@10")}}
out["ndcg_vs_pop"] = out["served"]["ndcg@10"] / max(out["pop"]["ndcg@10"], 1e-12)
if as_json == "true":
    print(json.dumps(out))
else:
    print("| config | users | served HR@10 | served NDCG@10 | pop HR@10 | pop NDCG@10 | NDCG vs pop | test NDCG@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {config} | {len(users)} | {out['served']['hit@10']:.4f} | {out['served']['ndcg@10']:.4f} | "
          f"{out['pop']['hit@10']:.4f} | {out['pop']['ndcg@10']:.4f} | {out['ndcg_vs_pop']:.2f}x | "
          f"{out['test']['ndcg@10']:.4f} |")
PY
fi
echo "holdout-check.sh: serving the held-out pairs with $checkpoint" >&2
"$dnnrec" predict --checkpoint "$checkpoint" --input "$work/heldout.csv" \
  --output "$work/predictions.csv" --json > "$work/predict.json"

"$python" - "$work" "$config" "$fraction" "$seed" "$json" <<'PY'
import csv, json, math, sys
work, config, fraction, seed, as_json = sys.argv[1:6]
with open(f"{work}/heldout.csv", newline="") as f:
    truth = [float(r["rating"]) for r in csv.DictReader(f)]
with open(f"{work}/predictions.csv", newline="") as f:
    served = [float(r["prediction"]) for r in csv.DictReader(f)]
if len(truth) != len(served):
    sys.exit(f"holdout-check.sh: {len(truth)} held-out rows but {len(served)} predictions")
errors = [p - t for p, t in zip(served, truth)]
rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
mae = sum(abs(e) for e in errors) / len(errors)
metrics = json.load(open(f"{work}/metrics.json"))
if "rmse" not in metrics["test"]:
    sys.exit("holdout-check.sh: measures the rating task (RMSE of served ratings), not --task binary")
predict = json.load(open(f"{work}/predict.json"))
out = {"config": config, "fraction": float(fraction), "seed": int(seed), "heldout": len(truth),
       "unknown_users": predict["unknown_users"], "unknown_movies": predict["unknown_movies"],
       "served": {"rmse": rmse, "mae": mae},
       "test": {k: metrics["test"][k] for k in ("rmse", "mae") if k in metrics["test"]}}
if as_json == "true":
    print(json.dumps(out))
else:
    print("| config | held out | served RMSE | served MAE | test RMSE | test MAE | unknown users | unknown movies |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    test = out["test"]
    print(f"| {config} | {len(truth):,} | {rmse:.4f} | {mae:.4f} | {test.get('rmse', float('nan')):.4f} | "
          f"{test.get('mae', float('nan')):.4f} | {out['unknown_users']} | {out['unknown_movies']} |")
PY
