#!/usr/bin/env python3
"""Writes the ranking tables of docs/RESULTS.md and the README from runs' metrics.json files.

scripts/ranking-results.sh trains the runs (RUNS/<config>-random-per-user and
RUNS/<config>-leave-last) and calls this. Each table goes between the markers
<!-- ranking-<protocol>:begin --> and <!-- ranking-<protocol>:end --> of both files.
"""
import argparse
import os
import re

from results_table import load  # the runs' metrics.json, as the rating tables read them

COLUMNS = [("val", "ndcg@10"), ("test", "ndcg@10"), ("test", "recall@10"), ("test", "mrr@10"),
           ("test", "hit@10"), ("test", "ndcg@20"), ("test", "coverage@10"),
           ("test", "popularity@10")]


def cell(metrics, part, name):
    mean = metrics[part][name]
    std = metrics.get(part + "_std", {}).get(name, 0.0)
    if name.startswith("popularity"):
        return f"{mean:.1f} ± {std:.1f}"
    return f"{mean:.4f} ± {std:.4f}"


def table(runs, models, protocol):
    head = ["model", "config"] + [f"{part} {name}" for part, name in COLUMNS] + [
        "weights", "s / epoch", "epochs"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for config in models:
        m = load(os.path.join(runs, f"{config}-{protocol}"))
        name, rated = config.split("+")[0], config.endswith("+rated")
        row = [m["model"] + (" (exclude rated)" if rated else ""),
               f"`configs/{name}.yaml`" + (" `--set eval.exclude=rated`" if rated else "")]
        row += [cell(m, part, name) for part, name in COLUMNS]
        seeds = max(1, len(m.get("seeds", [1])))
        # A blend's time is its members' training (the fusion itself takes no epoch).
        seconds = (f"{m['train_seconds'] / seeds:.0f} in all" if m["model"] == "blend"
                   else f"{m['seconds_per_epoch']:.2f}")
        row += [f"{m['parameters']:,}", seconds, f"{m['epochs_run'] / seeds:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def replace(path, protocol, text):
    with open(path) as f:
        doc = f.read()
    begin, end = f"<!-- ranking-{protocol}:begin -->\n", f"<!-- ranking-{protocol}:end -->"
    pattern = re.escape(begin) + ".*?" + re.escape(end)
    if not re.search(pattern, doc, flags=re.S):
        raise SystemExit(f"{path}: markers {begin.strip()} ... {end} not found")
    doc = re.sub(pattern, lambda _: begin + text + end, doc, flags=re.S)
    with open(path, "w") as f:
        f.write(doc)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", required=True)
    p.add_argument("--random-models", nargs="+", required=True)
    p.add_argument("--leave-last-models", nargs="+", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--readme", required=True)
    a = p.parse_args()
    for protocol, models in (("random-per-user", a.random_models),
                             ("leave-last", a.leave_last_models)):
        text = table(a.runs, models, protocol)
        for path in (a.results, a.readme):
            replace(path, protocol, text)
    print("ranking_table.py: tables written to", a.results, "and", a.readme)


if __name__ == "__main__":
    main()
