// The synthetic MovieLens folder: a hidden world of latent factors and biases, drawn from one
// seed, written as movies.csv, ratings.csv, tags.csv and links.csv. Integer arithmetic only, so
// that a seed gives the same bytes on every platform and compiler (no libm, no std::
// distributions, no FMA contraction).
#include "data/sample.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/random.h"
#include "data/movielens.h"
#include "data/movielens_formats.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;

/// Draws rank k in [0, n) with probability proportional to 1 / (k + offset).
class Zipf {
 public:
  Zipf(size_t n, uint64_t offset) {
    cumulative_.reserve(n);
    uint64_t total = 0;
    for (size_t k = 0; k < n; ++k) {
      total += (uint64_t{1} << 32) / (k + offset);
      cumulative_.push_back(total);
    }
  }
  size_t sample(SplitMix64& rng) const {
    const uint64_t r = rng.below(cumulative_.back());
    return static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), r) -
                               cumulative_.begin());
  }
  uint64_t weight(size_t k) const { return cumulative_[k] - (k ? cumulative_[k - 1] : 0); }
  uint64_t total() const { return cumulative_.back(); }

 private:
  std::vector<uint64_t> cumulative_;
};

template <typename T>
void shuffle(std::vector<T>& items, SplitMix64& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void write_text(const fs::path& path, const std::string& text) {
  fs::path temp = path;
  temp += ".tmp";
  FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    throw Error("cannot write " + temp.string() + ": " + std::strerror(errno));
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int write_errno = errno;
  ok = std::fclose(file) == 0 && ok;
  if (!ok) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error("cannot write " + temp.string() + ": " + std::strerror(write_errno));
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec)
    throw Error("cannot rename " + temp.string() + " to " + path.string() + ": " + ec.message());
}

constexpr int kFactors = 4;
constexpr int64_t kFirstTime = 946684800;   // 2000-01-01
constexpr int64_t kLastStart = 1514764800;  // 2018-01-01: leaves room for a user's history
constexpr int64_t kLastTime = 1609459199;   // 2020-12-31

constexpr std::array<const char*, 19> kGenres = {
    "Action", "Adventure", "Animation", "Children", "Comedy",  "Crime",   "Documentary",
    "Drama",  "Fantasy",   "Film-Noir", "Horror",   "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller",  "War",       "Western",  "IMAX"};
// The first genre of a movie comes from the group of its strongest latent factor, so genres
// carry some of the signal the ratings do.
constexpr std::array<std::array<int, 5>, kFactors> kGenreGroups = {{
    {0, 1, 14, 15, 16},  // Action Adventure Sci-Fi Thriller War
    {2, 3, 4, 11, 13},   // Animation Children Comedy Musical Romance
    {5, 6, 7, 9, 17},    // Crime Documentary Drama Film-Noir Western
    {8, 10, 12, 18, 7},  // Fantasy Horror Mystery IMAX Drama
}};

// Mixed case, surrounding spaces and a comma exercise normalize_tag and CSV quoting.
// clang-format off
constexpr std::array<const char*, 50> kTagWords = {
    "funny", "atmospheric", "Twist Ending", "sci-fi", " dark comedy ", "thought-provoking", "Funny",
    "visually appealing", "classic", "BORING", "quirky, dark", "based on a book", "action",
    "romance", "predictable", "cult film", "Great Soundtrack", "slow", "violent", "dialogue",
    "cinematography", "philosophical", "surreal", "feel-good", "nostalgic", "overrated",
    "underrated", "  Beautiful", "dystopia", "time travel", "space", "animation", "Pixar", "Disney",
    "superhero", "psychology", "Stylized", "dark", "heartwarming", "family", "war", "history",
    "true story", "musical", "zombies", "remake ", "Atmospheric", "twist ending", "Classic",
    "great soundtrack",
};
// clang-format on

// The hidden truth behind a synthetic folder; biases and factors in thousandths of a star.
struct SampleWorld {
  std::vector<int64_t> movie_id;  // increasing, with gaps as in MovieLens
  std::vector<std::array<int64_t, kFactors>> movie_factor;
  std::vector<int64_t> movie_bias;
  std::vector<std::array<int64_t, kFactors>> user_factor;
  std::vector<int64_t> user_bias;
};

