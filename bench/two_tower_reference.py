#!/usr/bin/env python3
"""Reference: the PyTorch script a user would write instead of `dnnrec train --model two-tower`.

It replicates dnnrec's two-tower ranking model (src/models/rankers.cc, TwoTowerImpl) and its
training loop (src/run/ranking_run.cc, train_epoch) on a MovieLens folder and measures the
training throughput, for scripts/bench-two-tower.sh:

1. Interactions as dnnrec's prepare_ranking (configs/pop.yaml's protocol): ratings >= 3, the
   iterative 10/10-core (a user or movie counts its rows, duplicates included), then the
   per-user random split 0.8 / 0.1 / 0.1 (each user's n rows shuffled and cut at floor(0.8 n)
   and floor(0.9 n), test taking the remainder, train at least one row). The per-user part
   sizes depend on n only, so the training set has exactly
   dnnrec's size and per-user lengths whatever the shuffle; the shuffle here is nevertheless
   the same splitmix64 Fisher-Yates (seed 42), so the rows should match too. Only the sizes and
   shapes matter for speed: the split randomness need not match dnnrec's.
2. Users and items indexed in first-seen order over the training rows (file order); each item's
   genre ids (sorted genre vocabulary, 1-based, 0 = padding, width = the most genres of an item)
   and year id (sorted, 1-based, 0 = none) parsed from the title.
3. The model, as TwoTowerImpl with model.hidden: [] (the benchmark's setting; --hidden adds
   the MLP towers, Linear + ReLU + Dropout, to both towers):
     user tower: user-id embedding + mean of a separate "history" item embedding over the
                 user's training items, the example's positive item left out
                 (EmbeddingBag mode="sum" over the user's full list, minus the positive's row,
                 divided by count - 1);
     item tower: item-id embedding + masked mean of the genre embeddings + year embedding;
     both L2-normalised. Initialisation: id and history tables N(0, 0.1); genre and year
     tables U(-0.1, 0.1) with padding row 0 zero.
   Loss: in-batch softmax. logits = u v^T / temperature, minus log(q_item * B) per column
   (log-Q correction, q = the item's share of training interactions), accidental hits (the
   same item in another row) masked to -1e9, plus --negatives shared uniform items (their
   logits minus log(n / n_items)); cross entropy with target = the diagonal.
4. Training: every training interaction once per epoch, shuffled by torch.randperm, batches of
   512; each batch gathers its examples' users' full training item lists (a vectorised CSR
   gather, as user_block does) for the EmbeddingBag.
   Optimizer: dnnrec uses Adam with row-wise (lazy) updates of the embedding tables
   (src/train/optimizer.cc). The idiomatic PyTorch equivalent is used here: every table is an
   nn.Embedding / nn.EmbeddingBag with sparse=True, updated by torch.optim.SparseAdam (lazy
   Adam over the rows a batch touched), and torch.optim.Adam for the dense MLP weights when
   --hidden is given (with hidden [] there are none).

Reported: train_samples_per_sec (training examples / seconds of the training loop, over all
epochs like dnnrec's metrics.json figure; the per-epoch validation of dnnrec is not timed
there either, and is not run here), samples_per_sec (the same number), per-epoch samples/s,
threads, cpu_model, load_seconds, peak_rss_mib, and untimed val ndcg@10 / recall@10 of the
final weights (full ranking, training items excluded) as a check that the model learns like
dnnrec's.

    /usr/bin/python3 bench/two_tower_reference.py --epochs 3 --threads 2 --json
"""

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The CSV reader and dnnrec's splitmix64 are shared with the rating benchmark's reference.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import SplitMix64, read_csv  # noqa: E402

DEFAULT_DATA = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "data", "ml-latest-small"))
NO_GENRES = "(no genres listed)"


# ----------------------------------------------------------------------------- data


def parse_year(title):
    """dnnrec's parse_year: the 4 digits in the title's closing '(YYYY)' or '(YYYY-[YYYY])'."""
    m = re.search(r"\((\d{4})(?:(?:-|\u2013)(\d{4})?)?\)\s*$", title)
    if not m:
        return 0
    year = int(m.group(1))
    return year if 1800 <= year <= 2100 else 0


def load_movielens(folder):
    """ratings as numpy columns (file order); movies as {movieId: (genres, year)}."""
    rows = read_csv(os.path.join(folder, "ratings.csv"))
    user = np.array([int(r[0]) for r in rows], dtype=np.int64)
    movie = np.array([int(r[1]) for r in rows], dtype=np.int64)
    rating = np.array([float(r[2]) for r in rows], dtype=np.float64)
    movies = {}
    for movie_id, title, genres in read_csv(os.path.join(folder, "movies.csv")):
        names = [] if genres == NO_GENRES else [g for g in genres.split("|") if g]
        movies[int(movie_id)] = (names, parse_year(title))
    return user, movie, rating, movies


