// Vocabularies, padding, per-movie features and leak-free histories from the training split.
#include "data/features.h"

#include <algorithm>
#include <map>

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

HistoryMode resolve_history_mode(const std::string& history, const std::string& split) {
  return resolve_history(history, split) == "others" ? HistoryMode::kOthers : HistoryMode::kBefore;
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

int age_group(int age) {
  static constexpr int kGroups[] = {56, 50, 45, 35, 25, 18};
  if (age <= 0) return 0;
  for (int group : kGroups) {
    if (age >= group) return group;
  }
  return 1;
}

std::vector<std::string> user_tokens(const UserInfo& user, int zip_prefix) {
  std::vector<std::string> out;
  if (!user.gender.empty()) out.push_back("gender=" + user.gender);
  if (user.age > 0) out.push_back("age=" + std::to_string(age_group(user.age)));
  if (!user.occupation.empty()) out.push_back("occupation=" + user.occupation);
  if (zip_prefix > 0 && !user.zip.empty()) out.push_back("zip=" + user.zip.substr(0, zip_prefix));
  out.insert(out.end(), user.attributes.begin(), user.attributes.end());
  return out;
}

FeatureBuilder::FeatureBuilder(const FeaturesConfig& config, const std::string& split)
    : config_(config),
      history_mode_(resolve_history_mode(config.history, split)),
      padding_(parse_pad_side(config.padding)),
      truncating_(parse_pad_side(config.truncating)) {}

void FeatureBuilder::fit(const MovieLens& data, const std::vector<int64_t>& train_rows) {
  const Ratings& r = data.ratings;
  FeatureVocabs v;
  double sum = 0.0;
  int64_t newest = INT64_MIN;
  std::vector<char> is_train(r.size(), 0);
  for (int64_t row : train_rows) {
    v.users.add(r.user[row]);
    v.movies.add(r.movie[row]);
    sum += r.rating[row];
    newest = std::max(newest, r.timestamp[row]);
    is_train[row] = 1;
  }
  v.global_mean = train_rows.empty() ? 0.0 : sum / static_cast<double>(train_rows.size());
  // Genres of the movies seen in training, in first-seen order.
  for (int64_t raw : v.movies.keys()) {
    if (const Movie* movie = data.find_movie(raw)) {
      for (const auto& genre : movie->genres) v.genres.add(genre);
    }
  }
  // The description tokens of the users seen in training, in first-seen order.
  if (config_.user_features) {
    for (int64_t raw : v.users.keys()) {
      if (const UserInfo* user = data.find_user(raw)) {
        for (const auto& token : user_tokens(*user, config_.zip_prefix)) v.profile.add(token);
      }
    }
  }
  // A tag is a rating-like event: a tag whose (user, movie) pair is held out (rated in val or
  // test, and not in training) or that is newer than all training ratings would leak, so it
  // is not counted. Only the tagged pairs are looked up: tags are far fewer than ratings.
  enum : uint8_t { kInTrain = 1, kHeldOut = 2 };
  std::unordered_map<uint64_t, uint8_t> tagged;
  tagged.reserve(data.tags.size());
  for (const TagEvent& tag : data.tags) tagged.emplace(pair_key(tag.user, tag.movie), 0);
  for (size_t row = 0; row < r.size(); ++row) {
    auto it = tagged.find(pair_key(r.user[row], r.movie[row]));
    if (it != tagged.end()) it->second |= is_train[row] ? kInTrain : kHeldOut;
  }
  std::unordered_map<int64_t, std::map<std::string, int64_t>> counts;
  for (const TagEvent& tag : data.tags) {
    const uint8_t seen = tagged[pair_key(tag.user, tag.movie)];
    if (seen == kHeldOut || tag.timestamp > newest) continue;
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
  tables_ = std::make_shared<FeatureTables>();
  tables_->genre_len = config_.genre_len;
  tables_->tag_len = config_.tag_len;
  tables_->history_len = config_.history_len;
  tables_->padding = padding_;
  tables_->truncating = truncating_;
  build_item_tables(data);
  build_profile_tables(data);
  index_histories(data, train_rows);
}

void FeatureBuilder::build_profile_tables(const MovieLens& data) {
  FeatureTables& t = *tables_;
  // Descriptions are static metadata, like movies.csv: every described user gets theirs, a user
  // without training ratings too; the vocabulary is the training users' tokens.
  const bool used = config_.user_features && !vocabs_.profile.keys().empty();
  std::vector<std::vector<int64_t>> ids(data.users.size());
  size_t longest = 0;
  for (size_t i = 0; used && i < data.users.size(); ++i) {
    for (const auto& token : user_tokens(data.users[i], config_.zip_prefix)) {
      ids[i].push_back(vocabs_.profile.lookup(token));
    }
    longest = std::max(longest, ids[i].size());
  }
  t.profile_len = static_cast<int>(longest);
  t.profile.assign((data.users.size() + 1) * longest, Vocab<int64_t>::kPad);
  for (size_t i = 0; i < ids.size(); ++i) {
    pad_sequence(ids[i].data(), ids[i].size(), t.profile_len, padding_, truncating_,
                 t.profile.data() + (i + 1) * longest);
  }
}

void FeatureBuilder::build_item_tables(const MovieLens& data) {
  FeatureTables& t = *tables_;
  const size_t items = data.movies.size() + 1;
  t.year.assign(items, Vocab<int64_t>::kUnknown);
  t.genres.assign(items * config_.genre_len, Vocab<int64_t>::kPad);
  t.tags.assign(items * config_.tag_len, Vocab<int64_t>::kPad);
  std::vector<int64_t> ids;
  item_by_id_.clear();
  for (size_t i = 1; i < items; ++i) {
    const Movie& movie = data.movies[i - 1];
    if (movie.id >= 0 && movie.id < Vocab<int64_t>::kDirectLimit) {
      if (static_cast<size_t>(movie.id) >= item_by_id_.size()) item_by_id_.resize(movie.id + 1, 0);
      item_by_id_[movie.id] = static_cast<int32_t>(i);
    }
    // Genres and year are catalogue metadata (movies.csv), known even for movies that have no
    // training rating; their vocabulary is still the training one.
    ids.clear();
    for (const auto& genre : movie.genres) ids.push_back(vocabs_.genres.lookup(genre));
    pad_sequence(ids.data(), ids.size(), config_.genre_len, padding_, truncating_,
                 t.genres.data() + i * config_.genre_len);
    if (config_.use_year) t.year[i] = year_bucket(movie.year);
    auto it = vocabs_.movie_tags.find(movie.id);
    if (it != vocabs_.movie_tags.end()) {
      pad_sequence(it->second.data(), it->second.size(), config_.tag_len, padding_, truncating_,
                   t.tags.data() + i * config_.tag_len);
    }
  }
}

void FeatureBuilder::index_histories(const MovieLens& data,
                                     const std::vector<int64_t>& train_rows) {
  const Ratings& r = data.ratings;
  const int64_t users = vocabs_.users.size();
  // Counting sort by user (ascending rows: ties in time keep file order), then a stable sort
  // by time within each user.
  std::vector<int32_t> user_of(train_rows.size());
  std::vector<int64_t>& begin = tables_->history_begin;
  begin.assign(users + 1, 0);
  for (size_t i = 0; i < train_rows.size(); ++i) {
    user_of[i] = static_cast<int32_t>(vocabs_.users.lookup(r.user[train_rows[i]]));
    ++begin[user_of[i] + 1];
  }
  for (int64_t u = 0; u < users; ++u) begin[u + 1] += begin[u];
  std::vector<int64_t> rows(train_rows.size());
  std::vector<int64_t> next(begin.begin(), begin.end() - 1);
  for (size_t i = 0; i < train_rows.size(); ++i) rows[next[user_of[i]]++] = train_rows[i];
  tables_->history_movies.resize(rows.size());
  history_times_.resize(rows.size());
  history_rows_.resize(rows.size());
  for (int64_t u = 0; u < users; ++u) {
    auto first = rows.begin() + begin[u], last = rows.begin() + begin[u + 1];
    std::stable_sort(first, last,
                     [&](int64_t a, int64_t b) { return r.timestamp[a] < r.timestamp[b]; });
    for (int64_t k = begin[u]; k < begin[u + 1]; ++k) {
      history_times_[k] = r.timestamp[rows[k]];
      history_rows_[k] = rows[k];
      tables_->history_movies[k] = static_cast<int32_t>(vocabs_.movies.lookup(r.movie[rows[k]]));
    }
  }
}

void FeatureTables::history(int64_t user, int64_t count, int64_t exclude, int64_t* out) const {
  if (history_len <= 0) return;
  const bool skip = exclude >= 0 && exclude < count;
  const int64_t keep = std::min<int64_t>(count - (skip ? 1 : 0), history_len);
  // Keras: truncating "pre" keeps the newest events, "post" the oldest; padding "pre" puts
  // the values at the end.
  const int32_t* events = history_movies.data() + history_begin[user];
  const int64_t offset = padding == PadSide::kPre ? history_len - keep : 0;
  std::fill(out, out + history_len, Vocab<int64_t>::kPad);
  if (truncating == PadSide::kPre) {  // the newest `keep`, walking back from the last
    int64_t e = count - 1;
    for (int64_t i = keep - 1; i >= 0; --i, --e) {
      if (e == exclude) --e;
      out[offset + i] = events[e];
    }
  } else {  // the oldest `keep`
    int64_t e = 0;
    for (int64_t i = 0; i < keep; ++i, ++e) {
      if (e == exclude) ++e;
      out[offset + i] = events[e];
    }
  }
}

namespace {

// The fillers batch_columns() is made of, one per kind of column.

// One id per example, from a column of Columns.
template <std::vector<int32_t> Columns::*id>
void fill_example_id(const Columns& c, const int64_t* rows, int64_t n, int64_t* out) {
  const std::vector<int32_t>& ids = c.*id;
  for (int64_t i = 0; i < n; ++i) out[i] = ids[rows[i]];
}

// One id per example, from a per-item table of FeatureTables.
template <std::vector<int64_t> FeatureTables::*table>
void fill_item_id(const Columns& c, const int64_t* rows, int64_t n, int64_t* out) {
  const std::vector<int64_t>& ids = (*c.tables).*table;
  for (int64_t i = 0; i < n; ++i) out[i] = ids[c.item[rows[i]]];
}

template <int FeatureTables::*len>
int length_of(const FeatureTables& t) {
  return t.*len;
}

// A padded id sequence per example, from a per-item (or per-person) table of FeatureTables.
template <std::vector<int32_t> Columns::*row, std::vector<int64_t> FeatureTables::*table,
          int FeatureTables::*len>
void fill_sequence(const Columns& c, const int64_t* rows, int64_t n, int64_t* out) {
  const int64_t width = (*c.tables).*len;
  const int64_t* ids = ((*c.tables).*table).data();
  const std::vector<int32_t>& of = c.*row;
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(ids + int64_t{of[rows[i]]} * width, width, out + i * width);
  }
}

void fill_history(const Columns& c, const int64_t* rows, int64_t n, int64_t* out) {
  const FeatureTables& t = *c.tables;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = rows[i];
    t.history(c.user[r], c.history[r], c.exclude[r], out + i * t.history_len);
  }
}

}  // namespace