struct SampleRating {
  int64_t user_id;
  int64_t movie_id;
  int half_stars;  // 1..10
  int64_t timestamp;
};

SampleWorld make_world(int64_t users, int64_t movies, SplitMix64& rng) {
  SampleWorld world;
  world.movie_id.resize(movies);
  world.movie_factor.resize(movies);
  world.movie_bias.resize(movies);
  for (int64_t m = 0, id = 0; m < movies; ++m) {
    id += 1 + (rng.below(4) == 0 ? static_cast<int64_t>(rng.below(5)) : 0);
    world.movie_id[m] = id;
    for (auto& q : world.movie_factor[m]) q = rng.between(-1000, 1000);
    world.movie_bias[m] = rng.between(-700, 700);
  }
  world.user_factor.resize(users);
  world.user_bias.resize(users);
  for (int64_t u = 0; u < users; ++u) {
    for (auto& p : world.user_factor[u]) p = rng.between(-1000, 1000);
    world.user_bias[u] = rng.between(-500, 500);
  }
  return world;
}

// Titles with a year, some "..., The (1997)" (quoted in the CSV), a few with quotes, a year
// range or no year; 1-3 genres, a few "(no genres listed)".
std::string movies_csv(const SampleWorld& world, SplitMix64& rng) {
  std::string text = "movieId,title,genres\n";
  text.reserve(world.movie_id.size() * 64);
  for (size_t m = 0; m < world.movie_id.size(); ++m) {
    const std::string number = std::to_string(world.movie_id[m]);
    const int64_t year = 2019 - std::min(rng.between(0, 99), rng.between(0, 99));
    const uint64_t kind = rng.below(100);
    std::string title;
    if (kind < 6) {
      title = "Synthetic Movie " + number + ", The (" + std::to_string(year) + ")";
    } else if (kind < 9) {
      title = "Synthetic Movie " + number;
    } else if (kind < 11) {
      title = "Synthetic Series " + number + " (" + std::to_string(year) + "-" +
              std::to_string(std::min<int64_t>(year + 1, 2020)) + ")";
    } else if (kind < 13) {
      title = "Synthetic \"Movie\" " + number + " (" + std::to_string(year) + ")";
    } else {
      title = "Synthetic Movie " + number + " (" + std::to_string(year) + ")";
    }
    std::string genres;
    if (rng.below(50) == 0) {
      genres = kNoGenres;
    } else {
      const auto& factor = world.movie_factor[m];
      const auto strongest = std::max_element(factor.begin(), factor.end()) - factor.begin();
      std::vector<int> picked = {kGenreGroups[strongest][rng.below(5)]};
      const uint64_t extra = rng.below(3);
      for (uint64_t i = 0; i < extra; ++i) {
        const int g = static_cast<int>(rng.below(kGenres.size()));
        if (std::find(picked.begin(), picked.end(), g) == picked.end()) picked.push_back(g);
      }
      for (size_t i = 0; i < picked.size(); ++i) {
        genres += (i ? "|" : "") + std::string(kGenres[picked[i]]);
      }
    }
    text += number;
    text += ',';
    append_csv_field(text, title);
    text += ',';
    append_csv_field(text, genres);
    text += '\n';
  }
  return text;
}

// Ratings per user: 5 each, the rest by a power law over a random ranking of users, at most
// one per movie; `total` ratings in all (5 * users <= total <= users * movies).
std::vector<int64_t> rating_counts(int64_t users, int64_t movies, int64_t total, SplitMix64& rng) {
  std::vector<int64_t> count(users, 5);
  std::vector<int64_t> by_activity(users);
  std::iota(by_activity.begin(), by_activity.end(), 0);
  shuffle(by_activity, rng);
  const Zipf activity(static_cast<size_t>(users), 10);
  const int64_t extra = total - 5 * users;
  // Weights are below 2^29 and extra below 2^30, so the product fits in 64 bits.
  int64_t left = extra;
  for (int64_t r = 0; r < users; ++r) {
    const int64_t u = by_activity[r];
    const int64_t share =
        static_cast<int64_t>(static_cast<uint64_t>(extra) * activity.weight(r) / activity.total());
    const int64_t add = std::min({share, movies - count[u], left});
    count[u] += add;
    left -= add;
  }
  // Rounding and the per-user cap leave some over: spread it in passes over users with room.
  while (left > 0) {
    int64_t with_room = 0;
    for (int64_t u = 0; u < users; ++u) with_room += count[u] < movies;
    const int64_t step = std::max<int64_t>(1, left / std::max<int64_t>(1, with_room));
    for (int64_t r = 0; r < users && left > 0; ++r) {
      const int64_t u = by_activity[r];
      const int64_t add = std::min({step, movies - count[u], left});
      count[u] += add;
      left -= add;
    }
  }
  return count;
}

