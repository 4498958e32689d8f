#!/usr/bin/env python3
"""Writes docs/RESULTS.md and the README's results table from runs' metrics.json files.

scripts/results.sh trains the runs (RUNS/<model>-rating and RUNS/<model>-binary) and calls this.
"""
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


def table(runs, models):
    lines = [
        "| model | config | val RMSE | val MAE | test RMSE | test MAE | binary val AUC "
        "| binary test AUC | parameters | s / epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in models:
        rating = load(os.path.join(runs, model + "-rating"))
        binary = load(os.path.join(runs, model + "-binary"))
        lines.append(
            f"| {rating['model']} | `configs/{model}.yaml` | {pm(rating, 'rmse', 'val')} "
            f"| {pm(rating, 'mae', 'val')} | {pm(rating, 'rmse', 'test')} "
            f"| {pm(rating, 'mae', 'test')} "
            f"| {pm(binary, 'auc', 'val')} | {pm(binary, 'auc', 'test')} "
            f"| {rating['parameters']:,} | {rating['seconds_per_epoch']:.2f} |")
    seeds = len(load(os.path.join(runs, models[0] + "-rating")).get("seeds", [1]))
    return "\n".join(lines) + "\n", seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--results", required=True, help="docs/RESULTS.md to write")
    parser.add_argument("--readme", help="README.md whose results block to replace")
    args = parser.parse_args()
    body, seeds = table(args.runs, args.models)
    header = (
        "# Results\n\n"
        "ml-latest-small, random 0.8/0.1/0.1 split (split seed 42); every number is the mean ± "
        f"standard deviation over {seeds} training seeds (42, 43, ...). Test metrics use the "
        "weights of the best validation epoch; configs were tuned on the validation split only. "
        "Binary task: liked = rating >= 4.0, BCE loss, monitored on val AUC. Seconds per epoch on "
        "2 threads of the 2-core development machine.\n\n"
        "Regenerate (about 10 minutes): `scripts/results.sh` — it trains each config with "
        f"`dnnrec train --config configs/<model>.yaml --task rating|binary --seeds {seeds}` and "
        "writes this file and the README's table from the runs' `metrics.json`.\n\n")
    with open(args.results, "w") as f:
        f.write(header + body)
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        block = "<!-- results:begin -->\n" + body + "<!-- results:end -->"
        readme, n = re.subn(r"<!-- results:begin -->.*?<!-- results:end -->", lambda _: block,
                            readme, flags=re.S)
        if n != 1:
            raise SystemExit("README.md has no <!-- results:begin/end --> block")
        with open(args.readme, "w") as f:
            f.write(readme)
    print(header + body, end="")


if __name__ == "__main__":
    main()
