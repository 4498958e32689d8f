// MovieLens folder loading through fast-cpp-csv-parser, with every problem reported as
// "file:line: reason", ratings.csv and tags.csv parsed on several threads, an optional binary
// cache (data_cache.h), and a deterministic generator of synthetic folders in the same layout.
#include "dnnrec/movielens.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfccp/csv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "dnnrec/data_cache.h"
#include "dnnrec/error.h"
#include "dnnrec/random.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxExamples = 5;
constexpr const char* kFetchHint =
    "run scripts/fetch-movielens.sh, or pass --data DIR pointing at a MovieLens folder";
constexpr const char* kNoGenres = "(no genres listed)";

// ---------------------------------------------------------------------------------------------
// Reading

using Trim = io::trim_chars<' ', '\t'>;

// fccp's block length: a line of this many bytes or more (its '\r' included) is an error there,
// and so here too.
constexpr size_t kMaxLine = size_t{1} << 24;

// fccp's too_few_columns / too_many_columns exceptions do not say how many columns the row has,
// and by the time they are thrown the line is already cut up. This quote policy delegates to
// io::double_quote_escape and counts the columns it chops, so the message can say "found 3".
struct ColumnTrace {
  int chopped = 0;
  const char* last_end = nullptr;
};
thread_local ColumnTrace t_trace;

struct TracingQuote {
  using Base = io::double_quote_escape<',', '"'>;
  static const char* find_next_column_end(const char* begin) {
    const char* end = Base::find_next_column_end(begin);
    ++t_trace.chopped;
    t_trace.last_end = end;
    return end;
  }
  static void unescape(char*& begin, char*& end) { Base::unescape(begin, end); }
};

// Columns in an untouched rest of a line; never throws, an open quote just runs to the end.
int count_columns(const char* s) {
  int n = 1;
  bool quoted = false;
  for (; *s != '\0'; ++s) {
    if (*s == '"') {
      quoted = !quoted;
    } else if (*s == ',' && !quoted) {
      ++n;
    }
  }
  return n;
}

size_t invalid_utf8(std::string_view s);

// A field as it appears in a message: quoted, cut short, and with control bytes and bytes that
// are not UTF-8 written as \xNN, so a garbage line stays readable in a terminal.
std::string shown(std::string_view value) {
  constexpr size_t kMaxShown = 40;
  const bool cut = value.size() > kMaxShown;
  std::string_view rest = value.substr(0, kMaxShown);
  std::string text = "\"";
  while (!rest.empty()) {
    const size_t bad = invalid_utf8(rest);
    const std::string_view good = rest.substr(0, bad);
    for (const char c : good) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) {
        char escaped[8];
        std::snprintf(escaped, sizeof(escaped), "\\x%02X", u);
        text += escaped;
      } else {
        text += c;
      }
    }
    if (bad == std::string_view::npos) break;
    // A character cut in two by the length limit is left out.
    if (cut && rest.size() - bad < 4 && static_cast<unsigned char>(rest[bad]) >= 0xC2) break;
    char escaped[8];
    std::snprintf(escaped, sizeof(escaped), "\\x%02X", static_cast<unsigned char>(rest[bad]));
    text += escaped;
    rest.remove_prefix(bad + 1);
  }
  return text + (cut ? "...\"" : "\"");
}

// "0.5", "5": bounds as a person would write them.
std::string format_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", x);
  return buffer;
}

// Rows the file probably holds, from the line density of its first 64 KiB, so the big columns
// are reserved once instead of growing by doubling (twice the memory at the peak for 25M rows).
size_t estimate_rows(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size == 0) return 0;
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return 0;
  std::array<char, 1 << 16> buffer;
  const size_t n = std::fread(buffer.data(), 1, buffer.size(), file);
  std::fclose(file);
  const auto lines = std::count(buffer.data(), buffer.data() + n, '\n');
  if (n == size) return static_cast<size_t>(lines) + 1;
  if (lines < 2) return 0;
  const double bytes_per_line = static_cast<double>(n) / static_cast<double>(lines);
  return static_cast<size_t>(static_cast<double>(size) / bytes_per_line * 1.02) + 16;
}

// The checks of a row's fields and what a failed check does: a DataError "file:line: reason"
// under kFail, an entry in the report under kSkip. Whoever reads the rows sets the line.
class RowRules {
 public:
  RowRules(std::string name, std::vector<const char*> columns, BadRowPolicy policy,
           LoadReport* report)
      : name_(std::move(name)), columns_(std::move(columns)), policy_(policy), report_(report) {}

  const std::string& name() const { return name_; }
  long line() const { return line_; }
  void set_line(long line) { line_ = line; }

  /// Rejects the current row: throws under kFail, counts it under kSkip.
  void bad_row(const std::string& message) {
    if (policy_ == BadRowPolicy::kFail) throw DataError(name_, line_, message);
    report_->add(DataError::format(name_, line_, message));
  }

  /// A non-negative integer id; false (after bad_row) otherwise.
  bool id(char* const* fields, size_t column, int64_t* out) {
    if (!integer(fields, column, out)) return false;
    if (*out < 0) {
      bad_row(column_prefix(column) + shown(fields[column]) + " is negative");
      return false;
    }
    return true;
  }

  /// Any integer; false (after bad_row) otherwise.
  bool integer(char* const* fields, size_t column, int64_t* out) {
    const char* begin = fields[column];
    // Fast path for the usual plain digits (18 cannot overflow); the rest goes to from_chars.
    int64_t value = 0;
    const char* p = begin;
    while (*p >= '0' && *p <= '9' && p - begin < 18) value = value * 10 + (*p++ - '0');
    if (*p == '\0' && p != begin) {
      *out = value;
      return true;
    }
    const char* end = begin + std::strlen(begin);
    if (begin == end) {
      bad_row("column '" + std::string(columns_[column]) + "' is empty");
      return false;
    }
    const auto [ptr, ec] = std::from_chars(begin, end, *out);
    if (ec == std::errc::result_out_of_range) {
      bad_row(column_prefix(column) + shown(begin) + " is out of range");
      return false;
    }
    if (ec != std::errc() || ptr != end) {
      bad_row(column_prefix(column) + shown(begin) + " is not an integer");
      return false;
    }
    return true;
  }