const std::vector<BatchColumn>& batch_columns() {
  using T = FeatureTables;
  using C = Columns;
  static const std::vector<BatchColumn> columns = {
      {"user", nullptr, fill_example_id<&C::user>},
      {"movie", nullptr, fill_example_id<&C::movie>},
      {"year", nullptr, fill_item_id<&T::year>},
      {"genres", length_of<&T::genre_len>, fill_sequence<&C::item, &T::genres, &T::genre_len>},
      {"tags", length_of<&T::tag_len>, fill_sequence<&C::item, &T::tags, &T::tag_len>},
      {"history", length_of<&T::history_len>, fill_history},
      {"profile", length_of<&T::profile_len>,
       fill_sequence<&C::person, &T::profile, &T::profile_len>},
  };
  return columns;
}

std::vector<int64_t> Columns::ids_of(const std::string& name, int64_t i) const {
  for (const BatchColumn& column : batch_columns()) {
    if (name != column.name) continue;
    std::vector<int64_t> out(column.length ? std::max(column.length(*tables), 0) : 1);
    column.fill(*this, &i, 1, out.data());
    return out;
  }
  throw Error("no batch column '" + name + "'");
}

std::vector<int64_t> Columns::genres_of(int64_t i) const { return ids_of("genres", i); }
std::vector<int64_t> Columns::tags_of(int64_t i) const { return ids_of("tags", i); }
std::vector<int64_t> Columns::history_of(int64_t i) const { return ids_of("history", i); }
int64_t Columns::year_of(int64_t i) const { return ids_of("year", i)[0]; }

