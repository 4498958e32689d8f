#!/usr/bin/env python3
"""Checks dnnrec's exported files from Python, as a serving user loads them (tests/run/export_test.cc).

  check_export.py predict MODEL.pt PREDICTIONS.csv
      torch.jit.load(MODEL.pt)(users, movies) equals dnnrec predict's userId,movieId,prediction
      rows within 1e-6.
  check_export.py recommend MODEL.pt RECS.csv
      model.recommend(user, k) gives dnnrec recommend --users all's userId,rank,movieId,score
      lists (the same ids up to ties, scores within 1e-6, relative above 1), and forward (raw, the
      unclipped output, for a rating model) gives the listed scores.
  check_export.py faiss EMBEDDINGS_DIR RECS.csv EXCLUDED.csv
      a Faiss inner-product index over items.npy, queried with users.npy, gives the same top-k as
      RECS.csv once each user's EXCLUDED.csv items (userId,movieId) are left out.
Exits 1 with a message on the first mismatch; prints the largest difference seen.
"""
import csv
import sys
from collections import defaultdict

TOLERANCE = 1e-6


def fail(message):
    print("check_export.py: " + message, file=sys.stderr)
    sys.exit(1)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def lists_of(path):
    lists = defaultdict(list)
    for row in read_rows(path):
        lists[int(row["userId"])].append((int(row["movieId"]), float(row["score"])))
    return lists


def check_predict(model_path, predictions):
    import torch

    model = torch.jit.load(model_path)
    rows = read_rows(predictions)
    users = torch.tensor([int(r["userId"]) for r in rows], dtype=torch.long)
    movies = torch.tensor([int(r["movieId"]) for r in rows], dtype=torch.long)
    expected = torch.tensor([float(r["prediction"]) for r in rows], dtype=torch.double)
    got = model(users, movies).double()
    diff = (got - expected).abs().max().item()
    if not diff <= TOLERANCE:
        fail(f"{model_path}: forward differs from dnnrec predict by {diff}")
    print(f"predict: {len(rows)} pairs, largest difference {diff:.3g}")


def check_recommend(model_path, recs):
    import torch

    model = torch.jit.load(model_path)
    worst = 0.0
    lists = lists_of(recs)
    for user, items in lists.items():
        ids, scores = model.recommend(user, len(items))
        if not same_ranking(ids.tolist(), items, TOLERANCE, scores.tolist()):
            fail(f"user {user}: recommend gives {ids.tolist()}, dnnrec {items}")
        expected = torch.tensor([s for _, s in items], dtype=torch.double)
        scale = expected.abs().clamp(min=1)
        worst = max(worst, ((scores.double() - expected).abs() / scale).max().item())
        movies = torch.tensor([m for m, _ in items], dtype=torch.long)
        # a rating model's lists rank the unclipped output, raw(); forward() clips it
        scorer = model.raw if hasattr(model, "raw") else model
        forward = scorer(torch.full([len(items)], user, dtype=torch.long), movies).double()
        worst = max(worst, ((forward - expected).abs() / scale).max().item())
        if not worst <= TOLERANCE:
            fail(f"user {user}: scores differ from dnnrec recommend's by {worst} (relative above 1)")
    print(f"recommend: {len(lists)} users, largest difference {worst:.3g} (relative above 1)")


def same_ranking(found, expected, tie, scores=None):
    """Whether `found` (ids) is recommend's list `expected` ((id, score) pairs), up to the order
    within ties: runs of items whose scores differ by at most `tie` (relative above 1), which a
    sum in another order (one user's product against a block's, Faiss's own) may order either
    way. The last run may hold other items of that score: with `scores` (found's), each of its
    scores must lie within the run's."""
    if len(found) != len(expected):
        return False
    slack = lambda x: tie * max(1.0, abs(x))
    runs, start = [], 0
    for i in range(1, len(expected) + 1):
        if i == len(expected) or expected[i - 1][1] - expected[i][1] > slack(expected[i][1]):
            runs.append((start, i))
            start = i
    listed = {m for m, _ in expected}
    for a, b in runs:
        want = {m for m, _ in expected[a:b]}
        got = set(found[a:b])
        if got == want:
            continue
        if b != len(expected) or not got <= want | (set(found) - listed):
            return False
        high, low = expected[a][1], expected[b - 1][1]
        if scores is not None and not all(low - slack(low) <= x <= high + slack(high) for x in scores[a:b]):
            return False
    return True


def check_faiss(folder, recs, excluded_path):
    import faiss
    import numpy as np

    users = np.load(folder + "/users.npy")
    items = np.load(folder + "/items.npy")
    user_row = {}
    with open(folder + "/users.tsv") as f:
        next(f)
        for line in f:
            row, uid = line.rstrip("\n").split("\t")[:2]
            user_row[int(uid)] = int(row)
    item_id = []
    with open(folder + "/items.tsv") as f:
        next(f)
        for line in f:
            item_id.append(int(line.split("\t")[1]))
    excluded = defaultdict(set)
    for row in read_rows(excluded_path):
        excluded[int(row["userId"])].add(int(row["movieId"]))
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(np.ascontiguousarray(items, dtype=np.float32))
    lists = lists_of(recs)
    for user, expected in lists.items():
        k = len(expected)
        depth = k + len(excluded[user])
        _, found = index.search(users[user_row[user] : user_row[user] + 1], depth)
        ids = [item_id[i] for i in found[0] if i >= 0 and item_id[i] not in excluded[user]][:k]
        if not same_ranking(ids, expected, 1e-5):
            fail(f"user {user}: Faiss gives {ids}, dnnrec recommend {expected}")
    print(f"faiss: {len(lists)} users, the same top-{k}")


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    mode = sys.argv[1]
    if mode == "predict":
        check_predict(sys.argv[2], sys.argv[3])
    elif mode == "recommend":
        check_recommend(sys.argv[2], sys.argv[3])
    elif mode == "faiss" and len(sys.argv) == 5:
        check_faiss(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
