// The MovieLens data cache: stamps of the CSV files, the file layout, a streaming checksum, and
// atomic writes with a per-user fallback location.
//
// Layout, native byte order (a marker rejects a foreign one):
//   header   "DNNRECML", version, byte-order marker, on_bad_row, min and max rating (f32 bits),
//            file count, per CSV file {present, size, mtime ns, ctime ns, inode, content hash},
//            folder path (u64 length + bytes), payload size
//   payload  u64 size of the rest, then the rest: movies, tags and the load report, length-
//            prefixed; zero padding to 8 bytes; u64 n; 8 bytes of column widths; userId[n],
//            movieId[n], timestamp[n] as i32 when every value of the column fits (MovieLens ids
//            and timestamps do), else i64; rating[n] as f32
//   trailer  u64 hash of header and payload
// The rest comes first so that its encoded copy is gone before the big columns are allocated.
// Narrow columns make the file 16 instead of 28 bytes a rating: less to write and to read.
#include "data/data_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "base/hash.h"
#include "data/hash64.h"
#include "data/movielens_formats.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'D', 'N', 'N', 'R', 'E', 'C', 'M', 'L'};
constexpr uint32_t kByteOrder = 0x01020304;
constexpr uint64_t kMaxPath = 1 << 16;
constexpr size_t kBlockValues = 1 << 16;  // per conversion between i32 and i64

uint64_t padding_after(uint64_t size) { return (8 - size % 8) % 8; }

// 4 when every value fits in an int32, else 8.
uint8_t width_of(const std::vector<int64_t>& column) {
  int64_t lo = 0;
  int64_t hi = 0;
  for (const int64_t value : column) {
    lo = std::min(lo, value);
    hi = std::max(hi, value);
  }
  return lo >= INT32_MIN && hi <= INT32_MAX ? 4 : 8;
}

// The widths of userId, movieId, timestamp and rating, padded to 8 bytes.
using Widths = std::array<uint8_t, 8>;

Widths widths_of(const Ratings& r) {
  return {width_of(r.user), width_of(r.movie), width_of(r.timestamp), sizeof(float)};
}

uint64_t column_bytes(const Widths& widths, uint64_t n) {
  return n * (uint64_t{widths[0]} + widths[1] + widths[2] + widths[3]);
}

// One cache file per layout: a folder read as another layout has its own.
std::string base_name(const std::string& format) {
  return "movielens-v" + std::to_string(kMovieLensCacheVersion) + "-" + format;
}

// Why a cache is ignored.
struct Invalid : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint64_t hash_of(std::string_view text) {
  Hash64 hash;
  hash.update(text.data(), text.size());
  return hash.digest();
}

// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Reads exactly `size` bytes into `out` and hashes them; a short file is an invalid cache.
void read_exact(int fd, void* out, size_t size, Hash64* hash) {
  auto* p = static_cast<char*>(out);
  for (size_t done = 0; done < size;) {
    const ssize_t got = ::read(fd, p + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw Invalid(std::string("cannot read: ") + std::strerror(errno));
    if (got == 0) throw Invalid("truncated");
    done += static_cast<size_t>(got);
  }
  if (hash != nullptr) hash->update(out, size);
}

bool write_all(int fd, const void* data, size_t size, Hash64* hash) {
  const auto* p = static_cast<const char*>(data);
  for (size_t done = 0; done < size;) {
    const ssize_t put = ::write(fd, p + done, size - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    done += static_cast<size_t>(put);
  }
  if (hash != nullptr) hash->update(data, size);
  return true;
}

// The content hash of a file (never 0, which means "not recorded"); nullopt when unreadable.
std::optional<uint64_t> content_hash(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  std::vector<char> buffer(1 << 20);
  Hash64 hash;
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return std::nullopt;
    if (got == 0) break;
    hash.update(buffer.data(), static_cast<size_t>(got));
  }
  return hash.digest() | 1;
}

// Appends fixed-size values and length-prefixed strings to a byte string.
class Writer {
 public:
  template <typename T>
  void put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put_text(std::string_view text) {
    put<uint64_t>(text.size());
    bytes_.append(text);
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

// Reads a column of `width`-byte integers into `column` (sized already).
void read_column(int fd, uint8_t width, std::vector<int64_t>* column, Hash64* hash) {
  if (width == sizeof(int64_t)) {
    read_exact(fd, column->data(), column->size() * sizeof(int64_t), hash);
    return;
  }
  std::vector<int32_t> block(std::min(column->size(), kBlockValues));
  for (size_t at = 0; at < column->size(); at += block.size()) {
    const size_t count = std::min(block.size(), column->size() - at);
    read_exact(fd, block.data(), count * sizeof(int32_t), hash);
    std::copy(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(count),
              column->begin() + static_cast<std::ptrdiff_t>(at));
  }
}

// Writes to a file through a buffer and hashes what it writes; the first failure sticks.
class FileWriter {
 public:
  explicit FileWriter(int fd) : fd_(fd) { buffer_.reserve(kBuffer); }
  void put(const void* data, size_t size) {
    if (buffer_.size() + size > kBuffer) flush();
    if (size >= kBuffer) {
      ok_ = ok_ && write_all(fd_, data, size, &hash_);
    } else {
      buffer_.append(static_cast<const char*>(data), size);
    }
  }
  /// Flushes; false when any write failed (errno tells why).
  bool flush() {
    ok_ = ok_ && write_all(fd_, buffer_.data(), buffer_.size(), &hash_);
    buffer_.clear();
    return ok_;
  }
  uint64_t digest() const { return hash_.digest(); }

 private:
  static constexpr size_t kBuffer = 1 << 20;
  int fd_;
  std::string buffer_;
  Hash64 hash_;
  bool ok_ = true;
};

// Writes a column as `width`-byte integers.
void write_column(FileWriter* out, uint8_t width, const std::vector<int64_t>& column) {
  if (width == sizeof(int64_t)) {
    out->put(column.data(), column.size() * sizeof(int64_t));
    return;
  }
  std::vector<int32_t> block(std::min(column.size(), kBlockValues));
  for (size_t at = 0; at < column.size(); at += block.size()) {
    const size_t count = std::min(block.size(), column.size() - at);
    for (size_t i = 0; i < count; ++i) block[i] = static_cast<int32_t>(column[at + i]);
    out->put(block.data(), count * sizeof(int32_t));
  }
}

// Movies, tags and the report (everything but the rating columns), through put(data, size).
template <typename Put>
void encode_rest(const MovieLens& ml, Put&& put) {
  const auto u64 = [&](uint64_t value) { put(&value, sizeof(value)); };
  const auto i64 = [&](int64_t value) { put(&value, sizeof(value)); };
  const auto text = [&](const std::string& value) {
    u64(value.size());
    put(value.data(), value.size());
  };
  u64(ml.movies.size());
  for (const Movie& movie : ml.movies) {
    i64(movie.id);
    i64(movie.year);
    text(movie.title);
    u64(movie.genres.size());
    for (const std::string& genre : movie.genres) text(genre);
  }
  u64(ml.tags.size());
  for (const TagEvent& tag : ml.tags) {
    i64(tag.user);
    i64(tag.movie);
    i64(tag.timestamp);
    text(tag.tag);
  }
  u64(ml.users.size());
  for (const UserInfo& user : ml.users) {
    i64(user.id);
    i64(user.age);
    text(user.gender);
    text(user.occupation);
    text(user.zip);
    u64(user.attributes.size());
    for (const std::string& a : user.attributes) text(a);
  }
  i64(ml.implicit);
  i64(ml.timed);
  u64(ml.names.size());
  for (const auto& [id, name] : ml.names) {
    i64(id);
    text(name);
  }
  i64(ml.report.skipped);
  u64(ml.report.examples.size());
  for (const std::string& example : ml.report.examples) text(example);
  u64(ml.report.per_file.size());
  for (const auto& [file, count] : ml.report.per_file) {
    text(file);
    i64(count);
  }
}

// Reads what Writer and encode_rest wrote, never past the end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string get_text() {
    const uint64_t size = get<uint64_t>();
    return std::string(take(size), size);
  }
  // A count of records of at least `min_bytes` each, checked against what is left, so that a
  // bad count cannot ask for a huge allocation.
  size_t get_count(size_t min_bytes) {
    const uint64_t count = get<uint64_t>();
    if (count > (bytes_.size() - at_) / min_bytes) throw Invalid("bad record count");
    return static_cast<size_t>(count);
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  const char* take(uint64_t size) {
    if (size > bytes_.size() - at_) throw Invalid("payload cut short");
    const char* p = bytes_.data() + at_;
    at_ += static_cast<size_t>(size);
    return p;
  }
  std::string_view bytes_;
  size_t at_ = 0;
};

void decode_rest(std::string_view bytes, MovieLens* ml) {
  Reader in(bytes);
  ml->movies.resize(in.get_count(32));
  ml->movie_index.reserve(ml->movies.size());
  for (size_t i = 0; i < ml->movies.size(); ++i) {
    Movie& movie = ml->movies[i];
    movie.id = in.get<int64_t>();
    movie.year = static_cast<int>(in.get<int64_t>());
    movie.title = in.get_text();
    movie.genres.resize(in.get_count(8));
    for (std::string& genre : movie.genres) genre = in.get_text();
    if (!ml->movie_index.emplace(movie.id, i).second) throw Invalid("a movie id appears twice");
  }
  ml->tags.resize(in.get_count(32));
  for (TagEvent& tag : ml->tags) {
    tag.user = in.get<int64_t>();
    tag.movie = in.get<int64_t>();
    tag.timestamp = in.get<int64_t>();
    tag.tag = in.get_text();
  }
  ml->users.resize(in.get_count(40));
  ml->user_index.reserve(ml->users.size());
  for (size_t i = 0; i < ml->users.size(); ++i) {
    UserInfo& user = ml->users[i];
    user.id = in.get<int64_t>();
    user.age = static_cast<int>(in.get<int64_t>());
    user.gender = in.get_text();
    user.occupation = in.get_text();
    user.zip = in.get_text();
    user.attributes.resize(in.get_count(8));
    for (std::string& a : user.attributes) a = in.get_text();
    if (!ml->user_index.emplace(user.id, i).second) throw Invalid("a user id appears twice");
  }
  ml->implicit = in.get<int64_t>() != 0;
  ml->timed = in.get<int64_t>() != 0;
  const size_t names = in.get_count(16);
  ml->names.reserve(names);
  for (size_t i = 0; i < names; ++i) {
    const int64_t id = in.get<int64_t>();
    ml->names.emplace(id, in.get_text());
  }
  ml->report.skipped = in.get<int64_t>();
  ml->report.examples.resize(in.get_count(8));
  for (std::string& example : ml->report.examples) example = in.get_text();
  ml->report.per_file.resize(in.get_count(16));
  for (auto& [file, count] : ml->report.per_file) {
    file = in.get_text();
    count = in.get<int64_t>();
  }
  if (!in.done()) throw Invalid("payload longer than its records");
}

// The start of a cache's header, read by `in`: magic, format version and byte order.
void check_format(std::string_view head, Reader* in) {
  if (std::memcmp(head.data(), kMagic, sizeof(kMagic)) != 0) throw Invalid("not a data cache");
  in->get<std::array<char, sizeof(kMagic)>>();
  const auto version = in->get<uint32_t>();
  if (version != kMovieLensCacheVersion) {
    throw Invalid("format version " + std::to_string(version) + ", not " +
                  std::to_string(kMovieLensCacheVersion));
  }
  if (in->get<uint32_t>() != kByteOrder) throw Invalid("foreign byte order");
}

// The payload's first section: the size of the rest, the rest (movies, tags and the report,
// decoded into `ml`) and its padding. Returns the bytes read, those before the rating columns.
uint64_t read_rest(int fd, uint64_t payload_size, Hash64* hash, MovieLens* ml) {
  if (payload_size < 2 * sizeof(uint64_t)) throw Invalid("truncated");
  uint64_t rest_size;
  read_exact(fd, &rest_size, sizeof(rest_size), hash);
  if (rest_size > payload_size - 2 * sizeof(uint64_t)) throw Invalid("bad size of the rest");
  {
    std::string rest(rest_size, '\0');
    read_exact(fd, rest.data(), rest.size(), hash);
    // Decoded before the checksum is known, but bounds-checked, and dropped on a mismatch.
    decode_rest(rest, ml);
  }
  const uint64_t padding = padding_after(sizeof(rest_size) + rest_size);
  const uint64_t before_columns = sizeof(rest_size) + rest_size + padding;
  if (payload_size < before_columns + sizeof(uint64_t)) throw Invalid("truncated");
  char zeros[8];
  read_exact(fd, zeros, padding, hash);
  return before_columns;
}

// The payload's second section, the rating columns, which fill the `left` bytes of it that
// read_rest left.
void read_ratings(int fd, uint64_t left, Hash64* hash, Ratings* r) {
  uint64_t n;
  Widths widths;
  if (left < sizeof(n) + sizeof(widths)) throw Invalid("truncated");
  read_exact(fd, &n, sizeof(n), hash);
  read_exact(fd, widths.data(), widths.size(), hash);
  const uint64_t room = left - sizeof(n) - sizeof(widths);
  const bool layout_ok =
      std::all_of(widths.begin(), widths.begin() + 3, [](uint8_t w) { return w == 4 || w == 8; }) &&
      widths[3] == sizeof(float) &&
      std::all_of(widths.begin() + 4, widths.end(), [](uint8_t w) { return w == 0; });
  if (!layout_ok) throw Invalid("bad column layout");
  if (n > room / sizeof(float) || column_bytes(widths, n) != room) {
    throw Invalid("bad rating count");
  }
  r->user.resize(n);
  r->movie.resize(n);
  r->timestamp.resize(n);
  r->rating.resize(n);
  read_column(fd, widths[0], &r->user, hash);
  read_column(fd, widths[1], &r->movie, hash);
  read_column(fd, widths[2], &r->timestamp, hash);
  read_exact(fd, r->rating.data(), n * sizeof(float), hash);
}

int64_t nanoseconds(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// The user's cache folder for dnnrec ($XDG_CACHE_HOME/dnnrec, else ~/.cache/dnnrec); empty when
// neither variable gives an absolute path.
std::string user_cache_folder() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return (fs::path(xdg) / "dnnrec").string();
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return (fs::path(home) / ".cache" / "dnnrec").string();
  return "";
}

// Temporary files of writers that died (a killed process) would otherwise stay forever; an hour
// is far longer than any live writer takes.
void remove_stale_temporaries(const fs::path& folder) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("movielens-", 0) != 0 || name.find(".bin.tmp-") == std::string::npos) continue;
    std::error_code time_ec;
    const auto changed = fs::last_write_time(it->path(), time_ec);
    if (!time_ec && now - changed > std::chrono::hours(1)) fs::remove(it->path(), time_ec);
  }
}

}  // namespace

