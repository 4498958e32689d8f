// The older MovieLens layouts on the rules of the CSV one (movielens_rows.h): each file read line
// by line, split at its separator into exactly the fields its README lists, and every row
// checked as ratings.csv, movies.csv and tags.csv rows are; titles decoded to UTF-8.
#include "data/movielens_formats.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "data/csv_reader.h"
#include "data/movielens_rows.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;

// ml-100k's 19 genre flags in u.item's column order (u.genre). "unknown" is no genre, and
// "Children's" is spelt as the later releases spell it, so genres mean the same in every layout.
constexpr std::array<const char*, 19> k100kGenres = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};

std::string genre_name(std::string_view name) {
  return name == "Children's" ? "Children" : std::string(name);
}

// Reads a headerless file whose fields are separated by `sep`, calling on_row(rules, fields)
// for each non-blank line split into exactly columns.size() fields (C strings); a line with
// another count is a bad row naming both counts.
template <typename OnRow>
void read_delimited(const std::string& path, const std::string& name, std::string_view sep,
                    const std::vector<const char*>& columns, const LoadOptions& options,
                    LoadReport* report, OnRow&& on_row) {
  const csv_detail::File file(path, name);
  RowRules rules(name, columns, options.on_bad_row, report);
  std::string copy;
  std::vector<char*> fields(columns.size());
  csv_detail::for_each_line(file, 0, file.size(), 1, [&](const csv_detail::Line& line) {
    const char* end = line.end;
    if (end != line.begin && end[-1] == '\r') --end;
    copy.assign(line.begin, end);
    rules.set_line(line.number);
    if (copy.empty()) return true;
    if (copy.find('\0') != std::string::npos) {
      rules.bad_row("NUL byte in the row");
      return true;
    }
    char* data = copy.data();
    size_t count = 0, at = 0;
    for (;;) {
      const size_t next = copy.find(sep, at);
      if (count < fields.size()) fields[count] = data + at;
      ++count;
      if (next == std::string::npos) break;
      data[next] = '\0';
      at = next + sep.size();
    }
    if (count != fields.size()) {
      rules.bad_row("expected " + std::to_string(fields.size()) + " fields separated by '" +
                    std::string(sep) + "', got " + std::to_string(count));
      return true;
    }
    on_row(rules, fields.data());
    return true;
  });
}

// A title as UTF-8: ml-100k and ml-1m write Latin-1; ml-10m's file is UTF-8 where it is valid.
std::string title_text(const char* field, const std::string& format) {
  if (format == "ml-10m" && invalid_utf8(field) == std::string_view::npos) return field;
  return latin1_to_utf8(field);
}

// u.item: movie id | title | release date | video release date | IMDb URL | 19 genre flags.
void load_u_item(const std::string& path, const LoadOptions& options, MovieLens* ml) {
  std::vector<const char*> columns = {"movie id", "movie title", "release date",
                                      "video release date", "IMDb URL"};
  columns.insert(columns.end(), k100kGenres.begin(), k100kGenres.end());
  read_delimited(path, "u.item", "|", columns, options, &ml->report,
                 [&](RowRules& rules, char* const* f) {
                   int64_t id;
                   if (!rules.id(f, 0, &id)) return;
                   if (ml->movie_index.count(id)) {
                     rules.bad_row("movie id " + std::to_string(id) + " appears twice in u.item");
                     return;
                   }
                   Movie movie;
                   movie.id = id;
                   movie.title = title_text(f[1], "ml-100k");
                   for (size_t g = 0; g < k100kGenres.size(); ++g) {
                     const std::string_view flag = f[5 + g];
                     if (flag != "0" && flag != "1") {
                       rules.bad_row("column '" + std::string(k100kGenres[g]) +
                                     "': expected 0 or 1, got " + shown(flag));
                       return;
                     }
                     if (flag == "1" && g > 0) movie.genres.push_back(genre_name(k100kGenres[g]));
                   }
                   movie.year = parse_year(movie.title);
                   // A title without its year: the release date's ("01-Jan-1995").
                   const std::string_view date = f[2];
                   if (movie.year == 0 && date.size() >= 4) {
                     movie.year = parse_year("(" + std::string(date.substr(date.size() - 4)) + ")");
                   }
                   ml->movie_index.emplace(id, ml->movies.size());
                   ml->movies.push_back(std::move(movie));
                 });
}

