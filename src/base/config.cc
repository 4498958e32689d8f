// The field table of Config, made from the rows of config.h (key, flag, help, check, setter,
// getter), and everything derived from it: --set, key resolution with suggestions, YAML I/O,
// validate().
#include "dnnrec/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <type_traits>

#include <yaml-cpp/yaml.h>

#include "base/config_value.h"
#include "dnnrec/error.h"
#include "models/ranker_names.h"
#include "train/metrics.h"

namespace dnnrec {
namespace {

using namespace config_value;  // NOLINT: the value helpers are this file's vocabulary
// --- checks ---------------------------------------------------------------------------------

// Every problem of a config, collected so the user fixes them in one pass.
class Problems {
 public:
  void add(const std::string& key, const std::string& message) {
    problems_.push_back(key + ": " + message);
  }
  // `hint` replaces the spelling suggestion where the nearest spelling misleads ("gpu").
  void choice(const std::string& key, const std::string& value,
              const std::vector<std::string>& allowed, const std::string& hint = "") {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
    const std::string near = hint.empty() ? nearest(value, allowed) : hint;
    add(key, "must be one of " + join(allowed, " | ") + ", got " + quoted(value) +
                 (near.empty() ? "" : "; did you mean '" + near + "'?"));
  }
  void throw_if_any() const {
    if (!problems_.empty()) throw ConfigError(join(problems_, "\n"));
  }

 private:
  std::vector<std::string> problems_;
};

// The check of one key, as written in its row of config.h (check::at_least(1), ...).
struct Check {
  enum class Kind {
    kNone,
    kAtLeast,
    kGreater,
    kUnit,
    kOpenUnit,
    kFinite,
    kOneOf,
    kNonEmpty,
    kLayerSizes,
    kPositiveList,
    kNonNegativeList
  };
  Check(Kind k = Kind::kNone, double b = 0) : kind(k), bound(b) {}
  Kind kind;
  double bound;  // at_least's and greater's
  std::vector<std::string> choices;
  std::string alias_from, alias_to;  // one_of's hint for a common wrong word ("gpu" -> "cuda")
};

namespace check {
Check none() { return {}; }
Check at_least(double min) { return {Check::Kind::kAtLeast, min}; }
Check greater(double min) { return {Check::Kind::kGreater, min}; }
Check unit() { return {Check::Kind::kUnit}; }
Check open_unit() { return {Check::Kind::kOpenUnit}; }
Check finite() { return {Check::Kind::kFinite}; }
Check non_empty() { return {Check::Kind::kNonEmpty}; }
Check layer_sizes() { return {Check::Kind::kLayerSizes}; }
Check positive_list() { return {Check::Kind::kPositiveList}; }
Check non_negative_list() { return {Check::Kind::kNonNegativeList}; }
// "a|b|c", with an optional "wrong=right" hint.
Check one_of(const std::string& choices, const std::string& alias = "") {
  Check c(Check::Kind::kOneOf);
  std::stringstream parts(choices);
  for (std::string part; std::getline(parts, part, '|');) c.choices.push_back(part);
  const size_t eq = alias.find('=');
  if (eq != std::string::npos) {
    c.alias_from = alias.substr(0, eq);
    c.alias_to = alias.substr(eq + 1);
  }
  return c;
}
}  // namespace check

// Written as !(value >= min) so NaN fails too. Bounds print in the field's type ("0", "0.0").
template <class T>
void check_number(const Check& c, const std::string& key, T value, Problems& p) {
  const T bound = static_cast<T>(c.bound);
  switch (c.kind) {
    case Check::Kind::kAtLeast:
      if (!(value >= bound)) {
        p.add(key, "must be >= " + format_value(bound) + ", got " + format_value(value));
      }
      break;
    case Check::Kind::kGreater:
      if (!(value > bound)) {
        p.add(key, "must be > " + format_value(bound) + ", got " + format_value(value));
      }
      break;
    case Check::Kind::kUnit:
      if (!(value >= 0 && value < 1)) p.add(key, "must be in [0, 1), got " + format_value(value));
      break;
    case Check::Kind::kOpenUnit:
      if (!(value > 0 && value < 1)) p.add(key, "must be in (0, 1), got " + format_value(value));
      break;
    case Check::Kind::kFinite:
      if (!std::isfinite(static_cast<double>(value))) {
        p.add(key, "must be a finite number, got " + format_value(value));
      }
      break;
    default:
      throw std::logic_error(key + ": this check does not apply to a number");
  }
}

void check_value(const Check& c, const std::string& key, const std::string& value, Problems& p) {
  if (c.kind == Check::Kind::kOneOf) {
    p.choice(key, value, c.choices,
             !c.alias_from.empty() && lower(value) == c.alias_from ? c.alias_to : "");
  } else if (c.kind == Check::Kind::kNonEmpty) {
    if (value.empty()) p.add(key, "must not be empty");
  } else {
    throw std::logic_error(key + ": this check does not apply to a string");
  }
}

void check_value(const Check& c, const std::string& key, const std::vector<int64_t>& value,
                 Problems& p) {
  if (c.kind != Check::Kind::kLayerSizes && c.kind != Check::Kind::kPositiveList) {
    throw std::logic_error(key + ": this check does not apply to a list");
  }
  const char* what = c.kind == Check::Kind::kLayerSizes ? "layer sizes" : "values";
  if (c.kind == Check::Kind::kPositiveList && value.empty()) p.add(key, "needs at least one value");
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] < 1) {
      p.add(key, std::string(what) + " must be >= 1, got " + std::to_string(value[i]) +
                     " at position " + std::to_string(i + 1));
    }
  }
}