def k_core(user, movie, rows, min_user, min_item):
    """The iterative k-core of `rows` (ascending row numbers)."""
    while True:
        _, u_inv, u_cnt = np.unique(user[rows], return_inverse=True, return_counts=True)
        _, m_inv, m_cnt = np.unique(movie[rows], return_inverse=True, return_counts=True)
        keep = (u_cnt[u_inv] >= min_user) & (m_cnt[m_inv] >= min_item)
        if keep.all():
            return rows
        rows = rows[keep]


def part_sizes(n, val_ratio, test_ratio):
    """dnnrec's part_sizes: [train, val, test] of n rows, cut at the floored cumulative ratios."""
    def cut(ratio):
        return int(math.floor(ratio * n + 1e-9))
    first = min(n, max(cut(1.0 - val_ratio - test_ratio), 1))
    second = min(n, max(cut(1.0 - test_ratio), first))
    return [first, second - first, n - second]


def split_random_per_user(user, rows, val_ratio, test_ratio, seed):
    """Each user's rows (users by first appearance, rows in file order) shuffled and cut."""
    groups = {}
    for row in rows.tolist():
        groups.setdefault(int(user[row]), []).append(row)
    rng = SplitMix64(seed)
    train, val, test = [], [], []
    for group in groups.values():
        for i in range(len(group), 1, -1):
            j = rng.below(i)
            group[i - 1], group[j] = group[j], group[i - 1]
        n_train, n_val, _ = part_sizes(len(group), val_ratio, test_ratio)
        train += group[:n_train]
        val += group[n_train:n_train + n_val]
        test += group[n_train + n_val:]
    return sorted(train), sorted(val), sorted(test)


def prepare_ranking(folder, min_rating=3.0, min_user=10, min_item=10, val_ratio=0.1,
                    test_ratio=0.1, seed=42):
    """dnnrec's prepare_ranking: the interaction index and the item features."""
    user, movie, rating, movies = load_movielens(folder)
    rows = np.nonzero(rating >= min_rating)[0]
    n_interactions = len(rows)
    rows = k_core(user, movie, rows, min_user, min_item)
    train, val, test = split_random_per_user(user, rows, val_ratio, test_ratio, seed)

    user_of, item_of, items, train_lists = {}, {}, [], []
    for row in train:
        u = user_of.setdefault(int(user[row]), len(user_of))
        if u == len(train_lists):
            train_lists.append([])
        i = item_of.setdefault(int(movie[row]), len(item_of))
        if i == len(items):
            items.append(int(movie[row]))
        train_lists[u].append(i)
    val_lists = [[] for _ in train_lists]
    for row in val:
        u, i = user_of.get(int(user[row])), item_of.get(int(movie[row]))
        if u is not None and i is not None:
            val_lists[u].append(i)

    # Item features: sorted vocabularies of the indexed items' genres and years.
    known = [movies.get(m, ([], 0)) for m in items]
    genre_list = sorted({g for genres, _ in known for g in genres})
    year_list = sorted({y for _, y in known if y > 0})
    genre_id = {g: k + 1 for k, g in enumerate(genre_list)}
    year_id = {y: k + 1 for k, y in enumerate(year_list)}
    width = max([1] + [len(genres) for genres, _ in known])
    item_genres = torch.zeros(len(items), width, dtype=torch.long)
    item_year = torch.zeros(len(items), dtype=torch.long)
    for k, (genres, year) in enumerate(known):
        for g, name in enumerate(genres):
            item_genres[k, g] = genre_id[name]
        if year > 0:
            item_year[k] = year_id[year]

    log(f"ranking data: {n_interactions} interactions (rating >= {min_rating:g}), {len(rows)} "
        f"after the {min_user}/{min_item}-core: {len(train_lists)} users, {len(items)} items; "
        f"split random-per-user -> train {len(train)}, val {len(val)}, test {len(test)}")
    return {
        "train": train_lists, "val": val_lists, "n_items": len(items),
        "item_genres": item_genres, "item_year": item_year,
        "n_genres": len(genre_list), "n_years": len(year_list),
    }


# ----------------------------------------------------------------------------- model


def normal_table(rows, dim, std=0.1):
    table = nn.Embedding(rows, dim, sparse=True)
    with torch.no_grad():
        table.weight.normal_(0.0, std)
    return table