  /// A finite number; false (after bad_row) otherwise.
  bool number(char* const* fields, size_t column, double* out) {
    const char* begin = fields[column];
    const char* end = begin + std::strlen(begin);
    if (begin == end) {
      bad_row("column '" + std::string(columns_[column]) + "' is empty");
      return false;
    }
    const auto [ptr, ec] = std::from_chars(begin, end, *out);
    if (ec != std::errc() || ptr != end) {
      bad_row(column_prefix(column) + shown(begin) + " is not a number");
      return false;
    }
    if (!std::isfinite(*out)) {
      bad_row(column_prefix(column) + shown(begin) + " is not a finite number");
      return false;
    }
    return true;
  }

  /// "userId,movieId,rating,timestamp".
  std::string header_text() const {
    std::string text;
    for (size_t i = 0; i < columns_.size(); ++i) {
      text += (i ? "," : "") + std::string(columns_[i]);
    }
    return text;
  }

  std::string column_count_message(int found) const {
    return "expected " + std::to_string(columns_.size()) + " columns (" + header_text() +
           "), found " + std::to_string(found);
  }

  size_t column_count() const { return columns_.size(); }

 private:
  std::string column_prefix(size_t column) const {
    return "column '" + std::string(columns_[column]) + "': ";
  }

  std::string name_;
  std::vector<const char*> columns_;
  BadRowPolicy policy_;
  LoadReport* report_;
  long line_ = 0;
};

// Called inside a catch block for an fccp exception about the current line (rules.line()):
// a malformed row becomes a bad row; the rest is fatal. Every malformed-row exception is thrown
// after the reader has consumed the line, so reading on continues with the next line; the one
// exception is the over-long line, which fccp does not advance past (skipping it would loop).
void malformed_line(RowRules& rules) {
  try {
    throw;
  } catch (const io::error::too_few_columns&) {
    rules.bad_row(rules.column_count_message(t_trace.chopped));
  } catch (const io::error::too_many_columns&) {
    rules.bad_row(rules.column_count_message(static_cast<int>(rules.column_count()) +
                                             count_columns(t_trace.last_end + 1)));
  } catch (const io::error::escaped_string_not_closed&) {
    rules.bad_row("unterminated quoted field");
  } catch (const io::error::line_length_limit_exceeded&) {
    throw DataError(rules.name(), rules.line(), "line longer than the 16 MiB limit");
  } catch (const io::error::base& e) {
    throw DataError(rules.name(), rules.line(), e.what());
  }
}

// One CSV file with a fixed header, read sequentially by fccp: yields rows as trimmed, unquoted
// fields and turns every problem into a DataError or, under BadRowPolicy::kSkip, into a
// LoadReport entry.
template <unsigned N>
class CsvFile {
 public:
  using Fields = std::array<char*, N>;

  /// `header_only`: only the header will be read (the rows are parsed elsewhere), so only the
  /// first line is scanned for NUL bytes.
  CsvFile(const std::string& path, std::string name, const std::array<const char*, N>& columns,
          BadRowPolicy policy, LoadReport* report, bool header_only = false)
      : columns_(columns),
        rules_(std::move(name), std::vector<const char*>(columns.begin(), columns.end()), policy,
               report) {
    try {
      reader_ = std::make_unique<Reader>(path);
    } catch (const io::error::can_not_open_file& e) {
      throw DataError(rules_.name(), 0,
                      "cannot open " + path + ": " + std::strerror(e.errno_value));
    }
    nul_lines_ = lines_with_nul(path, header_only);
    if (!nul_lines_.empty() && nul_lines_.front() == 1) {
      throw DataError(rules_.name(), 1, "wrong header: NUL byte in the header row");
    }
    read_header(std::make_index_sequence<N>{});
  }

  /// Reads the next good row into `fields` (valid until the next call); false at the end.
  bool next(Fields& fields) { return next_row(fields, std::make_index_sequence<N>{}); }

  /// The physical line of the row last read (the header is line 1).
  long line() const { return static_cast<long>(reader_->get_file_line()); }

  void bad_row(const std::string& message) { rules_.bad_row(message); }
  bool id(const Fields& fields, size_t column, int64_t* out) {
    return rules_.id(fields.data(), column, out);
  }
  bool integer(const Fields& fields, size_t column, int64_t* out) {
    return rules_.integer(fields.data(), column, out);
  }

 private:
  // Blank lines are skipped (a trailing empty line is common in hand-edited files); they still
  // count in line numbers.
  using Reader =
      io::CSVReader<N, Trim, TracingQuote, io::throw_on_overflow, io::empty_line_comment>;

  // A wrong header is fatal under either policy: there is no row to skip, and reading on would
  // misinterpret every row.
  [[noreturn]] void wrong_header(const std::string& detail) {
    throw DataError(rules_.name(), std::max(1L, line()),
                    "wrong header: expected " + rules_.header_text() + " (" + detail + ")");
  }

  template <size_t... I>
  void read_header(std::index_sequence<I...>) {
    try {
      reader_->read_header(io::ignore_no_column, columns_[I]...);
    } catch (const io::error::header_missing&) {
      throw DataError(rules_.name(), 0, "empty file (no header row)");
    } catch (const io::error::extra_column_in_header& e) {
      wrong_header("unexpected column " + shown(e.column_name));
    } catch (const io::error::missing_column_in_header& e) {
      wrong_header("missing column " + shown(e.column_name));
    } catch (const io::error::duplicated_column_in_header& e) {
      wrong_header("column " + shown(e.column_name) + " appears twice");
    } catch (const io::error::escaped_string_not_closed&) {
      wrong_header("unterminated quoted field");
    } catch (const io::error::line_length_limit_exceeded&) {
      throw DataError(rules_.name(), line(), "line longer than the 16 MiB limit");
    } catch (const io::error::base& e) {
      throw DataError(rules_.name(), line(), e.what());
    }
  }