void check_value(const Check& c, const std::string& key, const std::vector<double>& value,
                 Problems& p) {
  if (c.kind != Check::Kind::kNonNegativeList) {
    throw std::logic_error(key + ": this check does not apply to a list of numbers");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    if (!(value[i] >= 0)) {
      p.add(key, "values must be >= 0, got " + format_value(value[i]) + " at position " +
                     std::to_string(i + 1));
    }
  }
}

void check_value(const Check& c, const std::string& key, const std::vector<std::string>&,
                 Problems&) {
  throw std::logic_error(key + ": a list of names has no check");
}

void check_value(const Check& c, const std::string& key, bool, Problems&) {
  throw std::logic_error(key + ": a boolean has no check");
}

template <class T>
void check_value(const Check& c, const std::string& key, const T& value, Problems& p) {
  static_assert(std::is_arithmetic_v<T>);
  check_number(c, key, value, p);
}

// --- the field table -------------------------------------------------------------------------

struct Field {
  FieldInfo info;
  std::string section;
  std::string name;
  std::function<void(Config&, const std::string&)> parse;  // throws ValueError
  std::function<std::string(const Config&)> format;
  std::function<void(const Config&, Problems&)> check;
};

template <class Section, class T>
Field make_field(const char* section, const char* name, const char* flag,
                 Section Config::*section_ptr, T Section::*member, const Check& check,
                 const char* help) {
  Field f;
  f.section = section;
  f.name = name;
  f.info.key = f.section + "." + f.name;
  f.info.flag = flag;
  f.info.type = type_name(static_cast<const T*>(nullptr));
  f.info.help = help;
  f.parse = [section_ptr, member](Config& c, const std::string& v) {
    parse_value(v, (c.*section_ptr).*member);
  };
  f.format = [section_ptr, member](const Config& c) {
    return format_value((c.*section_ptr).*member);
  };
  if (check.kind != Check::Kind::kNone) {
    f.check = [section_ptr, member, check, key = f.info.key](const Config& c, Problems& p) {
      check_value(check, key, (c.*section_ptr).*member, p);
    };
  }
  f.info.default_value = f.format(Config{});
  return f;
}

#define DNNREC_FIELD(section, type, name, default_value, flag, check_, help)            \
  make_field(#section, #name, flag, &Config::section, &decltype(Config::section)::name, \
             check::check_, help),

// The rows of config.h, in declaration order.
const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      DNNREC_DATA_KEYS(DNNREC_FIELD) DNNREC_FEATURES_KEYS(DNNREC_FIELD)
          DNNREC_MODEL_KEYS(DNNREC_FIELD) DNNREC_TRAIN_KEYS(DNNREC_FIELD)
              DNNREC_EVAL_KEYS(DNNREC_FIELD) DNNREC_OUTPUT_KEYS(DNNREC_FIELD)};
  return table;
}

#undef DNNREC_FIELD

const std::vector<std::string>& section_names() {
  static const std::vector<std::string> names = {"data",  "features", "model",
                                                 "train", "eval",     "output"};
  return names;
}