// Each user's movies drawn by popularity (a power law over a random ranking of movies), rated
// from the latent factors plus noise, in sessions over the years; listed by user, then movie.
std::vector<SampleRating> sample_ratings(const SampleWorld& world,
                                         const std::vector<int64_t>& count, SplitMix64& rng) {
  const int64_t movies = static_cast<int64_t>(world.movie_id.size());
  std::vector<int64_t> by_popularity(movies);
  std::iota(by_popularity.begin(), by_popularity.end(), 0);
  shuffle(by_popularity, rng);
  const Zipf popularity(static_cast<size_t>(movies), 3);

  std::vector<SampleRating> rows;
  rows.reserve(static_cast<size_t>(std::accumulate(count.begin(), count.end(), int64_t{0})));
  std::vector<int64_t> taken(movies, -1);  // the last user who took each movie
  std::vector<int64_t> chosen;
  for (int64_t u = 0; u < static_cast<int64_t>(count.size()); ++u) {
    const size_t want = static_cast<size_t>(count[u]);
    chosen.clear();
    // A heavy user may exhaust the popular movies: after enough misses the rest is filled in
    // popularity order.
    for (size_t attempts = 0; chosen.size() < want && attempts < 30 * want + 100; ++attempts) {
      const int64_t m = by_popularity[popularity.sample(rng)];
      if (taken[m] == u) continue;
      taken[m] = u;
      chosen.push_back(m);
    }
    for (int64_t r = 0; r < movies && chosen.size() < want; ++r) {
      const int64_t m = by_popularity[r];
      if (taken[m] == u) continue;
      taken[m] = u;
      chosen.push_back(m);
    }
    // Chosen order is the user's chronological order: minutes apart, with pauses of days.
    int64_t t = rng.between(kFirstTime, kLastStart);
    const size_t first = rows.size();
    for (const int64_t m : chosen) {
      int64_t score = 3500 + world.user_bias[u] + world.movie_bias[m];
      for (int k = 0; k < kFactors; ++k) {
        score += world.user_factor[u][k] * world.movie_factor[m][k] / 1000;
      }
      for (int k = 0; k < 4; ++k) score += rng.between(-500, 500);  // roughly normal noise
      const int64_t half_stars = std::clamp<int64_t>(floor_div(score + 250, 500), 1, 10);
      rows.push_back({u + 1, world.movie_id[m], static_cast<int>(half_stars), t});
      t = std::min(kLastTime,
                   t + (rng.below(20) == 0 ? rng.between(3600, 30 * 86400) : rng.between(20, 600)));
    }
    std::sort(rows.begin() + static_cast<std::ptrdiff_t>(first), rows.end(),
              [](const SampleRating& a, const SampleRating& b) { return a.movie_id < b.movie_id; });
  }
  return rows;
}

std::string ratings_csv(const std::vector<SampleRating>& rows) {
  std::string text = "userId,movieId,rating,timestamp\n";
  text.reserve(rows.size() * 28);
  for (const SampleRating& r : rows) {
    text += std::to_string(r.user_id);
    text += ',';
    text += std::to_string(r.movie_id);
    text += ',';
    text += std::to_string(r.half_stars / 2);
    text += r.half_stars % 2 ? ".5," : ".0,";
    text += std::to_string(r.timestamp);
    text += '\n';
  }
  return text;
}

