// A generic reader of CSV files with a fixed header, on fast-cpp-csv-parser (fccp): every problem
// becomes a DataError "file:line: reason" or, under BadRowPolicy::kSkip, a LoadReport entry.
// CsvFile reads a file sequentially, ParallelCsv parses one on several threads into a sink.
#pragma once

#include <libfccp/csv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "data/csv_options.h"
#include "dnnrec/error.h"

namespace dnnrec {

/// The offset of the first byte that breaks UTF-8 in s (overlong forms, surrogates and values
/// above U+10FFFF included), or npos when s is valid.
size_t invalid_utf8(std::string_view s);

/// "column 'title' is not valid UTF-8 (byte 0xFF at offset 3)", for the byte at `at` of `value`.
std::string utf8_message(const char* column, std::string_view value, size_t at);

/// A field as it appears in a message: quoted, cut short, and with control bytes and bytes that
/// are not UTF-8 written as \xNN, so a garbage line stays readable in a terminal.
std::string shown(std::string_view value);

/// "0.5", "5": bounds as a person would write them.
std::string format_number(double x);

/// Rows the file at `path` probably holds, from the line density of its first 64 KiB, so the big
/// columns are reserved once instead of growing by doubling (twice the memory at the peak for 25M
/// rows); 0 when unknown.
size_t estimate_rows(const std::string& path);

// Plain numbers for a sink's fast path (ParallelCsv), on a raw line [p, end): each advances p
// past what it read. Inline: they run on every line of a 25M-row file.

/// An ASCII digit.
inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

/// 1 to 18 plain digits (18 cannot overflow), as RowRules::integer's own fast path reads them.
inline bool plain_integer(const char*& p, const char* end, int64_t* out) {
  const char* begin = p;
  int64_t value = 0;
  while (p != end && is_digit(*p) && p - begin < 18) value = value * 10 + (*p++ - '0');
  *out = value;
  return p != begin;
}

/// "4", "4.5", "3.25": at most 15 digits, so the mantissa and the power of ten are exact doubles
/// and their quotient is the correctly rounded value, the one from_chars gives.
inline bool plain_decimal(const char*& p, const char* end, double* out) {
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

/// A ',' separator.
inline bool comma(const char*& p, const char* end) { return p != end && *p++ == ','; }

namespace csv_detail {

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
inline thread_local ColumnTrace t_trace;

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

}  // namespace csv_detail

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

namespace csv_detail {

// Called inside a catch block for an fccp exception about the current line (rules.line()):
// a malformed row becomes a bad row; the rest is fatal. Every malformed-row exception is thrown
// after the reader has consumed the line, so reading on continues with the next line; the one
// exception is the over-long line, which fccp does not advance past (skipping it would loop).
void malformed_line(RowRules& rules);

// The lines of the file at `path` that hold a NUL byte, sorted. fccp's fields are C strings: a
// NUL would silently cut a value short, so such a line is a bad row however fccp split it. With
// `first_line_only`, reading stops after the block in which line 1 ends.
std::vector<long> lines_with_nul(const std::string& path, bool first_line_only);

}  // namespace csv_detail

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
    nul_lines_ = csv_detail::lines_with_nul(path, header_only);
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
  using Reader = io::CSVReader<N, csv_detail::Trim, csv_detail::TracingQuote, io::throw_on_overflow,
                               io::empty_line_comment>;

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

  bool has_nul(long line) const {
    return std::binary_search(nul_lines_.begin(), nul_lines_.end(), line);
  }

  template <size_t... I>
  bool next_row(Fields& fields, std::index_sequence<I...>) {
    for (;;) {
      csv_detail::t_trace = csv_detail::ColumnTrace{};
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
        csv_detail::malformed_line(rules_);
      }
    }
  }

  std::array<const char*, N> columns_;
  RowRules rules_;
  std::unique_ptr<Reader> reader_;
  std::vector<long> nul_lines_;  ///< sorted
};

