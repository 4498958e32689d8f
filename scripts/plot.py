#!/usr/bin/env python3
"""Learning curves of a dnnrec run, and the comparison plots of a sweep, as PNG files.

    scripts/plot.py RUN_DIR     -> RUN_DIR/learning_curves.png (train loss and every
                                   validation metric per epoch; one line per seed)
    scripts/plot.py SWEEP_DIR   -> SWEEP_DIR/best_trials.png (the best trials' curves side by
                                   side) and SWEEP_DIR/metric_vs_params.png (the ranking metric
                                   against each swept hyperparameter, mean +- std over seeds)

dnnrec train and dnnrec sweep call it at the end (output.plots). Exit code 3: matplotlib is
not installed (Debian: python3-matplotlib); 2: the folder is neither a run nor a sweep.
"""
import csv
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
except ImportError:
    print("plot.py: matplotlib is not installed (apt-get install python3-matplotlib)",
          file=sys.stderr)
    sys.exit(3)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def histories(run_dir):
    """(label, rows of history.csv) of a run: itself, or each seed-* sub-run."""
    own = os.path.join(run_dir, "history.csv")
    if os.path.exists(own):
        return [("", read_csv(own))]
    found = []
    for name in sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else []:
        path = os.path.join(run_dir, name, "history.csv")
        if name.startswith("seed-") and os.path.exists(path):
            found.append((name, read_csv(path)))
    return found


def curve_columns(runs):
    """train_loss, then the validation metrics, in history.csv order."""
    columns = []
    for _, rows in runs:
        for key in rows[0].keys() if rows else []:
            if (key == "train_loss" or key.startswith("val_")) and key not in columns:
                columns.append(key)
    return columns


def save(fig, path):
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)  # readers never see half a PNG
    print(path)


def panels(n, height):
    """A figure of n panels, at most 5 a row (the ranking task logs 14 validation curves)."""
    cols = min(n, 5)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def plot_run(run_dir):
    runs = histories(run_dir)
    if not runs:
        return False
    columns = curve_columns(runs)
    fig, axes = panels(len(columns), 3.4)
    for ax, column in zip(axes, columns):
        for label, rows in runs:
            xs = [int(r["epoch"]) for r in rows if number(r.get(column)) is not None]
            ys = [number(r[column]) for r in rows if number(r.get(column)) is not None]
            ax.plot(xs, ys, marker="o", label=label or None)
        ax.set_title(column)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(os.path.basename(os.path.abspath(run_dir)), fontsize=9)
    save(fig, os.path.join(run_dir, "learning_curves.png"))
    return True


def plot_sweep(sweep_dir):
    board = read_csv(os.path.join(sweep_dir, "leaderboard.csv"))
    done = [r for r in board if r["status"] == "done"]
    if not done:
        return True
    header = list(board[0].keys())
    metric_columns = [h for h in header if h.endswith("_mean")]
    params = header[3:header.index(metric_columns[0])] if metric_columns else []
    with open(os.path.join(sweep_dir, "leaderboard.md")) as f:
        first = f.readline()
    metric = first.split("Ranked by ")[1].split(" ")[0] if "Ranked by " in first else "val_rmse"
    mode_max = any(m in metric for m in ("auc", "accuracy", "ndcg", "precision", "recall", "hit",
                                         "mrr", "coverage"))

    def label(row):
        return " ".join(f"{p.split('.')[-1]}={row[p]}" for p in params) or row["trial"]

    # The best trials' curves side by side (the first seed of each).
    best = done[:4]
    runs = [(f"#{r['rank']} {label(r)}", histories(r["run_dir"])) for r in best]
    runs = [(name, h[0][1]) for name, h in runs if h]
    if runs:
        columns = curve_columns([(name, rows) for name, rows in runs])
        fig, axes = panels(len(columns), 3.6)
        for ax, column in zip(axes, columns):
            for name, rows in runs:
                xs = [int(r["epoch"]) for r in rows if number(r.get(column)) is not None]
                ys = [number(r[column]) for r in rows if number(r.get(column)) is not None]
                ax.plot(xs, ys, marker="o", label=name)
            ax.set_title(column)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"best trials of {os.path.basename(os.path.abspath(sweep_dir))}", fontsize=9)
        save(fig, os.path.join(sweep_dir, "best_trials.png"))

    # The ranking metric against each swept hyperparameter: every trial a point (coloured by
    # another swept hyperparameter when there is one), the best trial per value joined.
    if params:
        fig, axes = plt.subplots(1, len(params), figsize=(4.4 * len(params), 3.6), squeeze=False)
        for ax, param in zip(axes[0], params):
            values = sorted({r[param] for r in done},
                            key=lambda v: (number(v) is None, number(v) or 0.0, v))
            numeric = all(number(v) is not None for v in values)
            def x_of(v):
                return number(v) if numeric else values.index(v)
            other = next((p for p in params if p != param), None)
            groups = sorted({r[other] for r in done}, key=lambda v: (number(v) is None, number(v) or 0.0, v)) if other else [None]
            for group in groups:
                rows = [r for r in done if other is None or r[other] == group]
                ax.errorbar([x_of(r[param]) for r in rows],
                            [number(r[f"{metric}_mean"]) for r in rows],
                            yerr=[number(r[f"{metric}_std"]) or 0.0 for r in rows], fmt="o",
                            capsize=3, label=f"{other.split('.')[-1]}={group}" if other else None)
            best = []
            for v in values:
                scores = [number(r[f"{metric}_mean"]) for r in done if r[param] == v]
                scores = [x for x in scores if x is not None]
                if scores:
                    best.append((x_of(v), max(scores) if mode_max else min(scores)))
            ax.plot([b[0] for b in best], [b[1] for b in best], "k--", lw=0.8, label="best")
            if numeric and min(number(v) for v in values) > 0 and \
                    max(number(v) for v in values) / min(number(v) for v in values) >= 10:
                ax.set_xscale("log")
            ax.set_xticks([x_of(v) for v in values])
            ax.set_xticklabels(values, fontsize=8)
            ax.minorticks_off()
            ax.set_xlabel(param)
            ax.set_ylabel(f"{metric} (mean ± std over seeds)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        save(fig, os.path.join(sweep_dir, "metric_vs_params.png"))
    return True


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    target = sys.argv[1]
    if os.path.exists(os.path.join(target, "leaderboard.csv")):
        plot_sweep(target)
        return 0
    if plot_run(target):
        return 0
    print(f"plot.py: {target} has no history.csv and no leaderboard.csv", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
