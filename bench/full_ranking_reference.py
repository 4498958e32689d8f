#!/usr/bin/env python3
"""Reference: full-ranking evaluation of a matrix-factorisation ranker written in plain PyTorch.

The same work as `dnnrec evaluate --split test` on a bpr checkpoint (src/run/ranking_run.cc,
evaluate_model; src/train/ranking_eval.cc, evaluate_ranking), written the way a PyTorch user
would (RecBole's full-sort evaluation), for scripts/bench-ranking.sh:

  for each block of --block users (default 512, dnnrec's block):
    scores = U[block] @ V.T + b                      one matrix product per block
    scores.index_put_((rows, cols), -inf)            the users' excluded items (train + val)
    top = torch.topk(scores, k=20).indices           the 20 best of the rest
    hits = torch.isin(user * n_items + top, keys)    keys: the block's held-out (user, item)
                                                     pairs as user * n_items + item, sorted
                                                     and distinct (built before the timing)
  NDCG@10/@20 and Recall@10/@20 (RecBole's definitions, as dnnrec's RankingMetrics: the ideal
  DCG over min(|held-out|, K) items; recall = hits / |held-out|), averaged over the users with
  at least one held-out item. Every user is scored, as dnnrec does.

Inputs, one of:
  --npz FILE    arrays U [n_users, d], V [n_items, d], b [n_items] (or [n_items, 1]), the
                excluded items as CSR train_indptr [n_users + 1] / train_indices (+ optional
                val_indptr / val_indices, also excluded), the held-out items as CSR
                test_indptr / test_indices. Item ids index V's rows. With the factors and split
                of a dnnrec checkpoint, the metrics should match dnnrec's (up to score ties).
  --synthetic   random factors (N(0, 0.1), d = --dim, default 64) and a random bias for
                --users x --items, each user with --per-user excluded items on average (a
                count drawn uniformly in [per-user / 2, 3 * per-user / 2], items uniform; a
                repeated item is harmless) and 1 or 2 held-out items: a pure timing
                reference at a given size (its metrics are those of random scores).

Reported, one JSON line on stdout: users, items, dim, excluded (total excluded entries),
block, threads, seconds (the evaluation loop only: building the inputs is not timed), and
ndcg@10, ndcg@20, recall@10, recall@20, evaluated_users.

    /usr/bin/python3 bench/full_ranking_reference.py --synthetic --users 162000 --items 62000 \\
        --per-user 120 --threads 2
"""

import argparse
import json
import sys
import time

import numpy as np
import torch

KS = (10, 20)


def csr_tensors(indptr, indices):
    """(indptr, indices) as int64 tensors, checked."""
    indptr = torch.as_tensor(np.asarray(indptr, dtype=np.int64))
    indices = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    if indptr.dim() != 1 or indptr.numel() < 1 or int(indptr[-1]) != indices.numel():
        raise SystemExit("full_ranking_reference: a CSR's indptr does not end at len(indices)")
    return indptr, indices