namespace csv_detail {

// A file read with pread, so that threads share it; closed on scope exit.
class File {
 public:
  File(const std::string& path, std::string name);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }

  /// Reads `size` bytes at `offset`; a file that ends sooner changed since it was opened.
  void read(char* out, size_t size, uint64_t offset) const;

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
size_t count_lines(const File& file, uint64_t begin, uint64_t end);

// The first line start at or after `offset`, which lies in [from, size].
uint64_t line_start_from(const File& file, uint64_t offset, uint64_t from);

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
void merge_report(const LoadReport& part, LoadReport* report);

// With threads = 0, a range of fewer bytes than this is not worth a thread of its own.
constexpr uint64_t kMinRangeBytes = uint64_t{4} << 20;

}  // namespace csv_detail

// A file on several threads. fccp validates the header; the file is then cut into byte ranges
// at line starts, and each range is parsed on its own thread, every line split by fccp's own
// splitter (io::detail::parse_line, as read_row does), so that a row means what it means in a
// sequential read. The lines of every range are counted first: each range then knows the number
// of its first line (messages stay exact), the output is sized once (no second copy of 25M rows
// at the peak), and range k writes its rows from the slot of its first line on. The ranges are
// then joined in file order; the first error in file order is the one thrown.
//
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
              const CsvOptions& options, LoadReport* report)
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
    file_ = std::make_unique<csv_detail::File>(path, name_);
    uint64_t rows_begin = file_->size();
    std::string header;
    csv_detail::for_each_line(*file_, 0, file_->size(), 1, [&](const csv_detail::Line& line) {
      if (line.number < header_line) return true;
      header.assign(line.begin, line.end);
      rows_begin = line.next;
      return false;
    });
    read_column_order(header, header_line);

    int ranges = std::clamp(options.threads, 0, 256);
    if (ranges == 0) {
      const uint64_t by_size = (file_->size() - rows_begin) / csv_detail::kMinRangeBytes + 1;
      ranges = static_cast<int>(std::clamp<uint64_t>(
          by_size, 1, std::clamp(std::thread::hardware_concurrency(), 1u, 64u)));
    }
    bounds_ = {rows_begin};
    for (int k = 1; k < ranges; ++k) {
      const uint64_t at = rows_begin + (file_->size() - rows_begin) * k / ranges;
      bounds_.push_back(
          std::max(bounds_.back(), csv_detail::line_start_from(*file_, at, rows_begin)));
    }
    bounds_.push_back(file_->size());

    std::vector<size_t> lines(ranges);
    std::vector<std::exception_ptr> errors(ranges);
    csv_detail::run_parallel(ranges, [&](int k) {
      try {
        lines[k] = csv_detail::count_lines(*file_, bounds_[k], bounds_[k + 1]);
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
    csv_detail::run_parallel(ranges, [&](int k) {
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
      csv_detail::merge_report(results[k].report, report_);
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
      io::detail::parse_header_line<N, csv_detail::Trim, csv_detail::TracingQuote>(
          header.data(), col_order_, names.data(), io::ignore_no_column);
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
    csv_detail::for_each_line(
        *file_, bounds_[k], bounds_[k + 1], first_line_ + static_cast<long>(first_slot),
        [&](const csv_detail::Line& line) {
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
          csv_detail::t_trace = csv_detail::ColumnTrace{};
          try {
            io::detail::parse_line<csv_detail::Trim, csv_detail::TracingQuote>(
                copy.data(), fields.data(), col_order_);
          } catch (const io::error::base&) {
            csv_detail::malformed_line(rules);
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
  std::unique_ptr<csv_detail::File> file_;
  std::vector<int> col_order_;
  bool in_order_ = false;
  std::vector<uint64_t> bounds_;    // range k is [bounds_[k], bounds_[k + 1])
  std::vector<size_t> first_slot_;  // of range k's first line; the last entry counts all lines
  long first_line_ = 0;             // the number of the first line after the header
};

}  // namespace dnnrec
