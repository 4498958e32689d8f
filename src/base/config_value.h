// The text form of each config field type (int, int64, float, bool, string, and lists of
// integers, floats and strings):
// parsing with messages that name the value, and the shortest form that reads back the same.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dnnrec::config_value {

/// A value that does not parse as its field's type; the message omits the key, callers add it.
class ValueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Without leading and trailing ASCII whitespace.
std::string trim(const std::string& s);
/// ASCII lower case.
std::string lower(std::string s);
/// 'text', as messages quote values.
std::string quoted(const std::string& s);
/// parts joined by sep.
std::string join(const std::vector<std::string>& parts, const std::string& sep);

/// Parses a field's text form; throws ValueError. Lists: "256,128,64", "[256, 128, 64]" or ""
/// (empty); booleans: true|false|yes|no|on|off|1|0.
void parse_value(const std::string& text, int& out);
void parse_value(const std::string& text, int64_t& out);
void parse_value(const std::string& text, double& out);
void parse_value(const std::string& text, bool& out);
void parse_value(const std::string& text, std::string& out);
void parse_value(const std::string& text, std::vector<int64_t>& out);
void parse_value(const std::string& text, std::vector<double>& out);
/// Items separated by commas, each trimmed; an item cannot hold a comma.
void parse_value(const std::string& text, std::vector<std::string>& out);

/// The text form of a value; doubles in the shortest form that reads back the same, with ".0"
/// on whole numbers (YAML then reads them as floats).
std::string format_value(int v);
std::string format_value(int64_t v);
std::string format_value(double v);
std::string format_value(bool v);
std::string format_value(const std::string& v);
std::string format_value(const std::vector<int64_t>& v);
std::string format_value(const std::vector<double>& v);
std::string format_value(const std::vector<std::string>& v);

/// The type's name in the field table, overloaded on a null pointer of the field's type:
/// int | float | bool | string | int_list | float_list | string_list.
const char* type_name(const int*);
const char* type_name(const int64_t*);
const char* type_name(const double*);
const char* type_name(const bool*);
const char* type_name(const std::string*);
const char* type_name(const std::vector<int64_t>*);
const char* type_name(const std::vector<double>*);
const char* type_name(const std::vector<std::string>*);

/// Whether a field type is one of the lists ("int_list", "float_list", "string_list").
bool is_list_type(const std::string& type);

}  // namespace dnnrec::config_value
