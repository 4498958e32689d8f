#!/usr/bin/env python3
"""Reference: the straightforward PyTorch script a user would write instead of `dnnrec train`.

It does the reference work of the dnnrec benchmark on a MovieLens folder and measures it:

1. Read ratings.csv, movies.csv and tags.csv (csv module + numpy; no pandas).
2. Split the ratings 0.8 / 0.1 / 0.1 at random, with the very same permutation as dnnrec
   (Fisher-Yates driven by splitmix64, seed 42), so both see identical train / val / test rows.
3. Build the features from the training split only, as dnnrec does: user and movie
   vocabularies (0 = padding, 1 = unknown, known ids from 2 in first-seen order), each movie's
   genres and its 10 most frequent tags, and the user's history (for a training rating the
   user's other training ratings, for a held-out one the user's training ratings, the latest
   20 in both cases), all padded Keras-style ('pre').
4. Train a DNN: embeddings (dim 32) of user, movie, genres, tags and history (the sequences
   pooled by a masked mean), concatenated, MLP 256-128-64 with ReLU and dropout 0.2, one
   output plus the mean training rating. MSE, Adam (lr 1e-3), batch 256, shuffled each epoch.
5. After each epoch, the validation RMSE (predictions clipped to [0.5, 5]); the weights of the
   best validation epoch give the test RMSE at the end.

Batches come from one of two loaders (--loader):
  dataloader   torch.utils.data.TensorDataset + DataLoader(batch_size=256, shuffle=True),
               the default collate, num_workers=0: what most tutorials show.
  index_select a torch.randperm per epoch and one index_select per column per batch.

Reported: load_seconds (reading the CSVs to tensors ready, split and features included),
train_samples_per_sec (training-loop samples / training-loop seconds, validation excluded),
peak_rss_mib (ru_maxrss), val_rmse, test_rmse.

    /usr/bin/python3 bench/reference.py --loader dataloader --epochs 5 --threads 2 --json
"""

import argparse
import collections
import csv
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

GENRE_LEN = 10
TAG_LEN = 10
HISTORY_LEN = 20
EMBEDDING_DIM = 32
HIDDEN = (256, 128, 64)
DROPOUT = 0.2
BATCH_SIZE = 256
EVAL_BATCH_SIZE = 8192
LR = 1e-3
SPLIT_SEED = 42
VAL_RATIO = 0.1
TEST_RATIO = 0.1
MIN_RATING, MAX_RATING = 0.5, 5.0
PAD, UNKNOWN = 0, 1
MASK64 = (1 << 64) - 1
DEFAULT_DATA = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "data", "ml-latest-small"))


# ----------------------------------------------------------------------------- data


def read_csv(path):
    """The rows of a CSV file with a header, as lists of strings (header skipped)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        return list(reader)


def load_movielens(folder):
    """ratings as numpy columns (file order), movies as {movieId: [genres]}, tags as tuples."""
    rows = read_csv(os.path.join(folder, "ratings.csv"))
    ratings = {
        "user": np.array([int(r[0]) for r in rows], dtype=np.int64),
        "movie": np.array([int(r[1]) for r in rows], dtype=np.int64),
        "rating": np.array([float(r[2]) for r in rows], dtype=np.float64),
        "timestamp": np.array([int(r[3]) for r in rows], dtype=np.int64),
    }
    movie_genres = {}
    for movie_id, _title, genres in read_csv(os.path.join(folder, "movies.csv")):
        movie_genres[int(movie_id)] = [] if genres == "(no genres listed)" else genres.split("|")
    tags = []
    tags_path = os.path.join(folder, "tags.csv")
    if os.path.exists(tags_path):
        for user_id, movie_id, tag, timestamp in read_csv(tags_path):
            tags.append((int(user_id), int(movie_id), tag.strip().lower(), int(timestamp)))
    return ratings, movie_genres, tags


# ----------------------------------------------------------------------------- split


class SplitMix64:
    """splitmix64, exactly as dnnrec's (src/base/random.h)."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform in [0, n): the high 64 bits of the 128-bit product."""
        return (self.next() * n) >> 64


def round_half_away(x):
    """C's llround: halves round away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def random_split(n, seed=SPLIT_SEED, val_ratio=VAL_RATIO, test_ratio=TEST_RATIO):
    """dnnrec's random split: Fisher-Yates shuffle of 0..n-1, cut train | val | test, sorted."""
    rng = SplitMix64(seed)
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    n_test = round_half_away(n * test_ratio)
    n_val = round_half_away(n * val_ratio)
    n_train = n - n_test - n_val
    train = np.sort(np.array(order[:n_train], dtype=np.int64))
    val = np.sort(np.array(order[n_train:n_train + n_val], dtype=np.int64))
    test = np.sort(np.array(order[n_train + n_val:], dtype=np.int64))
    return train, val, test


# ----------------------------------------------------------------------------- features


def build_vocab(keys):
    """{key: index} with indices from 2 in first-seen order (0 = padding, 1 = unknown)."""
    vocab = {}
    for key in keys:
        if key not in vocab:
            vocab[key] = len(vocab) + 2
    return vocab