// Tags on rated movies, words by a power law; listed by user and movie like MovieLens.
std::string tags_csv(const std::vector<SampleRating>& rows, int64_t count, SplitMix64& rng) {
  std::string text = "userId,movieId,tag,timestamp\n";
  if (rows.empty()) return text;
  struct SampleTag {
    size_t rating;
    int64_t timestamp;
    size_t word;
  };
  const Zipf words(kTagWords.size(), 2);
  std::vector<SampleTag> tags(static_cast<size_t>(count));
  for (SampleTag& tag : tags) {
    tag.rating = static_cast<size_t>(rng.below(rows.size()));
    tag.timestamp = rows[tag.rating].timestamp + rng.between(0, 3600);
    tag.word = words.sample(rng);
  }
  std::sort(tags.begin(), tags.end(), [](const SampleTag& a, const SampleTag& b) {
    return a.rating != b.rating ? a.rating < b.rating : a.timestamp < b.timestamp;
  });
  text.reserve(tags.size() * 40);
  for (const SampleTag& tag : tags) {
    text += std::to_string(rows[tag.rating].user_id);
    text += ',';
    text += std::to_string(rows[tag.rating].movie_id);
    text += ',';
    append_csv_field(text, kTagWords[tag.word]);
    text += ',';
    text += std::to_string(tag.timestamp);
    text += '\n';
  }
  return text;
}

// Seven-digit zero-padded imdbIds; tmdbId missing now and then, as in MovieLens.
std::string links_csv(const SampleWorld& world, SplitMix64& rng) {
  std::string text = "movieId,imdbId,tmdbId\n";
  for (size_t m = 0; m < world.movie_id.size(); ++m) {
    char imdb[24];
    std::snprintf(imdb, sizeof(imdb), "%07lld",
                  static_cast<long long>(100000 + m * 37 + rng.below(31)));
    text += std::to_string(world.movie_id[m]) + "," + imdb + ",";
    if (rng.below(40) != 0) text += std::to_string(1000 + m * 13 + rng.below(10));
    text += '\n';
  }
  return text;
}

// Users as ml-1m describes them, from the hidden truth so that the description carries signal:
// the occupation comes from the user's strongest factor (one of four groups of three), the gender
// leans on the sign of the first factor, the age group on the user's bias; the zip code's first
// digit is the occupation group's.
std::vector<UserInfo> sample_users(const SampleWorld& world, uint64_t seed) {
  static constexpr std::array<std::array<int, 3>, kFactors> kOccupations = {{
      {12, 15, 17},  // programmer, scientist, technician/engineer
      {2, 20, 1},    // artist, writer, academic/educator
      {7, 11, 14},   // executive/managerial, lawyer, sales/marketing
      {4, 10, 13},   // college/grad student, K-12 student, retired
  }};
  static constexpr std::array<int, 7> kAges = {1, 18, 25, 35, 45, 50, 56};
  SplitMix64 rng(seed ^ 0x5EED05E25ULL);
  std::vector<UserInfo> users(world.user_factor.size());
  for (size_t u = 0; u < users.size(); ++u) {
    const auto& factor = world.user_factor[u];
    const auto strongest = std::max_element(factor.begin(), factor.end()) - factor.begin();
    UserInfo& user = users[u];
    user.id = static_cast<int64_t>(u) + 1;
    user.occupation = ml1m_occupation(kOccupations[strongest][rng.below(3)]);
    user.gender = (factor[0] > 0) == (rng.below(5) != 0) ? "M" : "F";
    const int64_t bias = world.user_bias[u] / 250 + 3 + static_cast<int64_t>(rng.below(3)) - 1;
    user.age = kAges[static_cast<size_t>(std::clamp<int64_t>(bias, 0, kAges.size() - 1))];
    char zip[24];
    std::snprintf(zip, sizeof(zip), "%d%04d", static_cast<int>(strongest) * 2 + 1,
                  static_cast<int>(rng.below(10000)));
    user.zip = zip;
  }
  return users;
}

