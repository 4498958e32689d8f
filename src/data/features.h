// Features: id vocabularies (0 = padding, 1 = unknown), Keras-style pad_sequences, per-movie
// genre / tag / year features and leak-free user histories, all built from the training split.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "data/movielens.h"
#include "dnnrec/config.h"

namespace dnnrec {

/// Which end pad_sequences pads or truncates (Keras: "pre" | "post").
enum class PadSide { kPre, kPost };

/// Parses "pre" | "post"; throws ConfigError otherwise.
PadSide parse_pad_side(const std::string& name);

/// The history of a training example (features.history): the user's other training ratings,
/// or the ones before it. Evaluated and served examples always get the user's latest ones.
enum class HistoryMode { kOthers, kBefore };

/// Resolves features.history ("auto" by the split) and refuses "before" with the random split;
/// throws ConfigError.
HistoryMode resolve_history_mode(const std::string& history, const std::string& split);

/// Keras pad_sequences for one sequence: writes exactly maxlen values into out.
void pad_sequence(const int64_t* seq, size_t length, int maxlen, PadSide padding,
                  PadSide truncating, int64_t* out, int64_t value = 0);

/// Keras pad_sequences: a row-major [seqs.size(), maxlen] matrix.
std::vector<int64_t> pad_sequences(const std::vector<std::vector<int64_t>>& seqs, int maxlen,
                                   PadSide padding = PadSide::kPre,
                                   PadSide truncating = PadSide::kPre, int64_t value = 0);

/// Maps raw keys to dense indices starting at 2; 0 is padding, 1 is unknown. Integer keys
/// below kDirectLimit (every MovieLens id) are found by direct indexing rather than hashing:
/// featurising looks up several keys per rating.
template <class Key>
class Vocab {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kUnknown = 1;
  static constexpr int64_t kDirectLimit = int64_t{1} << 24;

  /// The index of key, adding it when new.
  int64_t add(const Key& key) {
    if constexpr (std::is_integral_v<Key>) {
      if (key >= 0 && key < kDirectLimit) {
        if (static_cast<size_t>(key) >= direct_.size()) direct_.resize(key + 1, 0);
        int32_t& slot = direct_[key];
        if (slot == 0) {
          keys_.push_back(key);
          slot = static_cast<int32_t>(keys_.size()) + 1;
        }
        return slot;
      }
    }
    auto [it, inserted] = index_.emplace(key, static_cast<int64_t>(keys_.size()) + 2);
    if (inserted) keys_.push_back(key);
    return it->second;
  }
  /// The index of key, or kUnknown.
  int64_t lookup(const Key& key) const {
    if constexpr (std::is_integral_v<Key>) {
      if (key >= 0 && key < kDirectLimit) {
        const int32_t slot = static_cast<size_t>(key) < direct_.size() ? direct_[key] : 0;
        return slot == 0 ? kUnknown : slot;
      }
    }
    auto it = index_.find(key);
    return it == index_.end() ? kUnknown : it->second;
  }
  /// Number of rows an embedding table needs (keys + padding + unknown).
  int64_t size() const { return static_cast<int64_t>(keys_.size()) + 2; }
  /// keys()[i] has index i + 2.
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
  std::unordered_map<Key, int64_t> index_;
  std::vector<int32_t> direct_;  ///< integer key -> index, 0 when absent
};

/// Sizes a model needs to build its tables.
struct FeatureSpec {
  int64_t n_users = 2;
  int64_t n_movies = 2;
  int64_t n_genres = 2;
  int64_t n_tags = 2;
  int64_t n_years = 2;
  int genre_len = 0;
  int tag_len = 0;
  int history_len = 0;
  bool use_year = true;      ///< features.use_year: models embed the year bucket
  int64_t n_profile = 2;     ///< user-description tokens (FeatureVocabs::profile)
  bool use_profile = false;  ///< features.user_features, and the data describes its users
  double global_mean = 0.0;  ///< mean training rating
  double min_rating = 0.5;
  double max_rating = 5.0;
};

/// Everything learned from the training split that a checkpoint must carry.
struct FeatureVocabs {
  Vocab<int64_t> users;
  Vocab<int64_t> movies;
  Vocab<std::string> genres;
  Vocab<std::string> tags;
  /// The tokens of the training users' descriptions ("gender=F", "age=25", ...: user_tokens).
  Vocab<std::string> profile;
  /// raw movieId -> its most frequent training tags (tag indices, most frequent first).
  std::unordered_map<int64_t, std::vector<int64_t>> movie_tags;
  double global_mean = 0.0;
};

/// A vocabulary of FeatureVocabs by the name a checkpoint stores it under ("vocab_" + name).
template <class Key>
struct NamedVocab {
  const char* name;
  Vocab<Key> FeatureVocabs::*vocab;
  bool optional = false;  ///< absent from older checkpoints: read as empty
};
/// The vocabularies of integer ids (users, movies) and of strings (genres, tags, profile), in the
/// order checkpoints store them: code that saves and restores vocabularies by walking these needs
/// no change when a vocabulary is added.
const std::vector<NamedVocab<int64_t>>& id_vocabs();
const std::vector<NamedVocab<std::string>>& string_vocabs();

/// Per-movie features and the users' training histories: what the genres, tags, year and
/// history of every example are read from when its batch is assembled. Shared by the splits,
/// so an example costs a few bytes rather than one id per sequence position.
struct FeatureTables {
  int genre_len = 0;
  int tag_len = 0;
  int history_len = 0;
  PadSide padding = PadSide::kPre;
  PadSide truncating = PadSide::kPre;
  /// Indexed by item: 1 + position in movies.csv, 0 for a movie that is not in it.
  std::vector<int64_t> year;    ///< [items] year bucket, 1 when unknown
  std::vector<int64_t> genres;  ///< [items * genre_len], padded
  std::vector<int64_t> tags;    ///< [items * tag_len], padded
  /// Indexed by person: 1 + position in MovieLens::users, 0 for a user it does not describe.
  int profile_len = 0;           ///< tokens of the longest description (0: none used)
  std::vector<int64_t> profile;  ///< [persons * profile_len], padded
  /// Every user's training movies (vocabulary indices) in time order, user after user: user
  /// u's are [history_begin[u], history_begin[u + 1]).
  std::vector<int32_t> history_movies;
  std::vector<int64_t> history_begin;  ///< [users + 1]