def pad_pre(seq, maxlen):
    """Keras pad_sequences(padding='pre', truncating='pre') for one sequence."""
    seq = list(seq)[-maxlen:] if maxlen > 0 else []
    return [PAD] * (maxlen - len(seq)) + seq


def top_tags_per_movie(ratings, train, tags, tag_len=TAG_LEN):
    """{movieId: [tag text]}: the most frequent tags (ties by text), counting only tags whose
    (user, movie) pair is not held out and that are not newer than the newest training rating."""
    users, movies = ratings["user"].tolist(), ratings["movie"].tolist()
    train_pairs = {(users[i], movies[i]) for i in train.tolist()}
    held_out = {pair for pair in zip(users, movies) if pair not in train_pairs}
    newest = int(ratings["timestamp"][train].max())
    counts = collections.defaultdict(collections.Counter)
    for user, movie, tag, timestamp in tags:
        if (user, movie) in held_out or timestamp > newest:
            continue
        counts[movie][tag] += 1
    return {
        movie: [tag for tag, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:tag_len]]
        for movie, c in counts.items()
    }


def build_features(ratings, movie_genres, tags, train):
    """Vocabularies and per-movie tables from the training rows; returns an encoder of rows."""
    user_vocab = build_vocab(ratings["user"][train].tolist())
    movie_vocab = build_vocab(ratings["movie"][train].tolist())
    genre_vocab = build_vocab(g for m in movie_vocab for g in movie_genres.get(m, []))
    movie_tags = top_tags_per_movie(ratings, train, tags)
    tag_vocab = build_vocab(t for m in sorted(movie_tags) for t in movie_tags[m])

    # One row per movie of movies.csv: its padded genre and tag ids.
    catalogue = {movie: k for k, movie in enumerate(movie_genres)}
    genre_table = np.array(
        [pad_pre([genre_vocab.get(g, UNKNOWN) for g in movie_genres[m]], GENRE_LEN)
         for m in movie_genres], dtype=np.int64).reshape(len(movie_genres), GENRE_LEN)
    tag_table = np.array(
        [pad_pre([tag_vocab[t] for t in movie_tags.get(m, [])], TAG_LEN) for m in movie_genres],
        dtype=np.int64).reshape(len(movie_genres), TAG_LEN)

    user_ids = np.array([user_vocab.get(u, UNKNOWN) for u in ratings["user"].tolist()])
    movie_ids = np.array([movie_vocab.get(m, UNKNOWN) for m in ratings["movie"].tolist()])
    movie_rows = np.array([catalogue[m] for m in ratings["movie"].tolist()])

    # User histories: training events sorted by (user, timestamp, file order). A held-out row,
    # like a served pair, gets its user's latest HISTORY_LEN training events; a training row
    # its user's other training events, the latest HISTORY_LEN of them (itself left out).
    timestamps = ratings["timestamp"]
    by_user = train[np.lexsort((train, timestamps[train], user_ids[train]))]
    event_user = user_ids[by_user]
    event_movie = movie_ids[by_user]
    bounds = np.searchsorted(event_user, np.arange(len(user_vocab) + 3), side="left")
    user_start, user_end = bounds[user_ids], bounds[user_ids + 1]
    latest = user_end[:, None] + np.arange(-HISTORY_LEN, 0)[None, :]
    history = np.where(latest >= user_start[:, None], event_movie[np.clip(latest, 0, None)], PAD)
    # Training rows: a window of the latest HISTORY_LEN + 1 events without the row's own event
    # (or without the oldest when the row's event is not in the window).
    own = np.full(len(user_ids), -1)
    own[by_user] = np.arange(len(by_user))
    window = user_end[train, None] + np.arange(-HISTORY_LEN - 1, 0)[None, :]
    is_own = window == own[train, None]
    skip = np.where(is_own.any(axis=1), np.argmax(is_own, axis=1), -1)
    columns = np.arange(HISTORY_LEN)[None, :]
    others = np.take_along_axis(window, np.where(columns < skip[:, None], columns, columns + 1),
                                axis=1)
    history[train] = np.where(others >= user_start[train, None],
                              event_movie[np.clip(others, 0, None)], PAD)

    def encode(rows):
        """Tensors of the given rating rows: user, movie, genres, tags, history, rating."""
        return (
            torch.from_numpy(user_ids[rows]),
            torch.from_numpy(movie_ids[rows]),
            torch.from_numpy(genre_table[movie_rows[rows]]),
            torch.from_numpy(tag_table[movie_rows[rows]]),
            torch.from_numpy(np.ascontiguousarray(history[rows])),
            torch.from_numpy(ratings["rating"][rows].astype(np.float32)),
        )

    sizes = {"users": len(user_vocab) + 2, "movies": len(movie_vocab) + 2,
             "genres": len(genre_vocab) + 2, "tags": len(tag_vocab) + 2}
    return encode, sizes