MovieLensCache::MovieLensCache(const std::string& dir, const std::string& format,
                               const LoadOptions& options, std::chrono::nanoseconds racy)
    : given_dir_(dir),
      policy_(static_cast<uint32_t>(options.on_bad_row)),
      min_rating_(options.min_rating),
      max_rating_(options.max_rating),
      format_(format) {
  std::error_code ec;
  fs::path absolute = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (!absolute.has_filename()) absolute = absolute.parent_path();  // "ml/" is "ml"
  if (ec) {
    spdlog::debug("data cache off for {}: {}", dir, ec.message());
    return;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const FormatFiles files = movielens_format_files(format, options);
  const std::string tag =
      format == "csv" ? "csv-" + hex64(hash_of(options.csv.fingerprint())).substr(0, 12) : format;
  size_t slot = 0;
  for (const auto* list : {&files.required, &files.optional}) {
    for (const std::string& name : *list) {
      if (slot < names_.size()) names_[slot++] = name;
    }
  }
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i].empty()) continue;
    files_[i] = (absolute / names_[i]).string();
    struct stat st;
    if (::stat(files_[i].c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      spdlog::debug("data cache off for {}: {}: {}", dir, files_[i], std::strerror(errno));
      return;
    }
    Stamp& stamp = stamps_[i];
    stamp.present = 1;
    stamp.size = static_cast<uint64_t>(st.st_size);
    stamp.mtime_ns = nanoseconds(st.st_mtim);
    stamp.ctime_ns = nanoseconds(st.st_ctim);
    stamp.inode = static_cast<uint64_t>(st.st_ino);
    if (std::max(stamp.mtime_ns, stamp.ctime_ns) > now - racy.count()) {
      const std::optional<uint64_t> content = content_hash(files_[i]);
      if (!content) {
        spdlog::debug("data cache off for {}: cannot read {}", dir, files_[i]);
        return;
      }
      stamp.content = *content;
    }
  }
  dir_ = absolute.string();
  paths_.push_back((absolute / ".dnnrec-cache" / (base_name(tag) + ".bin")).string());
  const std::string user_folder = user_cache_folder();
  if (!user_folder.empty()) {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash_of(dir_)));
    paths_.push_back((fs::path(user_folder) / (base_name(tag) + "-" + hex + ".bin")).string());
  }
}