  /// Writes the padded history of `user` made of its first `count` training events, leaving
  /// out the event at position `exclude` (-1: none).
  void history(int64_t user, int64_t count, int64_t exclude, int64_t* out) const;
};

/// A block of examples as compact columns; features are assembled from `tables`.
struct Columns {
  int64_t rows = 0;
  std::vector<int32_t> user;    ///< [rows] vocabulary index
  std::vector<int32_t> movie;   ///< [rows] vocabulary index
  std::vector<int32_t> item;    ///< [rows] row of FeatureTables (genres, tags, year)
  std::vector<int32_t> person;  ///< [rows] row of FeatureTables' profiles
  /// [rows] the history is made of the user's first history[i] training events in time order
  /// (all of them for evaluated and served examples) ...
  std::vector<int32_t> history;
  /// [rows] ... less the one at this position: the example itself under HistoryMode::kOthers;
  /// -1 for none.
  std::vector<int32_t> exclude;
  std::vector<float> rating;  ///< [rows], 0 where unknown (prediction)
  std::shared_ptr<const FeatureTables> tables;

  /// The ids of example i in the batch column `name` of batch_columns(), as its batch holds
  /// them (one id, or the padded sequence); throws Error for an unknown name.
  std::vector<int64_t> ids_of(const std::string& name, int64_t i) const;
  /// The features of example i, padded: genres, tags, history, and the year bucket.
  std::vector<int64_t> genres_of(int64_t i) const;
  std::vector<int64_t> tags_of(int64_t i) const;
  std::vector<int64_t> history_of(int64_t i) const;
  int64_t year_of(int64_t i) const;
};

/// One id column of a batch: a row of batch_columns(). TensorData assembles a batch by
/// filling every row's column, so a new feature column is a row there plus what fills it.
struct BatchColumn {
  const char* name;  ///< Batch::column(name)
  /// Ids per example of a [B, length] column; nullptr for a [B] column of one id per example.
  int (*length)(const FeatureTables& tables);
  /// Writes the ids of the examples at rows[0..n) of `columns` to out, example after example.
  void (*fill)(const Columns& columns, const int64_t* rows, int64_t n, int64_t* out);
};

/// Every id column of a batch, in the order they are assembled: user, movie, year, genres,
/// tags, history, profile.
const std::vector<BatchColumn>& batch_columns();

/// Number of year buckets: 5-year buckets from 1900 to 2029, plus padding and unknown.
constexpr int64_t kYearBuckets = 2 + 26;
/// The bucket index of a release year (0 = unknown year gives kUnknown).
int64_t year_bucket(int year);

/// ml-1m's age group of an age in years (its lower bound: 1, 18, 25, 35, 45, 50, 56); an ml-1m
/// group maps to itself, 0 (unknown) to 0.
int age_group(int age);
/// The tokens a user's description contributes to the profile field: "gender=F", "age=25" (the
/// age group), "occupation=writer", "zip=55" (the first zip_prefix characters; none when 0),
/// each only when known; then a log's user attributes ("country=FR", ...).
std::vector<std::string> user_tokens(const UserInfo& user, int zip_prefix);

/// Builds every feature from the training rows only, then encodes any rows or pairs.
class FeatureBuilder {
 public:
  /// `split` (data.split) resolves features.history; throws ConfigError for a skewing pair.
  FeatureBuilder(const FeaturesConfig& config, const std::string& split);