# ----------------------------------------------------------------------------- model


def embedding(rows, dim=EMBEDDING_DIM):
    """An embedding table with padding_idx 0, uniform(-0.05, 0.05), the padding row zero."""
    table = nn.Embedding(rows, dim, padding_idx=PAD)
    with torch.no_grad():
        table.weight.uniform_(-0.05, 0.05)
        table.weight[PAD].zero_()
    return table


def masked_mean(embedded, ids):
    """Mean of the embeddings of the non-padding ids (padding rows are zero)."""
    count = ids.ne(PAD).sum(1, keepdim=True).clamp_min(1).to(embedded.dtype)
    return embedded.sum(1) / count


class DNN(nn.Module):
    def __init__(self, sizes, global_mean):
        super().__init__()
        self.user = embedding(sizes["users"])
        self.movie = embedding(sizes["movies"])
        self.genre = embedding(sizes["genres"])
        self.tag = embedding(sizes["tags"])
        self.history = embedding(sizes["movies"])
        layers, width = [], 5 * EMBEDDING_DIM
        for size in HIDDEN:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(DROPOUT)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.tower = nn.Sequential(*layers)
        self.register_buffer("offset", torch.tensor(global_mean, dtype=torch.float32))

    def forward(self, user, movie, genres, tags, history):
        x = torch.cat([
            self.user(user),
            self.movie(movie),
            masked_mean(self.genre(genres), genres),
            masked_mean(self.tag(tags), tags),
            masked_mean(self.history(history), history),
        ], dim=1)
        return self.tower(x).squeeze(1) + self.offset


# ----------------------------------------------------------------------------- training


def dataloader_batches(columns):
    """Batches of a TensorDataset through a shuffling DataLoader (default collate)."""
    loader = DataLoader(TensorDataset(*columns), batch_size=BATCH_SIZE, shuffle=True)
    return lambda: iter(loader)


def index_select_batches(columns):
    """Batches cut by a per-epoch torch.randperm and one index_select per column."""
    n = columns[0].shape[0]

    def epoch():
        order = torch.randperm(n)
        for start in range(0, n, BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            yield [c.index_select(0, idx) for c in columns]

    return epoch


def train_epoch(model, optimizer, batches):
    """One pass over the training batches; returns (mean loss, samples)."""
    model.train()
    loss_fn = nn.MSELoss()
    total, samples = 0.0, 0
    for user, movie, genres, tags, history, rating in batches():
        optimizer.zero_grad()
        loss = loss_fn(model(user, movie, genres, tags, history), rating)
        loss.backward()
        optimizer.step()
        total += loss.item() * rating.shape[0]
        samples += rating.shape[0]
    return total / samples, samples


def rmse(model, columns):
    """RMSE of the clipped predictions, in eval mode without gradients."""
    model.eval()
    *features, rating = columns
    squared = 0.0
    with torch.no_grad():
        for start in range(0, rating.shape[0], EVAL_BATCH_SIZE):
            batch = [c[start:start + EVAL_BATCH_SIZE] for c in features]
            pred = model(*batch).clamp(MIN_RATING, MAX_RATING)
            target = rating[start:start + EVAL_BATCH_SIZE]
            squared += (pred.double() - target.double()).pow(2).sum().item()
    return math.sqrt(squared / rating.shape[0])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="MovieLens folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--loader", choices=["dataloader", "index_select"], default="dataloader")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)

    start = time.perf_counter()
    ratings, movie_genres, tags = load_movielens(args.data)
    train, val, test = random_split(len(ratings["rating"]))
    encode, sizes = build_features(ratings, movie_genres, tags, train)
    train_cols, val_cols, test_cols = encode(train), encode(val), encode(test)
    global_mean = float(ratings["rating"][train].mean())
    load_seconds = time.perf_counter() - start
    log(f"loaded {len(ratings['rating'])} ratings in {load_seconds:.2f}s: train {len(train)}, "
        f"val {len(val)}, test {len(test)}; global mean {global_mean!r}; vocab sizes {sizes}")

    model = DNN(sizes, global_mean)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    make_batches = (dataloader_batches if args.loader == "dataloader"
                    else index_select_batches)(train_cols)

    train_seconds, train_samples = 0.0, 0
    best_rmse, best_epoch, best_state = math.inf, 0, None
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        loss, samples = train_epoch(model, optimizer, make_batches)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        train_samples += samples
        val_rmse = rmse(model, val_cols)
        if val_rmse < best_rmse:
            best_rmse, best_epoch = val_rmse, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log(f"epoch {epoch}: loss {loss:.4f} val_rmse {val_rmse:.4f} "
            f"{samples / seconds:.0f} samples/s ({seconds:.2f}s)")

    model.load_state_dict(best_state)
    result = {
        "loader": args.loader,
        "load_seconds": load_seconds,
        "train_samples_per_sec": train_samples / train_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "val_rmse": best_rmse,
        "test_rmse": rmse(model, test_cols),
        "epochs": args.epochs,
        "best_epoch": best_epoch,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