// movies.dat: MovieID::Title::Genres ('|'-separated).
void load_movies_dat(const std::string& path, const std::string& format, const LoadOptions& options,
                     MovieLens* ml) {
  read_delimited(
      path, "movies.dat", "::", {"MovieID", "Title", "Genres"}, options, &ml->report,
      [&](RowRules& rules, char* const* f) {
        int64_t id;
        if (!rules.id(f, 0, &id)) return;
        if (ml->movie_index.count(id)) {
          rules.bad_row("MovieID " + std::to_string(id) + " appears twice in movies.dat");
          return;
        }
        const size_t bad = invalid_utf8(f[2]);
        if (bad != std::string_view::npos) {
          rules.bad_row(utf8_message("Genres", f[2], bad));
          return;
        }
        Movie movie;
        movie.id = id;
        movie.title = title_text(f[1], format);
        for (std::string& genre : split_genres(f[2])) {
          movie.genres.push_back(genre_name(genre));
        }
        movie.year = parse_year(movie.title);
        ml->movie_index.emplace(id, ml->movies.size());
        ml->movies.push_back(std::move(movie));
      });
}

// Reads a headerless file's rows into a sink (RatingsSink, TagsSink), growing its room as the
// rows come; returns the rows kept.
template <typename Sink>
size_t read_into(Sink* sink, const std::string& path, const std::string& name, std::string_view sep,
                 const std::vector<const char*>& columns, const LoadOptions& options,
                 LoadReport* report) {
  size_t slot = 0, room = 0;
  read_delimited(path, name, sep, columns, options, report, [&](RowRules& rules, char* const* f) {
    if (slot == room) sink->resize(room = 2 * room + 1024);
    if (sink->row(rules, f, slot)) ++slot;
  });
  sink->truncate(slot);
  return slot;
}

void load_ratings_file(const std::string& path, const std::string& name, std::string_view sep,
                       const std::vector<const char*>& columns, const LoadOptions& options,
                       const MovieIdSet& movies, MovieLens* ml) {
  RatingsSink sink(&ml->ratings, movies, options);
  read_into(&sink, path, name, sep, columns, options, &ml->report);
  check_duplicates(path, name, false, options, ml);
  check_some_ratings(name, *ml, "the file is empty");
}

void load_tags_dat(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
                   MovieLens* ml) {
  TagsSink sink(&ml->tags, movies);
  read_into(&sink, path, "tags.dat", "::", {"UserID", "MovieID", "Tag", "Timestamp"}, options,
            &ml->report);
}

// A user row's checks shared by u.user and users.dat; false after bad_row.
bool add_user(RowRules& rules, const std::string& file, int64_t age, UserInfo user, MovieLens* ml) {
  if (user.gender != "M" && user.gender != "F") {
    rules.bad_row("gender: expected M or F, got " + shown(user.gender));
    return false;
  }
  if (age < 0 || age > 150) {
    rules.bad_row("age " + std::to_string(age) + " is outside [0, 150]");
    return false;
  }
  user.age = static_cast<int>(age);
  const size_t bad = invalid_utf8(user.zip);
  if (bad != std::string_view::npos) {
    rules.bad_row(utf8_message("zip code", user.zip, bad));
    return false;
  }
  if (!ml->user_index.emplace(user.id, ml->users.size()).second) {
    rules.bad_row("user id " + std::to_string(user.id) + " appears twice in " + file);
    return false;
  }
  ml->users.push_back(std::move(user));
  return true;
}

// u.user: user id | age | gender | occupation | zip code.
void load_u_user(const std::string& path, const LoadOptions& options, MovieLens* ml) {
  read_delimited(path, "u.user", "|", {"user id", "age", "gender", "occupation", "zip code"},
                 options, &ml->report, [&](RowRules& rules, char* const* f) {
                   UserInfo user;
                   int64_t age;
                   if (!rules.id(f, 0, &user.id) || !rules.integer(f, 1, &age)) return;
                   user.gender = f[2];
                   user.occupation = latin1_to_utf8(f[3]);
                   user.zip = latin1_to_utf8(f[4]);
                   if (user.occupation.empty()) {
                     rules.bad_row("column 'occupation' is empty");
                     return;
                   }
                   add_user(rules, "u.user", age, std::move(user), ml);
                 });
}