const Field* find_field(const std::string& full_key) {
  for (const Field& f : fields()) {
    if (f.info.key == full_key) return &f;
  }
  return nullptr;
}

const Field& field_of(const std::string& key) { return *find_field(resolve_config_key(key)); }

// "; did you mean 'train.lr'?" for a key that is not in the table, or "".
std::string key_suggestion(const std::string& key) {
  const std::string bare = key.substr(key.find('.') + 1);
  // The right name in the wrong section ("model.lr") is the likeliest slip.
  std::vector<std::string> same_name;
  for (const Field& f : fields()) {
    if (f.name == bare) same_name.push_back(f.info.key);
  }
  if (same_name.size() == 1) return "; did you mean '" + same_name[0] + "'?";

  std::map<std::string, std::vector<std::string>> by_name;
  std::vector<std::string> candidates;
  for (const Field& f : fields()) {
    candidates.push_back(f.info.key);
    by_name[f.name].push_back(f.info.key);
  }
  for (const auto& [name, keys] : by_name) {
    if (keys.size() == 1) candidates.push_back(name);
  }
  std::string best = nearest(key, candidates);
  if (best.empty()) return "";
  if (best.find('.') == std::string::npos) best = by_name[best][0];
  return "; did you mean '" + best + "'?";
}

// Every problem in a YAML document, collected so the user fixes them in one pass.
class YamlProblems {
 public:
  explicit YamlProblems(std::string source) : source_(std::move(source)) {}
  void add(const YAML::Node& at, const std::string& message) {
    const int line = at.Mark().line;
    problems_.push_back(line >= 0 ? source_ + ": line " + std::to_string(line + 1) + ": " + message
                                  : source_ + ": " + message);
  }
  void throw_if_any() const {
    if (!problems_.empty()) throw ConfigError(join(problems_, "\n"));
  }

 private:
  std::string source_;
  std::vector<std::string> problems_;
};

void merge_value(Config& config, const Field& field, const YAML::Node& key_node,
                 const YAML::Node& value, YamlProblems& problems) {
  // An empty value's mark points past it, at the next line.
  const YAML::Node& at = value.IsNull() || value.Mark().line < 0 ? key_node : value;
  std::string text;
  if (value.IsScalar()) {
    text = value.Scalar();
  } else if (value.IsNull()) {
    if (field.info.type != "string" && !is_list_type(field.info.type)) {
      problems.add(at, field.info.key + ": missing value");
      return;
    }
  } else if (value.IsSequence() && is_list_type(field.info.type)) {
    std::vector<std::string> items;
    for (const YAML::Node& item : value) {
      if (!item.IsScalar()) {
        problems.add(item, field.info.key + ": list items must be single values");
        return;
      }
      items.push_back(item.Scalar());
    }
    text = join(items, ",");
  } else {
    problems.add(at, field.info.key + ": expected a single value, got a " +
                         (value.IsSequence() ? "sequence" : "map"));
    return;
  }
  try {
    field.parse(config, text);
  } catch (const ValueError& e) {
    problems.add(at, field.info.key + ": " + e.what());
  }
}

void merge_section(Config& config, const std::string& section, const YAML::Node& key_node,
                   const YAML::Node& body, YamlProblems& problems) {
  if (body.IsNull()) return;  // "output:" with nothing under it
  if (!body.IsMap()) {
    problems.add(key_node, "section '" + section + "' must be a map of keys");
    return;
  }
  std::set<std::string> seen;
  for (const auto& entry : body) {
    const std::string name = entry.first.Scalar();
    const std::string key = section + "." + name;
    const Field* field = find_field(key);
    if (!field) {
      problems.add(entry.first, "unknown key '" + key + "'" + key_suggestion(key));
      continue;
    }
    if (!seen.insert(name).second) {
      problems.add(entry.first, "duplicate key '" + key + "'");
      continue;
    }
    merge_value(config, *field, entry.first, entry.second, problems);
  }
}

// A YAML scalar that reads back as the same string: plain when unambiguous, else double-quoted.
std::string yaml_string(const std::string& s) {
  static const std::set<std::string> kReserved = {"true", "false", "yes", "no",   "on",
                                                  "off",  "y",     "n",   "null", "~"};
  bool plain = !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
               !kReserved.count(lower(s));
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' &&
        c != '/') {
      plain = false;
    }
  }
  if (plain) return s;
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