std::string MovieLensCache::header(uint64_t payload_size) const {
  Writer out;
  out.bytes().append(kMagic, sizeof(kMagic));
  out.put<uint32_t>(kMovieLensCacheVersion);
  out.put<uint32_t>(kByteOrder);
  out.put<uint32_t>(policy_);
  out.put<float>(min_rating_);
  out.put<float>(max_rating_);
  out.put<uint32_t>(static_cast<uint32_t>(stamps_.size()));
  for (const Stamp& stamp : stamps_) out.put<Stamp>(stamp);
  out.put_text(dir_);
  out.put<uint64_t>(payload_size);
  return std::move(out.bytes());
}

std::optional<MovieLens> MovieLensCache::read() const {
  for (const std::string& path : paths_) {
    try {
      if (std::optional<MovieLens> ml = read_from(path)) {
        spdlog::debug("{} loaded from the data cache {}", dir_, path);
        return ml;
      }
    } catch (const std::exception& e) {  // Invalid, or std::bad_alloc on a huge claimed size
      spdlog::debug("data cache {} ignored: {}", path, e.what());
    }
  }
  return std::nullopt;
}

std::optional<MovieLens> MovieLensCache::read_from(const std::string& path) const {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw Invalid(std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw Invalid(std::strerror(errno));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  Hash64 hash;
  // The fixed part of the header, then the folder path and the payload size.
  constexpr size_t kFixed = sizeof(kMagic) + 6 * sizeof(uint32_t) + 4 * sizeof(Stamp);
  std::string head(kFixed + sizeof(uint64_t), '\0');
  read_exact(fd.get(), head.data(), head.size(), &hash);
  Reader in(head);
  check_format(head, &in);
  const auto policy = in.get<uint32_t>();
  const auto min_rating = in.get<float>();
  const auto max_rating = in.get<float>();
  if (policy != policy_ || std::memcmp(&min_rating, &min_rating_, sizeof(float)) != 0 ||
      std::memcmp(&max_rating, &max_rating_, sizeof(float)) != 0) {
    throw Invalid("made with other load options");
  }
  if (in.get<uint32_t>() != stamps_.size()) throw Invalid("bad file count");
  std::array<Stamp, 4> stored;
  for (Stamp& stamp : stored) stamp = in.get<Stamp>();
  for (size_t i = 0; i < stored.size(); ++i) {
    const Stamp& a = stored[i];
    const Stamp& b = stamps_[i];
    if (a.present != b.present || a.size != b.size || a.mtime_ns != b.mtime_ns ||
        a.ctime_ns != b.ctime_ns || a.inode != b.inode) {
      throw Invalid(names_[i] + " changed");
    }
  }
  const uint64_t path_size = in.get<uint64_t>();
  if (path_size > kMaxPath) throw Invalid("bad path length");
  std::string folder(path_size, '\0');
  read_exact(fd.get(), folder.data(), folder.size(), &hash);
  if (folder != dir_) throw Invalid("made for another folder");
  uint64_t payload_size;
  read_exact(fd.get(), &payload_size, sizeof(payload_size), &hash);
  const uint64_t header_size = head.size() + path_size + sizeof(uint64_t);
  if (file_size < header_size + sizeof(uint64_t) ||
      payload_size != file_size - header_size - sizeof(uint64_t)) {
    throw Invalid("truncated or overlong");
  }
  // Content last among the stamps: it costs a read of the file.
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].content == 0) continue;
    const std::optional<uint64_t> now =
        stamps_[i].content != 0 ? stamps_[i].content : content_hash(files_[i]);
    if (now != stored[i].content) throw Invalid(names_[i] + " changed");
  }

  MovieLens ml;
  ml.dir = given_dir_;
  ml.format = format_;
  const uint64_t before_columns = read_rest(fd.get(), payload_size, &hash, &ml);
  read_ratings(fd.get(), payload_size - before_columns, &hash, &ml.ratings);
  uint64_t checksum;
  read_exact(fd.get(), &checksum, sizeof(checksum), nullptr);
  if (checksum != hash.digest()) throw Invalid("checksum mismatch");
  return ml;
}