def padded_table(rows, dim, scale=0.1):
    """dnnrec's make_embedding: U(-scale, scale), padding row 0 zero (and never updated)."""
    table = nn.Embedding(rows, dim, padding_idx=0, sparse=True)
    with torch.no_grad():
        table.weight.uniform_(-scale, scale)
        table.weight[0].zero_()
    return table


def tower(width, hidden, dropout, out):
    layers = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


class TwoTower(nn.Module):
    def __init__(self, data, n_users, dim, temperature, logq, hidden=(), dropout=0.2):
        super().__init__()
        n_items = data["n_items"]
        self.temperature, self.logq = temperature, logq
        self.user = normal_table(n_users, dim)
        self.history = nn.EmbeddingBag(n_items, dim, mode="sum", sparse=True)
        with torch.no_grad():
            self.history.weight.normal_(0.0, 0.1)
        self.item = normal_table(n_items, dim)
        self.genre = padded_table(data["n_genres"] + 1, dim)
        self.year = padded_table(data["n_years"] + 1, dim)
        self.register_buffer("item_genres", data["item_genres"].clone())
        self.register_buffer("item_year", data["item_year"].clone())
        counts = torch.zeros(n_items)
        for items in data["train"]:
            counts.index_add_(0, torch.tensor(items, dtype=torch.long), torch.ones(len(items)))
        counts = counts.clamp_min(1)
        self.register_buffer("log_q", (counts / counts.sum()).log())
        self.user_mlp = tower(2 * dim, hidden, dropout, dim) if hidden else None
        self.item_mlp = tower(3 * dim, hidden, dropout, dim) if hidden else None

    def user_vectors(self, users, bag_items, bag_offsets, counts, leave_out=None):
        total = self.history(bag_items, bag_offsets)
        count = counts.to(torch.float)
        if leave_out is not None:
            total = total - F.embedding(leave_out, self.history.weight, sparse=True)
            count = count - 1
        history = total / count.clamp_min(1).unsqueeze(1)
        uid = self.user(users)
        out = self.user_mlp(torch.cat([uid, history], 1)) if self.user_mlp else uid + history
        return F.normalize(out, dim=1)

    def item_vectors(self, items):
        ids = self.item_genres.index_select(0, items)
        count = ids.ne(0).sum(1, keepdim=True).clamp_min(1).to(torch.float)
        genres = self.genre(ids).sum(1) / count
        year = self.year(self.item_year.index_select(0, items))
        iid = self.item(items)
        out = (self.item_mlp(torch.cat([iid, genres, year], 1)) if self.item_mlp
               else iid + genres + year)
        return F.normalize(out, dim=1)

    def loss(self, users, bag_items, bag_offsets, counts, items, negatives=None):
        u = self.user_vectors(users, bag_items, bag_offsets, counts, leave_out=items)
        v = self.item_vectors(items)
        b = items.shape[0]
        logits = u @ v.t() / self.temperature
        if self.logq:
            logits = logits - (self.log_q.index_select(0, items) + math.log(b))
        same = items.unsqueeze(1).eq(items.unsqueeze(0))
        eye = torch.eye(b, dtype=torch.bool)
        logits = logits.masked_fill(same & ~eye, -1e9)
        if negatives is not None and negatives.numel() > 0:
            n = negatives.shape[0]
            extra = u @ self.item_vectors(negatives).t() / self.temperature
            if self.logq:
                extra = extra - math.log(n / self.log_q.shape[0])
            extra = extra.masked_fill(items.unsqueeze(1).eq(negatives.unsqueeze(0)), -1e9)
            logits = torch.cat([logits, extra], 1)
        return F.cross_entropy(logits, torch.arange(b))


# ----------------------------------------------------------------------------- training


class UserLists:
    """Each user's training items as CSR tensors, and the batch gather of user_block."""

    def __init__(self, lists):
        self.lengths = torch.tensor([len(x) for x in lists], dtype=torch.long)
        self.starts = torch.cumsum(self.lengths, 0) - self.lengths
        self.flat = torch.tensor([i for x in lists for i in x], dtype=torch.long)

    def block(self, users):
        """(items, offsets, counts): the users' full lists concatenated, as EmbeddingBag wants."""
        counts = self.lengths.index_select(0, users)
        offsets = torch.cumsum(counts, 0) - counts
        total = int(counts.sum())
        # Position k of the bag belongs to example e: flat index starts[user_e] + (k - offset_e).
        shift = torch.repeat_interleave(self.starts.index_select(0, users) - offsets, counts)
        items = self.flat.index_select(0, torch.arange(total) + shift)
        return items, offsets, counts