  /// Learns vocabularies, tag counts and user histories from the training rows only. Tags
  /// count only when their (user, movie) pair is not held out and they are not newer than
  /// the newest training rating.
  void fit(const MovieLens& data, const std::vector<int64_t>& train_rows);
  /// Takes saved vocabularies (from a checkpoint) and rebuilds user histories from the
  /// training rows.
  void restore(FeatureVocabs vocabs, const MovieLens& data, const std::vector<int64_t>& train_rows);

  /// Encodes training rows (rows given to fit()); the history of a row is, by the history
  /// mode, the user's other training ratings or those strictly earlier than it, the last
  /// history_len of them.
  Columns transform_train(const MovieLens& data, const std::vector<int64_t>& rows) const;
  /// Encodes held-out rows exactly as transform_pairs serves their (user, movie) pairs, with
  /// their ratings as targets: evaluation scores what predict and recommend return.
  Columns transform(const MovieLens& data, const std::vector<int64_t>& rows) const;
  /// Encodes (raw user, raw movie) pairs; the history is the user's last training ratings.
  Columns transform_pairs(const MovieLens& data, const std::vector<int64_t>& users,
                          const std::vector<int64_t>& movies) const;
  HistoryMode history_mode() const { return history_mode_; }

  FeatureSpec spec(const DataConfig& data_config) const;
  const FeatureVocabs& vocabs() const { return vocabs_; }
  const FeaturesConfig& config() const { return config_; }

 private:
  void index_histories(const MovieLens& data, const std::vector<int64_t>& train_rows);
  void build_item_tables(const MovieLens& data);
  void build_profile_tables(const MovieLens& data);
  /// Number of the user's training events strictly earlier than `before`.
  int32_t events_before(int64_t user_index, int64_t before) const;
  /// Position among the user's training events of training row `row` (timestamp `time`).
  int32_t position_of(int64_t user_index, int64_t row, int64_t time) const;
  Columns allocate(int64_t rows) const;

  FeaturesConfig config_;
  HistoryMode history_mode_;
  PadSide padding_;
  PadSide truncating_;
  FeatureVocabs vocabs_;
  std::shared_ptr<FeatureTables> tables_;
  /// Raw movie id -> item (1 + position in movies.csv) for ids below Vocab's direct limit.
  std::vector<int32_t> item_by_id_;
  /// The FeatureTables row of a raw movie id: 0 when it is not in movies.csv.
  int32_t item_of(const MovieLens& data, int64_t raw_movie) const;
  /// The FeatureTables profile row of a raw user id: 0 when the data does not describe it.
  static int32_t person_of(const MovieLens& data, int64_t raw_user);
  /// Timestamps and rows of tables_->history_movies, for finding the events before an example
  /// and a training example's own event.
  std::vector<int64_t> history_times_;
  std::vector<int64_t> history_rows_;
};

}  // namespace dnnrec