  // fccp's fields are C strings: a NUL would silently cut a value short, so the lines that hold
  // one are found first, and each is a bad row however fccp split it.
  static std::vector<long> lines_with_nul(const std::string& path, bool first_line_only) {
    std::vector<long> lines;
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buffer(first_line_only ? 1 << 16 : 1 << 20);
    long line = 1;
    while (in && !(first_line_only && line > 1)) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const char* p = buffer.data();
      const char* const end = p + in.gcount();
      if (std::memchr(p, '\0', static_cast<size_t>(end - p)) == nullptr) {
        line += std::count(p, end, '\n');
        continue;
      }
      for (; p < end; ++p) {
        if (*p == '\n') {
          ++line;
        } else if (*p == '\0' && (lines.empty() || lines.back() != line)) {
          lines.push_back(line);
        }
      }
    }
    return lines;
  }

  bool has_nul(long line) const {
    return std::binary_search(nul_lines_.begin(), nul_lines_.end(), line);
  }

  template <size_t... I>
  bool next_row(Fields& fields, std::index_sequence<I...>) {
    for (;;) {
      t_trace = ColumnTrace{};
      try {
        const bool got = reader_->read_row(fields[I]...);
        rules_.set_line(line());
        if (got && has_nul(line())) {
          rules_.bad_row("NUL byte in the row");
          continue;
        }
        return got;
      } catch (const io::error::base&) {
        rules_.set_line(line());
        if (has_nul(line())) {
          rules_.bad_row("NUL byte in the row");
          continue;
        }
        malformed_line(rules_);
      }
    }
  }

  std::array<const char*, N> columns_;
  RowRules rules_;
  std::unique_ptr<Reader> reader_;
  std::vector<long> nul_lines_;  ///< sorted
};

// ---------------------------------------------------------------------------------------------
// ratings.csv and tags.csv on several threads. fccp validates the header; the file is then cut
// into byte ranges at line starts, and each range is parsed on its own thread, every line split
// by fccp's own splitter (io::detail::parse_line, as read_row does), so that a row means what it
// means in a sequential read. The lines of every range are counted first: each range then knows
// the number of its first line (messages stay exact), the output is sized once (no second copy
// of 25M rows at the peak), and range k writes its rows from the slot of its first line on.
// The ranges are then joined in file order; the first error in file order is the one thrown.

// A file read with pread, so that threads share it; closed on scope exit.
class File {
 public:
  File(const std::string& path, std::string name) : path_(path), name_(std::move(name)) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw DataError(name_, 0, "cannot open " + path + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      const int error = errno;
      ::close(fd_);
      throw DataError(name_, 0, "cannot read " + path + ": " + std::strerror(error));
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }

  /// Reads `size` bytes at `offset`; a file that ends sooner changed since it was opened.
  void read(char* out, size_t size, uint64_t offset) const {
    size_t done = 0;
    while (done < size) {
      const ssize_t got = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw DataError(name_, 0, "cannot read " + path_ + ": " + std::strerror(errno));
      if (got == 0)
        throw DataError(name_, 0, "cannot read " + path_ + ": it shrank while being read");
      done += static_cast<size_t>(got);
    }
  }

 private:
  std::string path_;
  std::string name_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

constexpr size_t kBlock = size_t{1} << 20;

// One physical line: its bytes without the '\n', its number, and the offset after its '\n'.
struct Line {
  const char* begin;
  const char* end;
  long number;
  uint64_t next;
};

// Calls on_line(const Line&) for every line of [begin, end), which starts at a line start, until
// it returns false. A line of kMaxLine bytes or more is fatal, as in fccp.
template <typename OnLine>
void for_each_line(const File& file, uint64_t begin, uint64_t end, long first_line,
                   OnLine&& on_line) {
  if (begin >= end) return;
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(kBlock, end - begin)));
  uint64_t offset = begin;  // of the byte after the buffered ones
  size_t start = 0;         // of the current line in the buffer
  size_t filled = 0;
  long number = first_line;
  const auto too_long = [&] {
    throw DataError(file.name(), number, "line longer than the 16 MiB limit");
  };
  for (;;) {
    if (start > 0) {
      std::memmove(buffer.data(), buffer.data() + start, filled - start);
      filled -= start;
      start = 0;
    }
    if (filled == buffer.size()) {  // one line fills the buffer
      if (filled >= kMaxLine) too_long();
      buffer.resize(std::min(2 * buffer.size(), kMaxLine));
    }
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(buffer.size() - filled, end - offset));
    file.read(buffer.data() + filled, want, offset);
    filled += want;
    offset += want;
    const uint64_t base = offset - filled;  // file offset of buffer[0]
    char* const data = buffer.data();
    for (;;) {
      char* const newline = static_cast<char*>(std::memchr(data + start, '\n', filled - start));
      if (newline == nullptr) break;
      if (static_cast<size_t>(newline - (data + start)) >= kMaxLine) too_long();
      const size_t next = static_cast<size_t>(newline - data) + 1;
      if (!on_line(Line{data + start, newline, number, base + next})) return;
      start = next;
      ++number;
    }
    if (offset == end) {
      if (start < filled) {  // a last line without '\n'
        if (filled - start >= kMaxLine) too_long();
        on_line(Line{data + start, data + filled, number, end});
      }
      return;
    }
  }
}

// Lines in [begin, end), which starts at a line start.
size_t count_lines(const File& file, uint64_t begin, uint64_t end) {
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(kBlock, end - begin)));
  size_t lines = 0;
  char last = '\n';
  for (uint64_t offset = begin; offset < end;) {
    const size_t size = static_cast<size_t>(std::min<uint64_t>(buffer.size(), end - offset));
    file.read(buffer.data(), size, offset);
    lines += static_cast<size_t>(std::count(buffer.data(), buffer.data() + size, '\n'));
    last = buffer[size - 1];
    offset += size;
  }
  return lines + (last != '\n');
}