const std::vector<NamedVocab<int64_t>>& id_vocabs() {
  static const std::vector<NamedVocab<int64_t>> vocabs = {{"users", &FeatureVocabs::users},
                                                          {"movies", &FeatureVocabs::movies}};
  return vocabs;
}

const std::vector<NamedVocab<std::string>>& string_vocabs() {
  static const std::vector<NamedVocab<std::string>> vocabs = {
      {"genres", &FeatureVocabs::genres},
      {"tags", &FeatureVocabs::tags},
      {"profile", &FeatureVocabs::profile, /*optional=*/true}};
  return vocabs;
}

Columns FeatureBuilder::allocate(int64_t rows) const {
  Columns c;
  c.rows = rows;
  c.user.resize(rows);
  c.movie.resize(rows);
  c.item.resize(rows);
  c.person.resize(rows);
  c.history.resize(rows);
  c.exclude.assign(rows, -1);
  c.rating.assign(rows, 0.0f);
  c.tables = tables_;
  return c;
}

int32_t FeatureBuilder::item_of(const MovieLens& data, int64_t raw_movie) const {
  if (raw_movie >= 0 && raw_movie < Vocab<int64_t>::kDirectLimit) {
    return static_cast<size_t>(raw_movie) < item_by_id_.size() ? item_by_id_[raw_movie] : 0;
  }
  auto it = data.movie_index.find(raw_movie);
  return it == data.movie_index.end() ? 0 : static_cast<int32_t>(it->second + 1);
}