def merge_csr(a, b):
    """Row-wise concatenation of two CSRs with the same number of rows."""
    (pa, ia), (pb, ib) = a, b
    counts = (pa[1:] - pa[:-1]) + (pb[1:] - pb[:-1])
    rows = torch.cat([torch.repeat_interleave(torch.arange(pa.numel() - 1), pa[1:] - pa[:-1]),
                      torch.repeat_interleave(torch.arange(pb.numel() - 1), pb[1:] - pb[:-1])])
    order = torch.sort(rows, stable=True).indices
    indptr = torch.zeros(counts.numel() + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(counts, 0)
    return indptr, torch.cat([ia, ib])[order]


def load_npz(path):
    z = np.load(path)
    U = torch.as_tensor(np.ascontiguousarray(z["U"], dtype=np.float32))
    V = torch.as_tensor(np.ascontiguousarray(z["V"], dtype=np.float32))
    b = torch.as_tensor(np.ascontiguousarray(z["b"], dtype=np.float32)).reshape(-1)
    if b.numel() != V.shape[0] or U.shape[1] != V.shape[1]:
        raise SystemExit("full_ranking_reference: U, V, b shapes do not agree")
    excluded = csr_tensors(z["train_indptr"], z["train_indices"])
    if "val_indptr" in z.files:
        excluded = merge_csr(excluded, csr_tensors(z["val_indptr"], z["val_indices"]))
    held_out = csr_tensors(z["test_indptr"], z["test_indices"])
    for name, (indptr, _) in (("train/val", excluded), ("test", held_out)):
        if indptr.numel() != U.shape[0] + 1:
            raise SystemExit(f"full_ranking_reference: the {name} CSR has "
                             f"{indptr.numel() - 1} rows, U has {U.shape[0]}")
    return U, V, b, excluded, held_out


def synthetic(users, items, dim, per_user, seed):
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(users, dim, generator=g) * 0.1
    V = torch.randn(items, dim, generator=g) * 0.1
    b = torch.randn(items, generator=g) * 0.1
    low, high = max(0, per_user // 2), max(1, per_user + per_user // 2)
    counts = torch.randint(low, high + 1, (users,), generator=g)
    excluded_ptr = torch.zeros(users + 1, dtype=torch.int64)
    excluded_ptr[1:] = torch.cumsum(counts, 0)
    excluded = (excluded_ptr, torch.randint(0, items, (int(excluded_ptr[-1]),), generator=g))
    held_counts = torch.randint(1, 3, (users,), generator=g)
    held_ptr = torch.zeros(users + 1, dtype=torch.int64)
    held_ptr[1:] = torch.cumsum(held_counts, 0)
    held_out = (held_ptr, torch.randint(0, items, (int(held_ptr[-1]),), generator=g))
    return U, V, b, excluded, held_out


def block_entries(csr, begin, end):
    """(row within the block, item) of the CSR entries of users begin..end-1."""
    indptr, indices = csr
    lo, hi = int(indptr[begin]), int(indptr[end])
    counts = indptr[begin + 1:end + 1] - indptr[begin:end]
    rows = torch.repeat_interleave(torch.arange(end - begin), counts)
    return rows, indices[lo:hi]


def distinct_keys(csr, n_items):
    """A CSR of held-out items as (indptr, sorted distinct keys user * n_items + item): the
    held-out items as a set per user, as dnnrec's metrics count them."""
    indptr, indices = csr
    users = torch.repeat_interleave(torch.arange(indptr.numel() - 1), indptr[1:] - indptr[:-1])
    keys = torch.unique(users * n_items + indices)  # sorted
    counts = torch.bincount(keys // n_items, minlength=indptr.numel() - 1)
    out = torch.zeros(indptr.numel(), dtype=torch.int64)
    out[1:] = torch.cumsum(counts, 0)
    return out, keys


def evaluate(U, V, b, excluded, held_out, block, ks=KS):
    """Full ranking of every user; the metric sums over users with held-out items.

    held_out must be distinct_keys()'s: (indptr, sorted distinct user * n_items + item keys).
    """
    k_max = max(ks)
    n_items = V.shape[0]
    held_ptr, held_keys = held_out
    discount = 1.0 / torch.log2(torch.arange(2, k_max + 2, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)  # ideal[n - 1]: the ideal DCG of n relevant items
    sums = {f"{m}@{k}": 0.0 for m in ("ndcg", "recall") for k in ks}
    evaluated = 0
    neg_inf = torch.tensor(float("-inf"))
    with torch.no_grad():
        for begin in range(0, U.shape[0], block):
            end = min(U.shape[0], begin + block)
            scores = U[begin:end] @ V.T + b
            scores.index_put_(block_entries(excluded, begin, end), neg_inf)
            top = torch.topk(scores, k_max, dim=1).indices
            # A top item is a hit when its (user, item) key is one of the block's held-out keys.
            users = torch.arange(begin, end).unsqueeze(1)
            hits = torch.isin(users * n_items + top, held_keys[held_ptr[begin]:held_ptr[end]])
            hits = hits.to(torch.float64)
            n_pos = held_ptr[begin + 1:end + 1] - held_ptr[begin:end]
            keep = n_pos > 0
            hits, n_pos = hits[keep], n_pos[keep].to(torch.float64)
            evaluated += int(keep.sum())
            dcg = torch.cumsum(hits * discount, 1)
            found = torch.cumsum(hits, 1)
            for k in ks:
                best = torch.clamp(n_pos, max=k).to(torch.int64) - 1
                sums[f"ndcg@{k}"] += float((dcg[:, k - 1] / ideal[best]).sum())
                sums[f"recall@{k}"] += float((found[:, k - 1] / n_pos).sum())
    return {name: value / max(evaluated, 1) for name, value in sums.items()}, evaluated


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--npz", help="U, V, b and the train/val/test CSRs (see above)")
    source.add_argument("--synthetic", action="store_true", help="random factors and items")
    p.add_argument("--users", type=int, default=162000)
    p.add_argument("--items", type=int, default=62000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--per-user", type=int, default=150, help="mean excluded items per user")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--block", type=int, default=512, help="users per matrix product")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if min(args.users, args.items, args.dim, args.block, args.threads) < 1 or args.per_user < 0:
        p.error("--users, --items, --dim, --block and --threads must be >= 1, --per-user >= 0")
    torch.set_num_threads(args.threads)

    if args.npz:
        U, V, b, excluded, held_out = load_npz(args.npz)
    else:
        U, V, b, excluded, held_out = synthetic(args.users, args.items, args.dim, args.per_user,
                                                args.seed)
    if V.shape[0] < max(KS):
        raise SystemExit(f"full_ranking_reference: need at least {max(KS)} items")
    held_out = distinct_keys(held_out, V.shape[0])
    start = time.perf_counter()
    metrics, evaluated = evaluate(U, V, b, excluded, held_out, args.block)
    seconds = time.perf_counter() - start
    out = {"users": int(U.shape[0]), "items": int(V.shape[0]), "dim": int(U.shape[1]),
           "excluded": int(excluded[1].numel()), "block": args.block,
           "threads": torch.get_num_threads(), "seconds": round(seconds, 3),
           "evaluated_users": evaluated}
    out.update({name: round(value, 6) for name, value in sorted(metrics.items())})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
