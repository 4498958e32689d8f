// The non-template half of the CSV reader (csv_reader.h): messages, UTF-8 and row-count helpers,
// the fccp exceptions turned into bad rows, pread-based line counting, and the bad-row report.
#include "data/csv_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace dnnrec {
namespace {

constexpr size_t kMaxExamples = 5;

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

}  // namespace

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

void append_csv_field(std::string& out, std::string_view field) {
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

std::string csv_field(std::string_view field) {
  std::string out;
  append_csv_field(out, field);
  return out;
}

std::string format_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", x);
  return buffer;
}

size_t estimate_rows(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
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

namespace csv_detail {

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

std::vector<long> lines_with_nul(const std::string& path, bool first_line_only) {
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

File::File(const std::string& path, std::string name) : path_(path), name_(std::move(name)) {
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

File::~File() { ::close(fd_); }

void File::read(char* out, size_t size, uint64_t offset) const {
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

}  // namespace csv_detail
}  // namespace dnnrec