int32_t FeatureBuilder::person_of(const MovieLens& data, int64_t raw_user) {
  const auto it = data.user_index.find(raw_user);
  return it == data.user_index.end() ? 0 : static_cast<int32_t>(it->second + 1);
}

int32_t FeatureBuilder::events_before(int64_t user_index, int64_t before) const {
  const auto first = history_times_.begin() + tables_->history_begin[user_index];
  const auto last = history_times_.begin() + tables_->history_begin[user_index + 1];
  // Events strictly earlier than `before`: never the rating itself nor anything at its time.
  return static_cast<int32_t>(std::lower_bound(first, last, before) - first);
}

int32_t FeatureBuilder::position_of(int64_t user_index, int64_t row, int64_t time) const {
  const int64_t begin = tables_->history_begin[user_index];
  const auto first = history_times_.begin() + begin;
  const auto last = history_times_.begin() + tables_->history_begin[user_index + 1];
  // Among the user's events at this very time (usually one), the one of this row.
  for (auto it = std::lower_bound(first, last, time); it != last && *it == time; ++it) {
    const int64_t k = it - history_times_.begin();
    if (history_rows_[k] == row) return static_cast<int32_t>(k - begin);
  }
  return -1;
}

Columns FeatureBuilder::transform_train(const MovieLens& data,
                                        const std::vector<int64_t>& rows) const {
  const Ratings& r = data.ratings;
  Columns out = allocate(static_cast<int64_t>(rows.size()));
  const bool others = history_mode_ == HistoryMode::kOthers;
  // Rows are independent and only read the builder: one static share per thread.
#pragma omp parallel for schedule(static) if (out.rows >= 16384)
  for (int64_t i = 0; i < out.rows; ++i) {
    const int64_t row = rows[i];
    const int64_t user = vocabs_.users.lookup(r.user[row]);
    out.user[i] = static_cast<int32_t>(user);
    out.movie[i] = static_cast<int32_t>(vocabs_.movies.lookup(r.movie[row]));
    out.item[i] = item_of(data, r.movie[row]);
    out.person[i] = person_of(data, r.user[row]);
    if (others) {  // every training event of the user but the example itself
      out.history[i] =
          static_cast<int32_t>(tables_->history_begin[user + 1] - tables_->history_begin[user]);
      out.exclude[i] = position_of(user, row, r.timestamp[row]);
    } else {
      out.history[i] = events_before(user, r.timestamp[row]);
    }
    out.rating[i] = r.rating[row];
  }
  if (others) {
    for (int64_t i = 0; i < out.rows; ++i) {
      if (out.exclude[i] < 0) {
        throw Error("transform_train: rating row " + std::to_string(rows[i]) +
                    " is not one of the training rows the features were fitted on");
      }
    }
  }
  return out;
}

Columns FeatureBuilder::transform(const MovieLens& data, const std::vector<int64_t>& rows) const {
  const Ratings& r = data.ratings;
  std::vector<int64_t> users(rows.size()), movies(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    users[i] = r.user[rows[i]];
    movies[i] = r.movie[rows[i]];
  }
  Columns out = transform_pairs(data, users, movies);
  for (size_t i = 0; i < rows.size(); ++i) out.rating[i] = r.rating[rows[i]];
  return out;
}

Columns FeatureBuilder::transform_pairs(const MovieLens& data, const std::vector<int64_t>& users,
                                        const std::vector<int64_t>& movies) const {
  if (users.size() != movies.size()) throw Error("transform_pairs: users and movies differ");
  Columns out = allocate(static_cast<int64_t>(users.size()));
  for (int64_t i = 0; i < out.rows; ++i) {
    const int64_t user = vocabs_.users.lookup(users[i]);
    out.user[i] = static_cast<int32_t>(user);
    out.movie[i] = static_cast<int32_t>(vocabs_.movies.lookup(movies[i]));
    out.item[i] = item_of(data, movies[i]);
    out.person[i] = person_of(data, users[i]);
    out.history[i] = events_before(user, INT64_MAX);
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
  s.n_profile = vocabs_.profile.size();
  s.use_profile = config_.user_features && !vocabs_.profile.keys().empty();
  s.global_mean = vocabs_.global_mean;
  s.min_rating = data_config.min_rating;
  s.max_rating = data_config.max_rating;
  return s;
}

}  // namespace dnnrec