// The first line start at or after `offset`, which lies in [from, size].
uint64_t line_start_from(const File& file, uint64_t offset, uint64_t from) {
  if (offset <= from) return from;
  std::vector<char> buffer(1 << 16);
  for (uint64_t at = offset - 1; at < file.size(); at += buffer.size()) {
    const size_t size = static_cast<size_t>(std::min<uint64_t>(buffer.size(), file.size() - at));
    file.read(buffer.data(), size, at);
    const void* newline = std::memchr(buffer.data(), '\n', size);
    if (newline != nullptr) {
      return at + static_cast<uint64_t>(static_cast<const char*>(newline) - buffer.data()) + 1;
    }
  }
  return file.size();
}

// Runs task(0) ... task(count - 1), task(0) on the calling thread. A task must not throw. When no
// thread can be started, the task runs on the calling thread: slower, same result.
template <typename Task>
void run_parallel(int count, Task&& task) {
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(count));
  for (int k = 1; k < count; ++k) {
    try {
      workers.emplace_back([&task, k] { task(k); });
    } catch (const std::system_error&) {
      task(k);
    }
  }
  task(0);
  for (std::thread& worker : workers) worker.join();
}

// Adds the skipped rows of one range to the file's report, as if added one by one.
void merge_report(const LoadReport& part, LoadReport* report) {
  for (const std::string& message : part.examples) report->add(message);
  const int64_t rest = part.skipped - static_cast<int64_t>(part.examples.size());
  if (rest <= 0) return;
  report->skipped += rest;
  const std::string& file = part.per_file.front().first;
  for (auto& [name, count] : report->per_file) {
    if (name == file) count += rest;
  }
}

// With threads = 0, a range of fewer bytes than this is not worth a thread of its own.
constexpr uint64_t kMinRangeBytes = uint64_t{4} << 20;

// One CSV file parsed on several threads. A Sink takes the rows:
//   resize(n)                       room for n rows (n = lines, an upper bound);
//   fast(begin, end, slot) -> bool  optional fast path for a raw line in the header's own
//                                   column order; true when it stored a good row;
//   row(rules, fields, slot) -> bool  checks a split row; stores it and returns true when good;
//   move(from, to, count)           moves rows down to join the ranges (to <= from);
//   truncate(n)                     keeps the first n rows.
template <unsigned N>
class ParallelCsv {
 public:
  ParallelCsv(const std::string& path, std::string name, const std::array<const char*, N>& columns,
              const LoadOptions& options, LoadReport* report)
      : name_(std::move(name)),
        columns_(columns.begin(), columns.end()),
        policy_(options.on_bad_row),
        report_(report) {
    long header_line = 0;
    {
      // fccp reads the header and reports everything wrong with it; its buffers go before the
      // output is allocated.
      const CsvFile<N> csv(path, name_, columns, options.on_bad_row, report, true);
      header_line = csv.line();
    }
    file_ = std::make_unique<File>(path, name_);
    uint64_t rows_begin = file_->size();
    std::string header;
    for_each_line(*file_, 0, file_->size(), 1, [&](const Line& line) {
      if (line.number < header_line) return true;
      header.assign(line.begin, line.end);
      rows_begin = line.next;
      return false;
    });
    read_column_order(header, header_line);

    int ranges = std::clamp(options.threads, 0, 256);
    if (ranges == 0) {
      const uint64_t by_size = (file_->size() - rows_begin) / kMinRangeBytes + 1;
      ranges = static_cast<int>(std::clamp<uint64_t>(
          by_size, 1, std::clamp(std::thread::hardware_concurrency(), 1u, 64u)));
    }
    bounds_ = {rows_begin};
    for (int k = 1; k < ranges; ++k) {
      const uint64_t at = rows_begin + (file_->size() - rows_begin) * k / ranges;
      bounds_.push_back(std::max(bounds_.back(), line_start_from(*file_, at, rows_begin)));
    }
    bounds_.push_back(file_->size());

    std::vector<size_t> lines(ranges);
    std::vector<std::exception_ptr> errors(ranges);
    run_parallel(ranges, [&](int k) {
      try {
        lines[k] = count_lines(*file_, bounds_[k], bounds_[k + 1]);
      } catch (...) {
        errors[k] = std::current_exception();
      }
    });
    for (const std::exception_ptr& error : errors) {
      if (error) std::rethrow_exception(error);
    }
    first_line_ = header_line + 1;
    first_slot_.resize(ranges + 1, 0);
    for (int k = 0; k < ranges; ++k) first_slot_[k + 1] = first_slot_[k] + lines[k];
  }

  /// Parses every range into `sink`, then joins them; throws the first error in file order.
  template <typename Sink>
  void parse(Sink* sink) {
    const int ranges = static_cast<int>(bounds_.size()) - 1;
    sink->resize(first_slot_.back());
    std::vector<RangeResult> results(ranges);
    std::atomic<int> failed{ranges};  // the first range that stopped on an error
    run_parallel(ranges, [&](int k) {
      try {
        results[k].rows = parse_range(k, sink, &results[k].report, failed);
      } catch (...) {
        results[k].error = std::current_exception();
        int first = failed.load();
        while (k < first && !failed.compare_exchange_weak(first, k)) {
        }
      }
    });
    size_t rows = 0;
    for (int k = 0; k < ranges; ++k) {
      if (results[k].error) std::rethrow_exception(results[k].error);
      sink->move(first_slot_[k], rows, results[k].rows);
      rows += results[k].rows;
      merge_report(results[k].report, report_);
    }
    sink->truncate(rows);
  }

 private:
  struct RangeResult {
    size_t rows = 0;
    LoadReport report;
    std::exception_ptr error;
  };

