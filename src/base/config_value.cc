// The text form of each config field type: parse_value (throws ValueError) and format_value,
// shared by --set, YAML and validate's messages.
#include "base/config_value.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>
#include <system_error>

namespace dnnrec::config_value {
std::string trim(const std::string& s) {
  size_t begin = 0;
  size_t end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return s.substr(begin, end - begin);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

namespace {
// from_chars rejects a leading '+', which people do write ("+5", "+1e-3").
std::string without_plus(const std::string& s) {
  return s.size() > 1 && s[0] == '+' && s[1] != '-' ? s.substr(1) : s;
}

// Parses a whole integer of type T; false when `text` is not exactly one integer in range.
template <class T>
bool parse_integer(const std::string& text, T& out, bool& out_of_range) {
  const std::string s = without_plus(trim(text));
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  out_of_range = ec == std::errc::result_out_of_range;
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return false;
  out = value;
  return true;
}

// --- one parse_value / format_value / type_name per field type ------------------------------

template <class T>
void parse_int_value(const std::string& text, T& out) {
  bool out_of_range = false;
  if (!parse_integer(text, out, out_of_range)) {
    throw ValueError(quoted(text) +
                     (out_of_range ? " is out of range for an integer" : " is not an integer"));
  }
}
}  // namespace

void parse_value(const std::string& text, int& out) { parse_int_value(text, out); }
void parse_value(const std::string& text, int64_t& out) { parse_int_value(text, out); }

void parse_value(const std::string& text, double& out) {
  const std::string s = without_plus(trim(text));
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    throw ValueError(quoted(text) + " is not a number");
  }
  if (!std::isfinite(value)) throw ValueError(quoted(text) + " is not a finite number");
  out = value;
}

void parse_value(const std::string& text, bool& out) {
  const std::string s = lower(trim(text));
  if (s == "true" || s == "yes" || s == "on" || s == "1") {
    out = true;
  } else if (s == "false" || s == "no" || s == "off" || s == "0") {
    out = false;
  } else {
    throw ValueError(quoted(text) + " is not a boolean (true|false|yes|no|on|off|1|0)");
  }
}

void parse_value(const std::string& text, std::string& out) { out = text; }

namespace {
// The items of "a,b,c", "[a, b, c]" or "" (none), each trimmed; false for an empty item.
bool list_items(const std::string& text, std::vector<std::string>& items) {
  std::string s = trim(text);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = trim(s.substr(1, s.size() - 2));
  items.clear();
  if (s.empty()) return true;
  if (s.back() == ',') return false;
  std::stringstream parts(s);
  for (std::string part; std::getline(parts, part, ',');) {
    items.push_back(trim(part));
    if (items.back().empty()) return false;
  }
  return true;
}
}  // namespace

// "256,128,64", "[256, 128, 64]" or "" (no hidden layers).
void parse_value(const std::string& text, std::vector<int64_t>& out) {
  std::vector<std::string> items;
  std::vector<int64_t> values;
  bool ok = list_items(text, items);
  for (size_t i = 0; ok && i < items.size(); ++i) {
    int64_t value = 0;
    bool out_of_range = false;
    ok = parse_integer(items[i], value, out_of_range);
    values.push_back(value);
  }
  if (!ok) throw ValueError(quoted(text) + " is not a list of integers (e.g. 256,128,64)");
  out = std::move(values);
}

// "0.7,0.3", "[0.7, 0.3]" or "".
void parse_value(const std::string& text, std::vector<double>& out) {
  std::vector<std::string> items;
  if (!list_items(text, items)) {
    throw ValueError(quoted(text) + " is not a list of numbers (e.g. 0.7,0.3)");
  }
  std::vector<double> values(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    try {
      parse_value(items[i], values[i]);
    } catch (const ValueError&) {
      throw ValueError(quoted(text) + " is not a list of numbers (e.g. 0.7,0.3)");
    }
  }
  out = std::move(values);
}

// "a.yaml,b.yaml", "[a.yaml, b.yaml]" or "".
void parse_value(const std::string& text, std::vector<std::string>& out) {
  std::vector<std::string> items;
  if (!list_items(text, items)) {
    throw ValueError(quoted(text) +
                     " is not a list of names (e.g. a.yaml,b.yaml): an item is empty");
  }
  out = std::move(items);
}

std::string format_value(int v) { return std::to_string(v); }
std::string format_value(int64_t v) { return std::to_string(v); }
std::string format_value(bool v) { return v ? "true" : "false"; }
std::string format_value(const std::string& v) { return v; }

// Shortest form that reads back to the same double: 0.001, not 0.0010000000000000000208.
// Plain decimals in the usual range (0.0005, not 5e-04); a ".0" keeps whole numbers
// recognisable as floats in YAML ("5.0", not "5").
std::string format_value(double v) {
  char buf[128];
  const double magnitude = std::abs(v);
  const bool fixed = magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e15);
  const auto [end, ec] = fixed ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
                               : std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string format_value(const std::vector<int64_t>& v) {
  std::vector<std::string> parts;
  for (int64_t x : v) parts.push_back(std::to_string(x));
  return join(parts, ",");
}

std::string format_value(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(format_value(x));
  return join(parts, ",");
}

std::string format_value(const std::vector<std::string>& v) { return join(v, ","); }

// Overloaded on a null pointer of the field type, so each type names itself in one line.
const char* type_name(const int*) { return "int"; }
const char* type_name(const int64_t*) { return "int"; }
const char* type_name(const double*) { return "float"; }
const char* type_name(const bool*) { return "bool"; }
const char* type_name(const std::string*) { return "string"; }
const char* type_name(const std::vector<int64_t>*) { return "int_list"; }
const char* type_name(const std::vector<double>*) { return "float_list"; }
const char* type_name(const std::vector<std::string>*) { return "string_list"; }

bool is_list_type(const std::string& type) {
  return type == "int_list" || type == "float_list" || type == "string_list";
}

}  // namespace dnnrec::config_value