// users.dat: UserID::Gender::Age::Occupation::Zip-code, the occupation a code 0-20.
void load_users_dat(const std::string& path, const LoadOptions& options, MovieLens* ml) {
  read_delimited(path, "users.dat", "::", {"UserID", "Gender", "Age", "Occupation", "Zip-code"},
                 options, &ml->report, [&](RowRules& rules, char* const* f) {
                   UserInfo user;
                   int64_t age, occupation;
                   if (!rules.id(f, 0, &user.id) || !rules.integer(f, 2, &age) ||
                       !rules.integer(f, 3, &occupation)) {
                     return;
                   }
                   user.gender = f[1];
                   user.occupation = occupation >= 0 && occupation <= 20
                                         ? ml1m_occupation(static_cast<int>(occupation))
                                         : "";
                   if (user.occupation.empty()) {
                     rules.bad_row("Occupation " + shown(f[3]) + " is not a code from 0 to 20");
                     return;
                   }
                   user.zip = latin1_to_utf8(f[4]);
                   add_user(rules, "users.dat", age, std::move(user), ml);
                 });
}

bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

}  // namespace

const std::vector<std::string>& movielens_formats() {
  static const std::vector<std::string> names = {"auto",  "movielens-csv", "ml-100k",
                                                 "ml-1m", "ml-10m",        "csv"};
  return names;
}

std::string detect_movielens_format(const std::string& dir) {
  const fs::path root(dir);
  if (file_exists(root / "ratings.csv")) return "movielens-csv";
  if (file_exists(root / "u.data")) return "ml-100k";
  if (file_exists(root / "ratings.dat"))
    return file_exists(root / "users.dat") ? "ml-1m" : "ml-10m";
  return "";
}

FormatFiles movielens_format_files(const std::string& format, const LoadOptions& options) {
  if (format == "csv") return {options.csv.files(), {}};
  if (format == "movielens-csv") return {{"ratings.csv", "movies.csv"}, {"tags.csv", "links.csv"}};
  if (format == "ml-100k") return {{"u.data", "u.item"}, {"u.user"}};
  if (format == "ml-1m") return {{"ratings.dat", "movies.dat"}, {"users.dat"}};
  if (format == "ml-10m") return {{"ratings.dat", "movies.dat"}, {"tags.dat"}};
  throw ConfigError("data.format: unknown layout '" + format +
                    "' (auto | movielens-csv | ml-100k | ml-1m | ml-10m)");
}

MovieLens parse_legacy_movielens(const std::string& dir, const std::string& format,
                                 const LoadOptions& options) {
  const fs::path root(dir);
  MovieLens ml;
  ml.dir = dir;
  ml.format = format;
  if (format == "ml-100k") {
    load_u_item((root / "u.item").string(), options, &ml);
    const MovieIdSet movies(ml, "u.item");
    load_ratings_file((root / "u.data").string(), "u.data", "\t",
                      {"user id", "item id", "rating", "timestamp"}, options, movies, &ml);
    if (file_exists(root / "u.user")) load_u_user((root / "u.user").string(), options, &ml);
  } else if (format == "ml-1m" || format == "ml-10m") {
    load_movies_dat((root / "movies.dat").string(), format, options, &ml);
    const MovieIdSet movies(ml, "movies.dat");
    load_ratings_file((root / "ratings.dat").string(), "ratings.dat",
                      "::", {"UserID", "MovieID", "Rating", "Timestamp"}, options, movies, &ml);
    if (format == "ml-1m" && file_exists(root / "users.dat")) {
      load_users_dat((root / "users.dat").string(), options, &ml);
    }
    if (format == "ml-10m" && file_exists(root / "tags.dat")) {
      load_tags_dat((root / "tags.dat").string(), options, movies, &ml);
    }
  } else {
    throw ConfigError("parse_legacy_movielens: not an older layout: " + format);
  }
  return ml;
}

std::string latin1_to_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (byte >> 6));
      out += static_cast<char>(0x80 | (byte & 0x3F));
    }
  }
  return out;
}

std::string ml1m_occupation(int code) {
  static const std::array<const char*, 21> names = {"other",
                                                    "academic/educator",
                                                    "artist",
                                                    "clerical/admin",
                                                    "college/grad student",
                                                    "customer service",
                                                    "doctor/health care",
                                                    "executive/managerial",
                                                    "farmer",
                                                    "homemaker",
                                                    "K-12 student",
                                                    "lawyer",
                                                    "programmer",
                                                    "retired",
                                                    "sales/marketing",
                                                    "scientist",
                                                    "self-employed",
                                                    "technician/engineer",
                                                    "tradesman/craftsman",
                                                    "unemployed",
                                                    "writer"};
  return code >= 0 && code < static_cast<int>(names.size()) ? names[code] : "";
}

std::string utf8_to_latin1(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      out += text[i++];
      continue;
    }
    const size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
    if (length == 2 && i + 1 < text.size()) {
      const unsigned code =
          ((byte & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      out += code <= 0xFF ? static_cast<char>(code) : '?';
    } else {
      out += '?';
    }
    i += length;
  }
  return out;
}