def train_epoch(model, optimizers, pair_user, pair_item, lists, batch_size, n_negatives,
                n_items):
    """One pass over the shuffled training interactions; returns the mean loss."""
    model.train()
    n = pair_user.shape[0]
    order = torch.randperm(n)
    loss_sum = 0.0
    for begin in range(0, n, batch_size):
        idx = order[begin:begin + batch_size]
        users = pair_user.index_select(0, idx)
        items = pair_item.index_select(0, idx)
        bag_items, bag_offsets, counts = lists.block(users)
        negatives = torch.randint(n_items, (n_negatives,)) if n_negatives > 0 else None
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss = model.loss(users, bag_items, bag_offsets, counts, items, negatives)
        value = loss.item()
        if not math.isfinite(value):
            raise RuntimeError(f"the loss became {value}; lower --lr")
        loss.backward()
        for opt in optimizers:
            opt.step()
        loss_sum += value * idx.shape[0]
    return loss_sum / max(n, 1)


def evaluate(model, lists, held_out, k=10):
    """Full-ranking ndcg@k and recall@k over the users with held-out items (training excluded)."""
    model.eval()
    n_users = len(held_out)
    ndcg = recall = 0.0
    users_counted = 0
    with torch.no_grad():
        items = model.item_vectors(torch.arange(model.log_q.shape[0]))
        users = torch.arange(n_users)
        bag_items, bag_offsets, counts = lists.block(users)
        scores = model.user_vectors(users, bag_items, bag_offsets, counts) @ items.t()
        rows = torch.repeat_interleave(users, counts)
        scores[rows, bag_items] = -math.inf
        top = scores.topk(k, dim=1).indices.tolist()
    discount = [1.0 / math.log2(r + 2.0) for r in range(k)]
    for u in range(n_users):
        wanted = set(held_out[u])
        if not wanted:
            continue
        users_counted += 1
        hits = [r for r, item in enumerate(top[u]) if item in wanted]
        ndcg += sum(discount[r] for r in hits) / sum(discount[:min(len(wanted), k)])
        recall += len(hits) / len(wanted)
    users_counted = max(users_counted, 1)
    return ndcg / users_counted, recall / users_counted


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="MovieLens folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--hidden", default="", help="MLP tower sizes, e.g. 256,128 (default: none)")
    p.add_argument("--dropout", type=float, default=0.2, help="after each hidden layer")
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--no-logq", dest="logq", action="store_false", help="no log-Q correction")
    p.add_argument("--negatives", type=int, default=0, help="shared uniform negatives per batch")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--seed", type=int, default=42, help="torch.manual_seed")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    hidden = [int(x) for x in args.hidden.replace("[", "").replace("]", "").split(",") if x.strip()]

    start = time.perf_counter()
    data = prepare_ranking(args.data)
    lists = UserLists(data["train"])
    pair_user = torch.repeat_interleave(torch.arange(len(data["train"])), lists.lengths)
    pair_item = lists.flat.clone()
    load_seconds = time.perf_counter() - start

    model = TwoTower(data, len(data["train"]), args.embedding_dim, args.temperature, args.logq,
                     hidden, args.dropout)
    sparse = [p for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
              for p in m.parameters(recurse=False)]
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    optimizers = [torch.optim.SparseAdam(sparse, lr=args.lr)]
    if dense:
        optimizers.append(torch.optim.Adam(dense, lr=args.lr))
    weights = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    log(f"model two-tower: {weights} weights; {len(sparse)} sparse tables (SparseAdam), "
        f"{len(dense)} dense tensors (Adam); load {load_seconds:.2f}s")

    n = pair_user.shape[0]
    train_seconds, epoch_sps = 0.0, []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, optimizers, pair_user, pair_item, lists, args.batch_size,
                           args.negatives, data["n_items"])
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        epoch_sps.append(n / seconds)
        log(f"epoch {epoch}/{args.epochs}: loss {loss:.4f} ({seconds:.1f}s, "
            f"{n / seconds:.0f} samples/s)")

    val_ndcg, val_recall = evaluate(model, lists, data["val"])  # untimed
    sps = n * args.epochs / train_seconds
    result = {
        "model": "two-tower",
        "train_samples_per_sec": sps,
        "samples_per_sec": sps,
        "epoch_samples_per_sec": epoch_sps,
        "train_examples": n,
        "epochs": args.epochs,
        "train_seconds": train_seconds,
        "load_seconds": load_seconds,
        "threads": args.threads,
        "cpu_model": cpu_model(),
        "torch": torch.__version__,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "val_ndcg@10": val_ndcg,
        "val_recall@10": val_recall,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