  // The header once more, split as fccp split it, for the order of its columns (fccp accepts
  // them in any order) and to know whether the raw fast path applies.
  void read_column_order(std::string header, long header_line) {
    if (header.find('\0') != std::string::npos) {
      throw DataError(name_, header_line, "wrong header: NUL byte in the header row");
    }
    if (header_line == 1 && header.compare(0, 3, "\xEF\xBB\xBF") == 0) header.erase(0, 3);
    if (!header.empty() && header.back() == '\r') header.pop_back();
    std::array<std::string, N> names;
    std::copy(columns_.begin(), columns_.end(), names.begin());
    try {
      io::detail::parse_header_line<N, Trim, TracingQuote>(header.data(), col_order_, names.data(),
                                                           io::ignore_no_column);
    } catch (const io::error::base&) {
      throw DataError(name_, header_line, "the header changed while it was read");
    }
    if (col_order_.size() != N) {
      throw DataError(name_, header_line, "the header changed while it was read");
    }
    in_order_ = true;
    for (unsigned i = 0; i < N; ++i) in_order_ = in_order_ && col_order_[i] == static_cast<int>(i);
  }

  template <typename Sink>
  size_t parse_range(int k, Sink* sink, LoadReport* report, const std::atomic<int>& failed) {
    RowRules rules(name_, columns_, policy_, report);
    const size_t first_slot = first_slot_[k];
    size_t slot = first_slot;
    std::string copy;  // fccp splits in place, into a '\0'-terminated line
    std::array<char*, N> fields{};
    for_each_line(*file_, bounds_[k], bounds_[k + 1], first_line_ + static_cast<long>(first_slot),
                  [&](const Line& line) {
                    // An earlier range failed: what this one finds no longer matters.
                    if ((line.number & 0xFFF) == 0 && failed.load(std::memory_order_relaxed) < k) {
                      return false;
                    }
                    if (in_order_ && sink->fast(line.begin, line.end, slot)) {
                      ++slot;
                      return true;
                    }
                    const char* end = line.end;
                    if (end != line.begin && end[-1] == '\r') --end;  // fccp drops one '\r'
                    copy.assign(line.begin, end);
                    rules.set_line(line.number);
                    // fccp's fields are C strings: a NUL would silently cut a value short.
                    if (copy.find('\0') != std::string::npos) {
                      rules.bad_row("NUL byte in the row");
                      return true;
                    }
                    if (io::empty_line_comment::is_comment(copy.c_str())) return true;
                    t_trace = ColumnTrace{};
                    try {
                      io::detail::parse_line<Trim, TracingQuote>(copy.data(), fields.data(),
                                                                 col_order_);
                    } catch (const io::error::base&) {
                      malformed_line(rules);
                      return true;
                    }
                    if (sink->row(rules, fields.data(), slot)) ++slot;
                    return true;
                  });
    return slot - first_slot;
  }

  std::string name_;
  std::vector<const char*> columns_;
  BadRowPolicy policy_;
  LoadReport* report_;
  std::unique_ptr<File> file_;
  std::vector<int> col_order_;
  bool in_order_ = false;
  std::vector<uint64_t> bounds_;    // range k is [bounds_[k], bounds_[k + 1])
  std::vector<size_t> first_slot_;  // of range k's first line; the last entry counts all lines
  long first_line_ = 0;             // the number of the first line after the header
};

// Membership of movieId in movies.csv on the hot path of ratings.csv: a byte per id when the
// ids are dense enough (MovieLens ids stay below 300k), the hash map otherwise.
class MovieIdSet {
 public:
  explicit MovieIdSet(const MovieLens& ml) : index_(ml.movie_index) {
    constexpr int64_t kMaxDense = int64_t{1} << 24;
    int64_t max_id = -1;
    for (const Movie& movie : ml.movies) max_id = std::max(max_id, movie.id);
    if (max_id >= 0 && max_id < kMaxDense) {
      dense_.assign(static_cast<size_t>(max_id) + 1, 0);
      for (const Movie& movie : ml.movies) dense_[static_cast<size_t>(movie.id)] = 1;
    }
  }
  bool contains(int64_t id) const {
    if (!dense_.empty() || index_.empty()) {
      return id >= 0 && static_cast<size_t>(id) < dense_.size() && dense_[id] != 0;
    }
    return index_.count(id) != 0;
  }

 private:
  const std::unordered_map<int64_t, size_t>& index_;
  std::vector<uint8_t> dense_;
};

std::string not_in_movies(int64_t movie) {
  return "movieId " + std::to_string(movie) + " is not in movies.csv";
}

std::vector<std::string> split_genres(std::string_view text) {
  std::vector<std::string> genres;
  if (text == kNoGenres) return genres;
  while (!text.empty()) {
    const size_t bar = text.find('|');
    const std::string_view genre = text.substr(0, bar);
    if (!genre.empty()) genres.emplace_back(genre);
    if (bar == std::string_view::npos) break;
    text.remove_prefix(bar + 1);
  }
  return genres;
}

std::string normalized_tag(std::string_view tag) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!tag.empty() && is_space(tag.front())) tag.remove_prefix(1);
  while (!tag.empty() && is_space(tag.back())) tag.remove_suffix(1);
  std::string out(tag);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Timestamps are Unix seconds from 1970 up to 2100: anything else is a broken value, and one
// far outside would wreck a temporal split.
constexpr int64_t kMaxTimestamp = 4102444800;  // 2100-01-01

bool timestamp_in_range(int64_t t) { return t >= 0 && t < kMaxTimestamp; }

std::string timestamp_message(int64_t t) {
  return "column 'timestamp': " + std::to_string(t) + " is outside [0, " +
         std::to_string(kMaxTimestamp) + ") (1970 to 2100)";
}