// The sample as a shop's purchase log (data.format csv): a purchase is a rating of 3.5 or more,
// users "u<id>" and items "sku-<id>" (string ids); items.csv gives each item a category (its
// first genre), a brand and tags (its other genres, '|'-separated); users.csv a country and a
// segment drawn from the hidden truth (sample_users), so both carry signal.
void write_shop_log(const std::string& dir, const MovieLens& ml, const SampleWorld& world,
                    uint64_t seed) {
  const auto user_key = [](int64_t id) { return "u" + std::to_string(id); };
  const auto item_key = [](int64_t id) { return "sku-" + std::to_string(id); };
  std::string events = "user_id,item_id,timestamp\n";
  for (size_t i = 0; i < ml.ratings.size(); ++i) {
    if (ml.ratings.rating[i] < 3.5f) continue;
    events += user_key(ml.ratings.user[i]) + "," + item_key(ml.ratings.movie[i]) + "," +
              std::to_string(ml.ratings.timestamp[i]) + "\n";
  }
  std::string items = "item_id,category,brand,tags\n";
  SplitMix64 rng(seed ^ 0x5A0B5A0BULL);
  for (const Movie& movie : ml.movies) {
    items += item_key(movie.id) + ",";
    append_csv_field(items, movie.genres.empty() ? "" : movie.genres[0]);
    items += ",brand-" + std::to_string(rng.below(20)) + ",";
    std::string tags;
    for (size_t g = 1; g < movie.genres.size(); ++g) tags += (g > 1 ? "|" : "") + movie.genres[g];
    append_csv_field(items, tags);
    items += "\n";
  }
  static constexpr const char* kCountries[] = {"FR", "DE", "US", "JP", "BR",
                                               "IN", "NG", "CA", "AU"};
  std::string users = "user_id,country,segment\n";
  for (const UserInfo& user : sample_users(world, seed)) {
    users += user_key(user.id) + "," + kCountries[user.zip[0] - '1'] + ",";
    append_csv_field(users, user.occupation);
    users += "\n";
  }
  const fs::path root(dir);
  write_text(root / "events.csv", events);
  write_text(root / "items.csv", items);
  write_text(root / "users.csv", users);
}

// The CSV sample in another layout: users described, whole stars (rounded up) where the layout
// has only those, genres the layout knows.
void convert_sample(const std::string& dir, const SampleWorld& world,
                    const SampleOptions& options) {
  LoadOptions load;
  load.threads = 1;
  MovieLens ml = parse_movielens_folder(dir, "movielens-csv", load);
  const std::string& format = options.format;
  if (format == "ml-100k" || format == "ml-1m") {
    ml.users = sample_users(world, options.seed);
    for (float& rating : ml.ratings.rating) rating = std::ceil(rating);
  }
  if (format == "ml-100k") {
    for (Movie& movie : ml.movies) {
      movie.genres.erase(std::remove(movie.genres.begin(), movie.genres.end(), "IMAX"),
                         movie.genres.end());
    }
  }
  const fs::path root(dir);
  for (const char* file : {"ratings.csv", "movies.csv", "tags.csv", "links.csv"}) {
    fs::remove(root / file);
  }
  if (format == "csv") {
    write_shop_log(dir, ml, world, options.seed);
  } else {
    write_movielens_folder(ml, dir, format);
  }
}

}  // namespace

void write_sample_movielens(const std::string& dir, const SampleOptions& options) {
  const int64_t users = options.users;
  const int64_t movies = options.movies;
  // Bounds keep every product in 64 bits and every loop finite; each problem is reported.
  std::string problems;
  const auto check = [&](const char* what, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi) {
      problems += std::string(problems.empty() ? "" : "; ") + what + " must be in [" +
                  std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                  std::to_string(value);
    }
  };
  check("users", users, 1, 10'000'000);
  check("movies", movies, 5, 10'000'000);
  check("ratings", options.ratings, 0, 1'000'000'000);
  check("tags", options.tags, 0, 100'000'000);
  if (std::find(movielens_formats().begin() + 1, movielens_formats().end(), options.format) ==
      movielens_formats().end()) {
    problems += std::string(problems.empty() ? "" : "; ") + "format must be movielens-csv, " +
                "ml-100k, ml-1m, ml-10m or csv, got " + options.format;
  }
  if (!problems.empty()) throw ConfigError("sample: " + problems);
  SplitMix64 rng(options.seed);
  const SampleWorld world = make_world(users, movies, rng);
  const std::string movies_text = movies_csv(world, rng);
  const int64_t total = std::clamp<int64_t>(options.ratings, 5 * users, users * movies);
  const std::vector<SampleRating> rows =
      sample_ratings(world, rating_counts(users, movies, total, rng), rng);
  const std::string tags_text = tags_csv(rows, options.tags, rng);
  const std::string links_text = links_csv(world, rng);

  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error("cannot create " + dir + ": " + ec.message());
  write_text(root / "movies.csv", movies_text);
  write_text(root / "ratings.csv", ratings_csv(rows));
  write_text(root / "tags.csv", tags_text);
  write_text(root / "links.csv", links_text);
  if (options.format != "movielens-csv") convert_sample(dir, world, options);
}

}  // namespace dnnrec
