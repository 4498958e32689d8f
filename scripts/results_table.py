#!/usr/bin/env python3
"""Prints the README's results table (Markdown) from runs' metrics.json files.

Reads lines "name|command|run_dir" on stdin, as scripts/results.sh writes them.
"""
import json
import sys


def describe(metrics, keys):
    names = {"rmse": "RMSE", "mae": "MAE", "auc": "AUC", "logloss": "logloss", "accuracy": "acc"}
    return ", ".join(f"{names[k]} {metrics[k]:.4f}" for k in keys)


def main():
    print("| split / task | command | val | test | best epoch | samples/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for line in sys.stdin:
        name, command, run = line.rstrip("\n").split("|")
        with open(run + "/metrics.json") as f:
            m = json.load(f)
        keys = ["auc", "logloss", "accuracy"] if "auc" in m["test"] else ["rmse", "mae"]
        print(f"| {name} | `{command}` | {describe(m['val'], keys)} | {describe(m['test'], keys)} "
              f"| {m['best_epoch']} of {m['epochs_run']} | {m['train_samples_per_sec']:,.0f} |")


if __name__ == "__main__":
    main()