bool MovieLensCache::write(const MovieLens& ml) const {
  // The cache only saves time: nothing here may fail the load.
  try {
    return write_any(ml);
  } catch (const std::exception& e) {
    spdlog::debug("data cache not written: {}", e.what());
    return false;
  }
}

bool MovieLensCache::write_any(const MovieLens& ml) const {
  if (paths_.empty()) return false;
  // A file that changed since it was stamped may have been parsed in either version.
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i].empty()) continue;
    struct stat st;
    const bool present = ::stat(files_[i].c_str(), &st) == 0;
    const Stamp& stamp = stamps_[i];
    if (present != (stamp.present != 0) ||
        (present &&
         (static_cast<uint64_t>(st.st_size) != stamp.size ||
          nanoseconds(st.st_mtim) != stamp.mtime_ns || nanoseconds(st.st_ctim) != stamp.ctime_ns ||
          static_cast<uint64_t>(st.st_ino) != stamp.inode))) {
      spdlog::debug("data cache not written: {} changed while it was loaded", files_[i]);
      return false;
    }
  }
  uint64_t rest_size = 0;
  encode_rest(ml, [&](const void*, size_t size) { rest_size += size; });
  const uint64_t before_columns =
      sizeof(rest_size) + rest_size + padding_after(sizeof(rest_size) + rest_size);
  const Widths widths = widths_of(ml.ratings);
  const std::string head = header(before_columns + sizeof(uint64_t) + sizeof(widths) +
                                  column_bytes(widths, ml.ratings.size()));
  std::string failures;
  for (const std::string& path : paths_) {
    std::string failure;
    if (write_to(path, head, rest_size, widths, ml, &failure)) {
      spdlog::debug("data cache written: {}", path);
      return true;
    }
    failures += (failures.empty() ? "" : "; ") + failure;
  }
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    spdlog::warn("data cache not written ({}): loads of {} parse the CSV files", failures, dir_);
  } else {
    spdlog::debug("data cache not written ({})", failures);
  }
  return false;
}

