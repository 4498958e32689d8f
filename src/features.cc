// Vocabularies, padding, per-movie features and leak-free histories from the training split.
#include "dnnrec/features.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "dnnrec/error.h"

namespace dnnrec {
namespace {

uint64_t pair_key(int64_t user, int64_t movie) {
  return (static_cast<uint64_t>(user) << 32) ^ static_cast<uint64_t>(movie);
}

}  // namespace

PadSide parse_pad_side(const std::string& name) {
  if (name == "pre") return PadSide::kPre;
  if (name == "post") return PadSide::kPost;
  throw ConfigError("padding/truncating must be 'pre' or 'post', got '" + name + "'");
}

void pad_sequence(const int64_t* seq, size_t length, int maxlen, PadSide padding,
                  PadSide truncating, int64_t* out, int64_t value) {
  if (maxlen <= 0) return;
  const size_t keep = std::min(length, static_cast<size_t>(maxlen));
  // Keras: truncating "pre" drops the oldest values (keeps the tail), "post" keeps the head.
  const int64_t* begin = truncating == PadSide::kPre ? seq + (length - keep) : seq;
  // Keras: padding "pre" puts the values at the end, "post" at the start.
  const size_t offset = padding == PadSide::kPre ? maxlen - keep : 0;
  std::fill(out, out + maxlen, value);
  std::copy(begin, begin + keep, out + offset);
}

std::vector<int64_t> pad_sequences(const std::vector<std::vector<int64_t>>& seqs, int maxlen,
                                   PadSide padding, PadSide truncating, int64_t value) {
  const size_t width = std::max(maxlen, 0);
  std::vector<int64_t> out(seqs.size() * width, value);
  for (size_t i = 0; i < seqs.size(); ++i) {
    pad_sequence(seqs[i].data(), seqs[i].size(), maxlen, padding, truncating,
                 out.data() + i * width, value);
  }
  return out;
}

int64_t year_bucket(int year) {
  if (year <= 0) return Vocab<int64_t>::kUnknown;
  return 2 + std::clamp<int64_t>((year - 1900) / 5, 0, kYearBuckets - 3);
}

FeatureBuilder::FeatureBuilder(const FeaturesConfig& config)
    : config_(config),
      padding_(parse_pad_side(config.padding)),
      truncating_(parse_pad_side(config.truncating)) {}

void FeatureBuilder::fit(const MovieLens& data, const std::vector<int64_t>& train_rows) {
  const Ratings& r = data.ratings;
  FeatureVocabs v;
  double sum = 0.0;
  int64_t newest = INT64_MIN;
  std::unordered_set<uint64_t> train_pairs;
  train_pairs.reserve(train_rows.size() * 2);
  for (int64_t row : train_rows) {
    v.users.add(r.user[row]);
    v.movies.add(r.movie[row]);
    sum += r.rating[row];
    newest = std::max(newest, r.timestamp[row]);
    train_pairs.insert(pair_key(r.user[row], r.movie[row]));
  }
  v.global_mean = train_rows.empty() ? 0.0 : sum / static_cast<double>(train_rows.size());
  // Genres of the movies seen in training, in first-seen order.
  for (int64_t raw : v.movies.keys()) {
    if (const Movie* movie = data.find_movie(raw)) {
      for (const auto& genre : movie->genres) v.genres.add(genre);
    }
  }
  // A tag is a rating-like event: a tag whose (user, movie) pair is held out (rated in val or
  // test) or that is newer than all training ratings would leak, so it is not counted.
  std::unordered_set<uint64_t> held_out;
  for (size_t row = 0; row < r.size(); ++row) {
    const uint64_t key = pair_key(r.user[row], r.movie[row]);
    if (!train_pairs.count(key)) held_out.insert(key);
  }
  std::unordered_map<int64_t, std::map<std::string, int64_t>> counts;
  for (const TagEvent& tag : data.tags) {
    if (held_out.count(pair_key(tag.user, tag.movie)) || tag.timestamp > newest) continue;
    ++counts[tag.movie][tag.tag];
  }
  // Tags are indexed in order of movie id then tag text so the vocabulary is deterministic.
  std::vector<int64_t> tagged_movies;
  tagged_movies.reserve(counts.size());
  for (const auto& entry : counts) tagged_movies.push_back(entry.first);
  std::sort(tagged_movies.begin(), tagged_movies.end());
  for (int64_t movie : tagged_movies) {
    std::vector<std::pair<int64_t, std::string>> ranked;
    for (const auto& [tag, count] : counts[movie]) ranked.emplace_back(-count, tag);
    std::sort(ranked.begin(), ranked.end());  // most frequent first, ties by text
    if (static_cast<int>(ranked.size()) > config_.tag_len) ranked.resize(config_.tag_len);
    auto& list = v.movie_tags[movie];
    for (const auto& entry : ranked) list.push_back(v.tags.add(entry.second));
  }
  restore(std::move(v), data, train_rows);
}

void FeatureBuilder::restore(FeatureVocabs vocabs, const MovieLens& data,
                             const std::vector<int64_t>& train_rows) {
  vocabs_ = std::move(vocabs);
  index_histories(data, train_rows);
}

void FeatureBuilder::index_histories(const MovieLens& data,
                                     const std::vector<int64_t>& train_rows) {
  const Ratings& r = data.ratings;
  histories_.assign(vocabs_.users.size(), {});
  for (int64_t row : train_rows) {  // ascending rows: ties in time keep file order
    const int64_t user = vocabs_.users.lookup(r.user[row]);
    if (user == Vocab<int64_t>::kUnknown) continue;
    histories_[user].push_back({r.timestamp[row], vocabs_.movies.lookup(r.movie[row])});
  }
  for (auto& events : histories_) {
    std::stable_sort(
        events.begin(), events.end(),
        [](const HistoryEvent& a, const HistoryEvent& b) { return a.timestamp < b.timestamp; });
  }
}

Columns FeatureBuilder::allocate(int64_t rows) const {
  Columns c;
  c.rows = rows;
  c.user.resize(rows);
  c.movie.resize(rows);
  c.year.resize(rows);
  c.genres.resize(rows * config_.genre_len);
  c.tags.resize(rows * config_.tag_len);
  c.history.resize(rows * config_.history_len);
  c.rating.assign(rows, 0.0f);
  return c;
}

void FeatureBuilder::encode_movie(const MovieLens& data, int64_t raw_movie, Columns& out,
                                  int64_t row) const {
  out.movie[row] = vocabs_.movies.lookup(raw_movie);
  // Genres and year are catalogue metadata (movies.csv), known even for movies that have no
  // training rating; their vocabulary is still the training one.
  const Movie* movie = data.find_movie(raw_movie);
  std::vector<int64_t> ids;
  if (movie) {
    for (const auto& genre : movie->genres) ids.push_back(vocabs_.genres.lookup(genre));
  }
  pad_sequence(ids.data(), ids.size(), config_.genre_len, padding_, truncating_,
               out.genres.data() + row * config_.genre_len);
  out.year[row] = config_.use_year && movie ? year_bucket(movie->year) : Vocab<int64_t>::kUnknown;
  auto it = vocabs_.movie_tags.find(raw_movie);
  const int64_t* tags = it == vocabs_.movie_tags.end() ? nullptr : it->second.data();
  const size_t n_tags = it == vocabs_.movie_tags.end() ? 0 : it->second.size();
  pad_sequence(tags, n_tags, config_.tag_len, padding_, truncating_,
               out.tags.data() + row * config_.tag_len);
}

void FeatureBuilder::encode_history(int64_t user_index, int64_t before, Columns& out,
                                    int64_t row) const {
  int64_t* dest = out.history.data() + row * config_.history_len;
  if (config_.history_len <= 0) return;
  const auto& events = histories_[user_index];
  // Events strictly earlier than `before`: never the rating itself nor anything at its time.
  auto end = std::lower_bound(events.begin(), events.end(), before,
                              [](const HistoryEvent& e, int64_t t) { return e.timestamp < t; });
  const size_t count = static_cast<size_t>(end - events.begin());
  const size_t keep = std::min<size_t>(count, config_.history_len);
  int64_t ids[1024];
  std::vector<int64_t> big;
  int64_t* buffer = ids;
  if (keep > 1024) {
    big.resize(keep);
    buffer = big.data();
  }
  // Only the last `keep` events can survive "pre" truncation; "post" keeps the oldest.
  const size_t first = truncating_ == PadSide::kPre ? count - keep : 0;
  for (size_t i = 0; i < keep; ++i) buffer[i] = events[first + i].movie;
  pad_sequence(buffer, keep, config_.history_len, padding_, truncating_, dest);
}

Columns FeatureBuilder::transform(const MovieLens& data, const std::vector<int64_t>& rows) const {
  const Ratings& r = data.ratings;
  Columns out = allocate(static_cast<int64_t>(rows.size()));
  for (int64_t i = 0; i < out.rows; ++i) {
    const int64_t row = rows[i];
    const int64_t user = vocabs_.users.lookup(r.user[row]);
    out.user[i] = user;
    out.rating[i] = r.rating[row];
    encode_movie(data, r.movie[row], out, i);
    encode_history(user, r.timestamp[row], out, i);
  }
  return out;
}

Columns FeatureBuilder::transform_pairs(const MovieLens& data, const std::vector<int64_t>& users,
                                        const std::vector<int64_t>& movies) const {
  if (users.size() != movies.size()) throw Error("transform_pairs: users and movies differ");
  Columns out = allocate(static_cast<int64_t>(users.size()));
  for (int64_t i = 0; i < out.rows; ++i) {
    const int64_t user = vocabs_.users.lookup(users[i]);
    out.user[i] = user;
    encode_movie(data, movies[i], out, i);
    encode_history(user, INT64_MAX, out, i);
  }
  return out;
}

FeatureSpec FeatureBuilder::spec(const DataConfig& data_config) const {
  FeatureSpec s;
  s.n_users = vocabs_.users.size();
  s.n_movies = vocabs_.movies.size();
  s.n_genres = vocabs_.genres.size();
  s.n_tags = vocabs_.tags.size();
  s.n_years = kYearBuckets;
  s.genre_len = config_.genre_len;
  s.tag_len = config_.tag_len;
  s.history_len = config_.history_len;
  s.use_year = config_.use_year;
  s.global_mean = vocabs_.global_mean;
  s.min_rating = data_config.min_rating;
  s.max_rating = data_config.max_rating;
  return s;
}

}  // namespace dnnrec