// The offset of the first byte that breaks UTF-8 in s (overlong forms, surrogates and values
// above U+10FFFF included), or npos when s is valid.
size_t invalid_utf8(const std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      code = c & 0x07;
    } else {
      return i;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return i;
      code = (code << 6) | (b & 0x3F);
    }
    if ((n == 2 && code < 0x800) || (n == 3 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

std::string utf8_message(const char* column, const std::string_view value, size_t at) {
  char byte[8];
  std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned char>(value[at]));
  return std::string("column '") + column + "' is not valid UTF-8 (byte " + byte + " at offset " +
         std::to_string(at) + ")";
}

void load_movies(const std::string& path, const LoadOptions& options, MovieLens* ml) {
  CsvFile<3> csv(path, "movies.csv", {"movieId", "title", "genres"}, options.on_bad_row,
                 &ml->report);
  const size_t estimate = estimate_rows(path);
  ml->movies.reserve(estimate);
  ml->movie_index.reserve(estimate);
  std::vector<long> lines;  // of each kept movie, for the duplicate message
  lines.reserve(estimate);
  CsvFile<3>::Fields f;
  while (csv.next(f)) {
    int64_t id;
    if (!csv.id(f, 0, &id)) continue;
    const auto [it, inserted] = ml->movie_index.emplace(id, ml->movies.size());
    if (!inserted) {
      csv.bad_row("movieId " + std::to_string(id) + " appears twice in movies.csv (first on line " +
                  std::to_string(lines[it->second]) + ")");
      continue;
    }
    for (const auto& [column, value] :
         {std::pair<const char*, const char*>{"title", f[1]}, {"genres", f[2]}}) {
      const size_t bad = invalid_utf8(value);
      if (bad != std::string_view::npos) {
        csv.bad_row(utf8_message(column, value, bad));
        goto next_movie;
      }
    }
    {
      Movie movie;
      movie.id = id;
      movie.title = f[1];
      movie.genres = split_genres(f[2]);
      movie.year = parse_year(movie.title);
      ml->movies.push_back(std::move(movie));
      lines.push_back(csv.line());
    }
  next_movie:;
  }
}

bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// 1 to 18 plain digits (18 cannot overflow), as RowRules::integer's own fast path reads them.
bool plain_integer(const char*& p, const char* end, int64_t* out) {
  const char* begin = p;
  int64_t value = 0;
  while (p != end && is_digit(*p) && p - begin < 18) value = value * 10 + (*p++ - '0');
  *out = value;
  return p != begin;
}

// "4", "4.5", "3.25": at most 15 digits, so the mantissa and the power of ten are exact doubles
// and their quotient is the correctly rounded value, the one from_chars gives.
bool plain_decimal(const char*& p, const char* end, double* out) {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  int64_t mantissa = 0;
  int digits = 0;
  while (p != end && is_digit(*p) && digits <= 15) {
    mantissa = mantissa * 10 + (*p++ - '0');
    ++digits;
  }
  if (digits == 0) return false;
  int decimals = 0;
  if (p != end && *p == '.') {
    ++p;
    while (p != end && is_digit(*p) && digits <= 15) {
      mantissa = mantissa * 10 + (*p++ - '0');
      ++digits;
      ++decimals;
    }
    if (decimals == 0) return false;
  }
  if (digits > 15) return false;
  *out = static_cast<double>(mantissa) / kPow10[decimals];
  return true;
}

bool comma(const char*& p, const char* end) { return p != end && *p++ == ','; }

// ratings.csv rows into the Ratings columns.
class RatingsSink {
 public:
  RatingsSink(Ratings* ratings, const MovieIdSet& movies, const LoadOptions& options)
      : r_(ratings), movies_(movies), min_(options.min_rating), max_(options.max_rating) {}

  void resize(size_t n) {
    r_->user.resize(n);
    r_->movie.resize(n);
    r_->rating.resize(n);
    r_->timestamp.resize(n);
  }

  // The usual good row, "123,456,4.5,1234567890": no quotes, blanks, signs or exponents, parsed
  // in place. Everything else, bad rows included, takes the general path, which writes the
  // messages.
  bool fast(const char* p, const char* end, size_t slot) {
    int64_t user, movie, timestamp;
    double rating;
    if (!plain_integer(p, end, &user) || !comma(p, end) || !plain_integer(p, end, &movie) ||
        !comma(p, end) || !plain_decimal(p, end, &rating) || !comma(p, end) ||
        !plain_integer(p, end, &timestamp)) {
      return false;
    }
    if (p != end && !(*p == '\r' && p + 1 == end)) return false;
    if (rating < min_ || rating > max_ || !movies_.contains(movie) ||
        !timestamp_in_range(timestamp)) {
      return false;
    }
    store(slot, user, movie, rating, timestamp);
    return true;
  }

  bool row(RowRules& rules, char* const* f, size_t slot) {
    int64_t user, movie, timestamp;
    double rating;
    if (!rules.id(f, 0, &user) || !rules.id(f, 1, &movie) || !rules.number(f, 2, &rating) ||
        !rules.integer(f, 3, &timestamp)) {
      return false;
    }
    if (rating < min_ || rating > max_) {
      rules.bad_row("rating " + std::string(f[2]).substr(0, 40) + " outside [" +
                    format_number(min_) + ", " + format_number(max_) + "]");
      return false;
    }
    if (!movies_.contains(movie)) {
      rules.bad_row(not_in_movies(movie));
      return false;
    }
    if (!timestamp_in_range(timestamp)) {
      rules.bad_row(timestamp_message(timestamp));
      return false;
    }
    store(slot, user, movie, rating, timestamp);
    return true;
  }

  void move(size_t from, size_t to, size_t count) {
    if (from == to || count == 0) return;
    move_column(r_->user, from, to, count);
    move_column(r_->movie, from, to, count);
    move_column(r_->rating, from, to, count);
    move_column(r_->timestamp, from, to, count);
  }

  void truncate(size_t n) {
    resize(n);
    // Many skipped rows leave much unused room; a few (blank lines, a bad row) are not worth
    // a copy.
    if (n + n / 16 < r_->user.capacity()) {
      r_->user.shrink_to_fit();
      r_->movie.shrink_to_fit();
      r_->rating.shrink_to_fit();
      r_->timestamp.shrink_to_fit();
    }
  }

 private:
  template <typename T>
  static void move_column(std::vector<T>& column, size_t from, size_t to, size_t count) {
    std::memmove(column.data() + to, column.data() + from, count * sizeof(T));
  }

  void store(size_t slot, int64_t user, int64_t movie, double rating, int64_t timestamp) {
    r_->user[slot] = user;
    r_->movie[slot] = movie;
    r_->rating[slot] = static_cast<float>(rating);
    r_->timestamp[slot] = timestamp;
  }

  Ratings* r_;
  const MovieIdSet& movies_;
  double min_;
  double max_;
};

// tags.csv rows into TagEvents.
class TagsSink {
 public:
  TagsSink(std::vector<TagEvent>* tags, const MovieIdSet& movies) : tags_(tags), movies_(movies) {}

  void resize(size_t n) { tags_->resize(n); }

  bool fast(const char*, const char*, size_t) { return false; }

  bool row(RowRules& rules, char* const* f, size_t slot) {
    TagEvent event;
    if (!rules.id(f, 0, &event.user) || !rules.id(f, 1, &event.movie) ||
        !rules.integer(f, 3, &event.timestamp)) {
      return false;
    }
    const size_t bad = invalid_utf8(f[2]);
    if (bad != std::string_view::npos) {
      rules.bad_row(utf8_message("tag", f[2], bad));
      return false;
    }
    if (!timestamp_in_range(event.timestamp)) {
      rules.bad_row(timestamp_message(event.timestamp));
      return false;
    }
    event.tag = normalized_tag(f[2]);
    if (event.tag.empty()) {
      rules.bad_row("column 'tag' is empty");
      return false;
    }
    if (!movies_.contains(event.movie)) {
      rules.bad_row(not_in_movies(event.movie));
      return false;
    }
    (*tags_)[slot] = std::move(event);
    return true;
  }

  void move(size_t from, size_t to, size_t count) {
    if (from == to || count == 0) return;
    const auto begin = tags_->begin();
    std::move(begin + static_cast<std::ptrdiff_t>(from),
              begin + static_cast<std::ptrdiff_t>(from + count),
              begin + static_cast<std::ptrdiff_t>(to));
  }

  void truncate(size_t n) {
    tags_->resize(n);
    if (n + n / 16 < tags_->capacity()) tags_->shrink_to_fit();
  }

 private:
  std::vector<TagEvent>* tags_;
  const MovieIdSet& movies_;
};

void load_ratings(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
                  MovieLens* ml) {
  ParallelCsv<4> csv(path, "ratings.csv", {"userId", "movieId", "rating", "timestamp"}, options,
                     &ml->report);
  RatingsSink sink(&ml->ratings, movies, options);
  csv.parse(&sink);
}

void load_tags(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
               MovieLens* ml) {
  ParallelCsv<4> csv(path, "tags.csv", {"userId", "movieId", "tag", "timestamp"}, options,
                     &ml->report);
  TagsSink sink(&ml->tags, movies);
  csv.parse(&sink);
}

void check_links(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
                 MovieLens* ml) {
  CsvFile<3> csv(path, "links.csv", {"movieId", "imdbId", "tmdbId"}, options.on_bad_row,
                 &ml->report);
  CsvFile<3>::Fields f;
  while (csv.next(f)) {
    int64_t movie, imdb, tmdb;
    if (!csv.id(f, 0, &movie) || !csv.id(f, 1, &imdb)) continue;
    if (f[2][0] != '\0' && !csv.id(f, 2, &tmdb)) continue;  // tmdbId is often missing
    if (!movies.contains(movie)) csv.bad_row(not_in_movies(movie));
  }
}

// The physical line of data row `row` (0-based, header and blank lines not counted).
long line_of_row(const std::string& path, size_t row) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  long number = 0;
  size_t seen = 0;
  std::getline(in, line);  // the header
  ++number;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line == "\r") continue;
    if (seen++ == row) return number;
  }
  return 0;
}