bool MovieLensCache::write_to(const std::string& path, const std::string& head, uint64_t rest_size,
                              const std::array<uint8_t, 8>& widths, const MovieLens& ml,
                              std::string* failure) const {
  const fs::path folder = fs::path(path).parent_path();
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec || !fs::is_directory(folder, ec)) {
    *failure = "cannot create " + folder.string() + (ec ? ": " + ec.message() : "");
    return false;
  }
  remove_stale_temporaries(folder);
  std::string temp = path + ".tmp-XXXXXX";
  Fd fd(::mkstemp(temp.data()));
  if (fd.get() < 0) {
    *failure = "cannot write in " + folder.string() + ": " + std::strerror(errno);
    return false;
  }
  const Ratings& r = ml.ratings;
  const uint64_t n = r.size();
  const char zeros[8] = {};
  FileWriter out(fd.get());
  out.put(head.data(), head.size());
  out.put(&rest_size, sizeof(rest_size));
  encode_rest(ml, [&](const void* data, size_t size) { out.put(data, size); });
  out.put(zeros, padding_after(sizeof(rest_size) + rest_size));
  out.put(&n, sizeof(n));
  out.put(widths.data(), widths.size());
  write_column(&out, widths[0], r.user);
  write_column(&out, widths[1], r.movie);
  write_column(&out, widths[2], r.timestamp);
  out.put(r.rating.data(), n * sizeof(float));
  bool ok = out.flush();
  const uint64_t checksum = out.digest();
  ok = ok && write_all(fd.get(), &checksum, sizeof(checksum), nullptr);
  int error = errno;
  ok = ok && ::fchmod(fd.get(), 0644) == 0;
  if (ok) {
    ok = ::close(fd.release()) == 0;
    error = errno;
  }
  if (ok && ::rename(temp.c_str(), path.c_str()) != 0) {
    ok = false;
    error = errno;
  }
  if (!ok) {
    ::unlink(temp.c_str());
    *failure = "cannot write " + path + ": " + std::strerror(error);
  }
  return ok;
}

}  // namespace dnnrec
