#!/usr/bin/env python3
"""Writes docs/RESULTS.md and the README's results tables from runs' metrics.json files.

scripts/results.sh trains the runs (RUNS/<model>-rating, RUNS/<model>-binary,
RUNS/<model>-leave-last), runs the hold-out checks (RUNS/<model>-served-<seed>.json) and calls
this.
"""
import glob
import statistics
import argparse
import json
import os
import re


def load(path):
    with open(os.path.join(path, "metrics.json")) as f:
        return json.load(f)


def pm(metrics, name, part):
    mean = metrics[part][name]
    std = metrics.get(part + "_std", {}).get(name, 0.0)
    return f"{mean:.4f} ± {std:.4f}"


def served(runs, model):
    """Mean ± std over the removal seeds of holdout-check's served RMSE and its run's test RMSE."""
    checks = []
    for path in sorted(glob.glob(os.path.join(runs, model + "-served-*.json"))):
        with open(path) as f:
            checks.append(json.loads(f.read().strip().splitlines()[-1]))
    if not checks:
        return "n/a", "n/a"

    def spread(values):
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.4f} ± {std:.4f}"
    return (spread([c["served"]["rmse"] for c in checks]),
            spread([c["test"]["rmse"] for c in checks]))


def table(runs, models):
    lines = [
        "| model | config | val RMSE | test RMSE | served RMSE | its run's test RMSE | val MAE "
        "| test MAE | binary val AUC | binary test AUC | parameters | s / epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in models:
        rating = load(os.path.join(runs, model + "-rating"))
        binary = load(os.path.join(runs, model + "-binary"))
        served_rmse, check_test_rmse = served(runs, model)
        lines.append(
            f"| {rating['model']} | `configs/{model}.yaml` | {pm(rating, 'rmse', 'val')} "
            f"| {pm(rating, 'rmse', 'test')} | {served_rmse} | {check_test_rmse} "
            f"| {pm(rating, 'mae', 'val')} | {pm(rating, 'mae', 'test')} "
            f"| {pm(binary, 'auc', 'val')} | {pm(binary, 'auc', 'test')} "
            f"| {rating['parameters']:,} | {rating['seconds_per_epoch']:.2f} |")
    seeds = len(load(os.path.join(runs, models[0] + "-rating")).get("seeds", [1]))
    return "\n".join(lines) + "\n", seeds


def leave_last_table(runs, models):
    lines = [
        "| model | config | val RMSE | test RMSE | val MAE | test MAE | parameters | s / epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in models:
        run = load(os.path.join(runs, model + "-leave-last"))
        lines.append(
            f"| {run['model']} | `configs/{model}.yaml` | {pm(run, 'rmse', 'val')} "
            f"| {pm(run, 'rmse', 'test')} | {pm(run, 'mae', 'val')} | {pm(run, 'mae', 'test')} "
            f"| {run['parameters']:,} | {run['seconds_per_epoch']:.2f} |")
    return "\n".join(lines) + "\n"


def replace_block(text, name, body):
    block = f"<!-- {name}:begin -->\n" + body + f"<!-- {name}:end -->"
    text, n = re.subn(rf"<!-- {name}:begin -->.*?<!-- {name}:end -->", lambda _: block, text,
                      flags=re.S)
    if n != 1:
        raise SystemExit(f"README.md has no <!-- {name}:begin/end --> block")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--leave-last-models", nargs="+", required=True)
    parser.add_argument("--results", required=True, help="docs/RESULTS.md to write")
    parser.add_argument("--readme", help="README.md whose results block to replace")
    args = parser.parse_args()
    body, seeds = table(args.runs, args.models)
    leave_last = leave_last_table(args.runs, args.leave_last_models)
    header = (
        "# Results\n\n"
        "ml-latest-small. Every number is the mean ± standard deviation over "
        f"{seeds} training seeds (42, 43, ...) unless said otherwise. Test metrics use the "
        "weights of the best validation epoch; configs were tuned on the validation split only. "
        "Binary task: liked = rating >= 4.0, BCE loss, monitored on val AUC. Seconds per epoch on "
        "2 threads of the 2-core development machine.\n\n"
        "Regenerate (about 12 minutes): `scripts/results.sh` — it trains each config with "
        f"`dnnrec train --config configs/<model>.yaml --task rating|binary --seeds {seeds}`, runs "
        "`scripts/holdout-check.sh configs/<model>.yaml --seed 1|2|3`, trains again with "
        "`--split leave-last`, and writes this file and the README's tables from the runs' "
        "`metrics.json`.\n\n"
        "## Random split\n\n"
        "Random 0.8/0.1/0.1 split (split seed 42). **served RMSE** is what users get: "
        "`scripts/holdout-check.sh` removes a random 10% of the ratings (and the tags of those "
        "pairs) from a copy of the folder, trains the config (seed 42) on the rest, and scores "
        "the removed pairs with `dnnrec predict`; mean ± std over removal seeds "
        f"1..{seeds}. **its run's test RMSE** is the test RMSE those same hold-out runs "
        "reported: it matches the served RMSE up to the sampling noise of two 10% samples.\n\n")
    leave_last_header = (
        "\n## Leave-last split\n\n"
        "Each user's newest rating is test, the one before it validation, the rest training "
        "(`--split leave-last`, rating task). A training example's history is the user's "
        "training ratings before it (`features.history: auto` = before), the same context a "
        "served next rating has. `configs/best-leave-last.yaml` was chosen on this protocol's "
        "validation split.\n\n")
    with open(args.results, "w") as f:
        f.write(header + body + leave_last_header + leave_last)
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        readme = replace_block(readme, "results", body)
        readme = replace_block(readme, "results-leave-last", leave_last)
        with open(args.readme, "w") as f:
            f.write(readme)
    print(header + body + leave_last_header + leave_last, end="")


if __name__ == "__main__":
    main()