const std::vector<FieldInfo>& config_fields() {
  static const std::vector<FieldInfo> infos = [] {
    std::vector<FieldInfo> out;
    for (const Field& f : fields()) out.push_back(f.info);
    return out;
  }();
  return infos;
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string w = lower(word);
  const size_t limit = std::max<size_t>(2, w.size() / 3);
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : candidates) {
    // Levenshtein distance with one rolling row.
    const std::string c = lower(candidate);
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= w.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        const size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (w[i - 1] == c[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    const size_t d = row[c.size()];
    // d < w.size(): a one-letter word is not "close" to every two-letter name.
    if (d <= limit && d < w.size() && d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string resolve_config_key(const std::string& key) {
  if (find_field(key)) return key;
  if (key.find('.') == std::string::npos) {
    // Bare names, also as CLI spellings: "batch-size" and "seq-len" work like "batch_size".
    std::string name = key;
    std::replace(name.begin(), name.end(), '-', '_');
    std::vector<std::string> matches;
    for (const Field& f : fields()) {
      if (f.name == name) matches.push_back(f.info.key);
    }
    if (matches.empty()) {
      for (const Field& f : fields()) {
        if (!f.info.flag.empty() && f.info.flag == key) matches.push_back(f.info.key);
      }
    }
    if (matches.size() == 1) return matches[0];
    if (matches.size() > 1) {
      throw ConfigError("ambiguous config key '" + key + "'; use one of " + join(matches, ", "));
    }
  }
  throw ConfigError("unknown config key '" + key + "'" + key_suggestion(key));
}

void Config::set(const std::string& key, const std::string& value) {
  const Field& field = field_of(key);
  try {
    field.parse(*this, value);
  } catch (const ValueError& e) {
    throw ConfigError(field.info.key + ": " + e.what());
  }
}

std::string Config::get(const std::string& key) const { return field_of(key).format(*this); }

void Config::merge_yaml_string(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    const std::string where =
        e.mark.line >= 0 ? source + ": line " + std::to_string(e.mark.line + 1) : source;
    throw ConfigError(where + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;
  YamlProblems problems(source);
  if (!root.IsMap()) {
    problems.add(root,
                 "the top level must be a map of sections (" + join(section_names(), ", ") + ")");
    problems.throw_if_any();
  }
  // Applied to a copy: a document with any problem changes nothing.
  Config merged = *this;
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const std::string section = entry.first.Scalar();
    const auto& names = section_names();
    if (std::find(names.begin(), names.end(), section) == names.end()) {
      const std::string near = nearest(section, names);
      problems.add(entry.first, "unknown section '" + section + "'" +
                                    (near.empty() ? "" : "; did you mean '" + near + "'?"));
      continue;
    }
    if (!seen.insert(section).second) {
      problems.add(entry.first, "duplicate section '" + section + "'");
      continue;
    }
    merge_section(merged, section, entry.first, entry.second, problems);
  }
  problems.throw_if_any();
  *this = std::move(merged);
}

void Config::merge_yaml_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw ConfigError("config file '" + path + "' not found");
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("config file '" + path + "' is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  merge_yaml_string(text.str(), path);
  // A blend's members named by this file are taken from the file's folder, so a config runs the
  // same from any working directory.
  const YAML::Node doc = YAML::Load(text.str());
  if (doc.IsMap() && doc["model"] && doc["model"].IsMap() && doc["model"]["members"]) {
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    for (std::string& member : model.members) {
      if (std::filesystem::path(member).is_relative()) {
        member = (folder / member).lexically_normal().string();
      }
    }
  }
}

std::string Config::to_yaml() const {
  std::string out;
  std::string section;
  for (const Field& f : fields()) {
    if (f.section != section) {
      out += (section.empty() ? "" : "\n") + f.section + ":\n";
      section = f.section;
    }
    std::string value = f.format(*this);
    if (f.info.type == "string") {
      value = yaml_string(value);
    } else if (is_list_type(f.info.type)) {
      std::vector<std::string> parts;
      std::stringstream items(value);
      for (std::string item; std::getline(items, item, ',');) {
        parts.push_back(f.info.type == "string_list" ? yaml_string(item) : item);
      }
      value = "[" + join(parts, ", ") + "]";
    }
    out += "  # " + f.info.help + "\n  " + f.name + ": " + value + "\n";
  }
  return out;
}

std::string Config::effective_loss() const {
  if (train.loss != "auto") return train.loss;
  if (train.task == "ranking") return ranker_loss(model.name);
  return train.task == "binary" ? "bce" : "mse";
}

namespace {

// Why a features.history value skews with this split, or "".
std::string history_problem(const std::string& history, const std::string& split) {
  if (history != "before" || (split != "random" && split != "random-per-user")) return "";
  return "'before' needs a temporal or leave-last split: with the random split a held-out "
         "rating lies inside its user's timeline, so training on the ratings just before each "
         "example teaches context that no evaluated or served rating has (use others or auto)";
}

}  // namespace

std::string resolve_history(const std::string& history, const std::string& split) {
  if (history != "auto" && history != "others" && history != "before") {
    throw ConfigError("features.history must be one of auto | others | before, got '" + history +
                      "'");
  }
  const std::string problem = history_problem(history, split);
  if (!problem.empty()) throw ConfigError("features.history: " + problem);
  if (history != "auto") return history;
  return split == "random" || split == "random-per-user" ? "others" : "before";
}

std::string Config::effective_history() const {
  return resolve_history(features.history, data.split);
}

std::string Config::effective_monitor() const {
  if (train.monitor != "auto") return train.monitor;
  if (train.task == "ranking") {
    const auto& ks = eval.topk;
    const bool has_10 = std::find(ks.begin(), ks.end(), 10) != ks.end();
    return "val_ndcg@" + std::to_string(has_10 || ks.empty() ? 10 : ks.front());
  }
  return train.task == "binary" ? "val_auc" : "val_rmse";
}

std::string Config::effective_mode() const {
  if (train.mode != "auto") return train.mode;
  const std::string monitor = effective_monitor();
  return metric_higher_is_better(monitor) ? "max" : "min";
}

namespace {

// A check that ties keys together, run right after the key it is listed under.
struct Rule {
  const char* after;
  void (*check)(const Config&, Problems&);
};

bool task_known(const Config& c) {
  return c.train.task == "rating" || c.train.task == "binary" || c.train.task == "ranking";
}

// A blend names two or more members and at most one weight each; the other models none.
void check_blend(const Config& c, Problems& p) {
  const auto& m = c.model;
  if (m.name != "blend") {
    if (!m.members.empty() || !m.member_weights.empty()) {
      p.add(m.members.empty() ? "model.member_weights" : "model.members",
            "belongs to model blend, not " + quoted(m.name) + ": leave it empty");
    }
    return;
  }
  if (m.members.size() < 2) {
    p.add("model.members", "a blend needs two or more members (config files or checkpoints), got " +
                               std::to_string(m.members.size()));
  }
  if (!m.member_weights.empty() && m.member_weights.size() != m.members.size()) {
    p.add("model.member_weights", "one weight per member: " + std::to_string(m.members.size()) +
                                      " members, " + std::to_string(m.member_weights.size()) +
                                      " weights");
  }
  double sum = 0;
  for (double w : m.member_weights) sum += w;
  if (!m.member_weights.empty() && !(sum > 0)) {
    p.add("model.member_weights", "at least one weight must be > 0");
  }
}

// The ranking task takes the ranking models and splits, the other tasks the rest.
void check_task_model(const Config& c, Problems& p) {
  if (!task_known(c)) return;
  const auto& rankers = ranker_names();
  const bool ranker = std::find(rankers.begin(), rankers.end(), c.model.name) != rankers.end();
  if (c.train.task == "ranking" && !ranker) {
    p.add("model.name", quoted(c.model.name) + " is not a ranking model; with train.task " +
                            "ranking use one of " + join(rankers, " | "));
  }
  if (c.train.task != "ranking" && ranks_only(c.model.name)) {
    p.add("model.name", quoted(c.model.name) + " ranks items: it needs train.task ranking");
  }
  if (c.train.task == "ranking" && c.eval.exclude == "rated" && c.data.split == "leave-last") {
    p.add("eval.exclude",
          "rated needs the random-per-user split: with leave-last, a movie rated "
          "after the held-out one would be known before it was rated");
  }
  if (c.model.recency_tau > 0 && c.model.name != "itemknn" && c.model.name != "ease") {
    p.add("model.recency_tau", "weighs the history of itemknn and ease only, not " +
                                   quoted(c.model.name) + ": leave it 0");
  }
  if (c.model.recency_tau > 0 && c.features.history_len < 1) {
    p.add("features.history_len",
          "model.recency_tau reads the latest history_len items: must be >= 1");
  }
  if (c.model.name == "sasrec" && c.features.history_len < 1) {
    p.add("features.history_len", "sasrec reads the latest history_len items: must be >= 1");
  }
  if (c.model.name == "sasrec" && c.model.embedding_dim % c.model.heads != 0) {
    p.add("model.heads", "model.embedding_dim (" + std::to_string(c.model.embedding_dim) +
                             ") must be a multiple of the heads (" + std::to_string(c.model.heads) +
                             ")");
  }
  check_blend(c, p);
  if (c.train.dislike_threshold >= 0 && !(c.train.dislike_threshold < c.train.like_threshold)) {
    p.add("train.dislike_threshold", "must be below train.like_threshold (" +
                                         format_value(c.train.like_threshold) + "), got " +
                                         format_value(c.train.dislike_threshold));
  }
  if (c.train.task == "ranking" && c.data.split != "random-per-user" &&
      c.data.split != "leave-last") {
    p.add("data.split", "the ranking task splits each user's interactions: random-per-user or " +
                            std::string("leave-last, got ") + c.data.split);
  }
}

void check_ratios(const Config& c, Problems& p) {
  if (!(c.data.val_ratio + c.data.test_ratio < 1)) {
    p.add("data.val_ratio + data.test_ratio",
          "must be < 1 (something must be left to train on), got " +
              format_value(c.data.val_ratio) + " + " + format_value(c.data.test_ratio));
  }
}

void check_rating_scale(const Config& c, Problems& p) {
  if (!(c.data.min_rating < c.data.max_rating)) {
    p.add("data.min_rating", "must be < data.max_rating (" + format_value(c.data.max_rating) +
                                 "), got " + format_value(c.data.min_rating));
  }
}

void check_history(const Config& c, Problems& p) {
  const std::string skew = history_problem(c.features.history, c.data.split);
  if (!skew.empty()) p.add("features.history", skew);
}

void check_loss_task(const Config& c, Problems& p) {
  const TrainConfig& t = c.train;
  if (t.task == "ranking" && t.loss != "auto") {
    p.add("train.loss", "the ranking models bring their own loss (" + ranker_loss("bpr") +
                            " for bpr, " + ranker_loss("two-tower") +
                            " for two-tower): leave it auto, got " + t.loss);
  }
  if (!task_known(c)) return;
  if (t.loss == "bce" && t.task != "binary") {
    p.add("train.loss", "bce needs train.task binary, but the task is " + t.task);
  }
  if ((t.loss == "mse" || t.loss == "huber") && t.task != "rating") {
    p.add("train.loss", t.loss + " needs train.task rating, but the task is " + t.task);
  }
}

void check_monitor(const Config& c, Problems& p) {
  const TrainConfig& t = c.train;
  if (!task_known(c) || t.monitor == "auto") return;
  std::vector<std::string> monitors = {"auto", "train_loss"};
  const std::vector<int> ks(c.eval.topk.begin(), c.eval.topk.end());
  for (const std::string& m : task_metrics(t.task, ks)) monitors.push_back("val_" + m);
  if (std::find(monitors.begin(), monitors.end(), t.monitor) != monitors.end()) return;
  // A metric of the other task (the default val_rmse with task binary) maps to this task's
  // headline metric; anything else gets the nearest spelling.
  const std::string other = t.task == "binary" ? "rating" : "binary";
  bool other_task = false;
  if (t.task != "ranking") {
    for (const std::string& m : task_metrics(other)) other_task |= t.monitor == "val_" + m;
  }
  const std::string near = other_task ? monitors[2] : nearest(t.monitor, monitors);
  p.add("train.monitor", quoted(t.monitor) + " is not a metric of task " + t.task + " (" +
                             join(monitors, " | ") + ")" +
                             (near.empty() ? "" : "; did you mean '" + near + "'?"));
}

const Rule kRules[] = {
    {"data.test_ratio", check_ratios},   {"data.min_rating", check_rating_scale},
    {"features.history", check_history}, {"train.loss", check_loss_task},
    {"train.monitor", check_monitor},    {"train.task", check_task_model},
};

}  // namespace

void Config::validate() const {
  Problems p;
  for (const Field& f : fields()) {
    if (f.check) f.check(*this, p);
    for (const Rule& rule : kRules) {
      if (f.info.key == rule.after) rule.check(*this, p);
    }
  }
  p.throw_if_any();
}

}  // namespace dnnrec