// One rating per (user, movie): a second one is an error (or, when skipping, dropped, the
// first kept). Sorting packed keys finds out whether there is any at all cheaply; only then
// is the file order worked out.
void check_duplicates(const std::string& path, const LoadOptions& options, MovieLens* ml) {
  Ratings& r = ml->ratings;
  const size_t n = r.size();
  bool packable = true;
  for (size_t i = 0; i < n && packable; ++i) {
    packable = r.user[i] < (int64_t{1} << 32) && r.movie[i] < (int64_t{1} << 32);
  }
  auto key = [&](size_t i) {
    return (static_cast<uint64_t>(r.user[i]) << 32) | static_cast<uint64_t>(r.movie[i]);
  };
  if (packable) {
    std::vector<uint64_t> keys(n);
    for (size_t i = 0; i < n; ++i) keys[i] = key(i);
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) == keys.end()) return;
  }
  struct PairHash {
    size_t operator()(const std::pair<int64_t, int64_t>& p) const {
      return std::hash<int64_t>()(p.first) * 0x9E3779B97F4A7C15ULL ^ std::hash<int64_t>()(p.second);
    }
  };
  std::unordered_map<std::pair<int64_t, int64_t>, size_t, PairHash> first;
  first.reserve(n);
  std::vector<char> drop(n, 0);
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    const auto [it, inserted] = first.emplace(std::make_pair(r.user[i], r.movie[i]), i);
    if (inserted) continue;
    const std::string message = "duplicate rating of user " + std::to_string(r.user[i]) +
                                " for movie " + std::to_string(r.movie[i]);
    if (options.on_bad_row == BadRowPolicy::kFail) {
      throw DataError(
          "ratings.csv", line_of_row(path, i),
          message + " (first on line " + std::to_string(line_of_row(path, it->second)) + ")");
    }
    ml->report.add(DataError::format("ratings.csv", 0, message + " (the first is kept)"));
    drop[i] = 1;
    any = true;
  }
  if (!any) return;
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (drop[i]) continue;
    r.user[out] = r.user[i];
    r.movie[out] = r.movie[i];
    r.rating[out] = r.rating[i];
    r.timestamp[out] = r.timestamp[i];
    ++out;
  }
  r.user.resize(out);
  r.movie.resize(out);
  r.rating.resize(out);
  r.timestamp.resize(out);
}