namespace {

// A rating as the releases write it: "4", "3.5".
std::string rating_text(float rating) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", static_cast<double>(rating));
  return buffer;
}

std::string genres_text(const Movie& movie, bool releases_spelling) {
  if (movie.genres.empty()) return kNoGenres;
  std::string out;
  for (const std::string& genre : movie.genres) {
    if (!out.empty()) out += '|';
    out += releases_spelling && genre == "Children" ? "Children's" : genre;
  }
  return out;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw Error("cannot write " + path.string());
}

std::string ratings_text(const Ratings& r, const std::string& sep, bool header) {
  std::string text = header ? "userId,movieId,rating,timestamp\n" : "";
  for (size_t i = 0; i < r.size(); ++i) {
    text += std::to_string(r.user[i]) + sep + std::to_string(r.movie[i]) + sep +
            rating_text(r.rating[i]) + sep + std::to_string(r.timestamp[i]) + "\n";
  }
  return text;
}

int ml1m_occupation_code(const std::string& name) {
  for (int code = 0; code <= 20; ++code) {
    if (ml1m_occupation(code) == name) return code;
  }
  return 0;  // "other"
}

}  // namespace

void write_movielens_folder(const MovieLens& ml, const std::string& dir,
                            const std::string& format) {
  const fs::path root(dir);
  fs::create_directories(root);
  const Ratings& r = ml.ratings;
  if (format == "movielens-csv") {
    write_text(root / "ratings.csv", ratings_text(r, ",", true));
    std::string movies = "movieId,title,genres\n";
    for (const Movie& m : ml.movies) {
      movies += std::to_string(m.id) + "," + csv_field(m.title) + "," +
                csv_field(genres_text(m, false)) + "\n";
    }
    write_text(root / "movies.csv", movies);
    if (!ml.tags.empty()) {
      std::string tags = "userId,movieId,tag,timestamp\n";
      for (const TagEvent& t : ml.tags) {
        tags += std::to_string(t.user) + "," + std::to_string(t.movie) + "," + csv_field(t.tag) +
                "," + std::to_string(t.timestamp) + "\n";
      }
      write_text(root / "tags.csv", tags);
    }
  } else if (format == "ml-100k") {
    write_text(root / "u.data", ratings_text(r, "\t", false));
    std::string items;
    for (const Movie& m : ml.movies) {
      items += std::to_string(m.id) + "|" + utf8_to_latin1(m.title) + "|" +
               (m.year > 0 ? "01-Jan-" + std::to_string(m.year) : "") + "||";
      for (size_t g = 0; g < k100kGenres.size(); ++g) {
        const std::string name = genre_name(k100kGenres[g]);
        const bool on = g == 0
                            ? m.genres.empty()
                            : std::find(m.genres.begin(), m.genres.end(), name) != m.genres.end();
        items += on ? "|1" : "|0";
      }
      items += "\n";
    }
    write_text(root / "u.item", items);
    if (!ml.users.empty()) {
      std::string users;
      for (const UserInfo& u : ml.users) {
        users += std::to_string(u.id) + "|" + std::to_string(u.age) + "|" + u.gender + "|" +
                 u.occupation + "|" + u.zip + "\n";
      }
      write_text(root / "u.user", users);
    }
  } else if (format == "ml-1m" || format == "ml-10m") {
    write_text(root / "ratings.dat", ratings_text(r, "::", false));
    std::string movies;
    for (const Movie& m : ml.movies) {
      movies += std::to_string(m.id) +
                "::" + (format == "ml-1m" ? utf8_to_latin1(m.title) : m.title) +
                "::" + genres_text(m, format == "ml-1m") + "\n";
    }
    write_text(root / "movies.dat", movies);
    if (format == "ml-1m") {
      std::string users;
      for (const UserInfo& u : ml.users) {
        users += std::to_string(u.id) + "::" + u.gender + "::" + std::to_string(u.age) +
                 "::" + std::to_string(ml1m_occupation_code(u.occupation)) + "::" + u.zip + "\n";
      }
      write_text(root / "users.dat", users);
    } else if (!ml.tags.empty()) {
      std::string tags;
      for (const TagEvent& t : ml.tags) {
        tags += std::to_string(t.user) + "::" + std::to_string(t.movie) + "::" + t.tag +
                "::" + std::to_string(t.timestamp) + "\n";
      }
      write_text(root / "tags.dat", tags);
    }
  } else {
    throw ConfigError("unknown layout '" + format + "' (movielens-csv | ml-100k | ml-1m | ml-10m)");
  }
}

}  // namespace dnnrec