// The CSV files of `dir`, parsed.
MovieLens parse_folder(const std::string& dir, const LoadOptions& options) {
  const fs::path root(dir);
  std::error_code ec;
  MovieLens ml;
  ml.dir = dir;
  load_movies((root / "movies.csv").string(), options, &ml);
  const MovieIdSet movies(ml);
  load_ratings((root / "ratings.csv").string(), options, movies, &ml);
  check_duplicates((root / "ratings.csv").string(), options, &ml);
  if (ml.ratings.size() == 0) {
    throw DataError("ratings.csv", 0,
                    ml.report.skipped > 0 ? "no ratings left after skipping " +
                                                std::to_string(ml.report.skipped) + " bad rows"
                                          : "no ratings: the file has only its header row");
  }
  if (fs::exists(root / "tags.csv", ec)) {
    load_tags((root / "tags.csv").string(), options, movies, &ml);
  }
  if (fs::exists(root / "links.csv", ec)) {
    check_links((root / "links.csv").string(), options, movies, &ml);
  }
  return ml;
}

// ---------------------------------------------------------------------------------------------
// Writing the synthetic folder. Integer arithmetic only, so that a seed gives the same bytes on
// every platform and compiler (no libm, no std:: distributions, no FMA contraction).

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

void append_field(std::string& out, std::string_view field) {
  const bool quote = field.find_first_of(",\"\n\r") != std::string_view::npos ||
                     (!field.empty() && (field.front() == ' ' || field.back() == ' '));
  if (!quote) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

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
    append_field(text, title);
    text += ',';
    append_field(text, genres);
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
    append_field(text, kTagWords[tag.word]);
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

}  // namespace

// ---------------------------------------------------------------------------------------------

BadRowPolicy parse_bad_row_policy(const std::string& name) {
  if (name == "fail") return BadRowPolicy::kFail;
  if (name == "skip") return BadRowPolicy::kSkip;
  throw ConfigError("unknown bad-row policy '" + name + "': allowed values are fail, skip");
}

void LoadReport::add(const std::string& message) {
  ++skipped;
  const std::string file = message.substr(0, message.find(':'));
  auto it = std::find_if(per_file.begin(), per_file.end(),
                         [&](const auto& entry) { return entry.first == file; });
  if (it == per_file.end()) {
    per_file.emplace_back(file, 1);
  } else {
    ++it->second;
  }
  if (examples.size() < kMaxExamples) examples.push_back(message);
}

std::string LoadReport::summary() const {
  if (skipped == 0) return "";
  std::string text;
  for (const auto& [file, count] : per_file) {
    if (!text.empty()) text += ", ";
    text += file + ": " + std::to_string(count) + (count == 1 ? " row" : " rows") + " skipped";
  }
  if (!examples.empty()) text += " (first: " + examples.front() + ")";
  return text;
}

const Movie* MovieLens::find_movie(int64_t id) const {
  const auto it = movie_index.find(id);
  return it == movie_index.end() ? nullptr : &movies[it->second];
}

MovieLens load_movielens(const std::string& dir, const LoadOptions& options) {
  if (!std::isfinite(options.min_rating) || !std::isfinite(options.max_rating) ||
      options.min_rating > options.max_rating) {
    throw ConfigError("rating range [" + format_number(options.min_rating) + ", " +
                      format_number(options.max_rating) + "] is empty or not finite");
  }
  if (options.threads < 0) {
    throw ConfigError("threads must be >= 0 (0: one per core), got " +
                      std::to_string(options.threads));
  }
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec) || !fs::exists(root / "ratings.csv", ec)) {
    throw DataError("data folder '" + dir + "' not found (or has no ratings.csv): " + kFetchHint);
  }
  if (!fs::exists(root / "movies.csv", ec)) {
    throw DataError("data folder '" + dir + "' has no movies.csv: " + kFetchHint);
  }
  if (!options.cache) return parse_folder(dir, options);

  // The files' identity is taken before they are parsed, so that a change during the parse
  // leaves no cache behind that claims the new files.
  const MovieLensCache cache(dir, options);
  if (std::optional<MovieLens> cached = cache.read()) {
    cached->dir = dir;
    return std::move(*cached);
  }
  MovieLens ml = parse_folder(dir, options);
  cache.write(ml);
  return ml;
}

int parse_year(const std::string& title) {
  size_t end = title.size();
  while (end > 0 && (title[end - 1] == ' ' || title[end - 1] == '\t' || title[end - 1] == '\r' ||
                     title[end - 1] == '\n')) {
    --end;
  }
  if (end == 0 || title[end - 1] != ')') return 0;
  const size_t open = title.rfind('(', end - 1);
  if (open == std::string::npos) return 0;
  // Between the parentheses: "YYYY", or a range "YYYY-YYYY" / "YYYY-" whose start counts.
  const std::string_view inside(title.data() + open + 1, end - 1 - (open + 1));
  const auto is_year = [](std::string_view s) {
    return s.size() == 4 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (inside.size() < 4 || !is_year(inside.substr(0, 4))) return 0;
  std::string_view rest = inside.substr(4);
  if (!rest.empty()) {
    // MovieLens writes ranges with '-' and, in a few titles, with an en dash (UTF-8 E2 80 93).
    const std::string_view en_dash = "\xE2\x80\x93";
    if (rest[0] == '-') {
      rest.remove_prefix(1);
    } else if (rest.substr(0, en_dash.size()) == en_dash) {
      rest.remove_prefix(en_dash.size());
    } else {
      return 0;
    }
    if (!rest.empty() && !is_year(rest)) return 0;
  }
  const int year = (inside[0] - '0') * 1000 + (inside[1] - '0') * 100 + (inside[2] - '0') * 10 +
                   (inside[3] - '0');
  return year >= 1800 && year <= 2100 ? year : 0;
}

std::string normalize_tag(const std::string& tag) { return normalized_tag(tag); }

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
}

}  // namespace dnnrec
