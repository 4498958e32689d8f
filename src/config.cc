// The field table of Config (one declaration per option: key, flag, help, setter, getter),
// and everything derived from it: --set, key resolution with suggestions, YAML I/O, validation.
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

#include <yaml-cpp/yaml.h>

#include "dnnrec/error.h"
#include "dnnrec/metrics.h"

namespace dnnrec {
namespace {

// A value that does not parse as its field's type; the message omits the key, callers add it.
class ValueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

// "256,128,64", "[256, 128, 64]" or "" (no hidden layers).
void parse_value(const std::string& text, std::vector<int64_t>& out) {
  std::string s = trim(text);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = trim(s.substr(1, s.size() - 2));
  std::vector<int64_t> values;
  if (!s.empty()) {
    std::stringstream parts(s);
    std::string part;
    while (std::getline(parts, part, ',')) {
      int64_t value = 0;
      bool out_of_range = false;
      if (!parse_integer(part, value, out_of_range)) {
        throw ValueError(quoted(text) + " is not a list of integers (e.g. 256,128,64)");
      }
      values.push_back(value);
    }
    if (s.back() == ',') {
      throw ValueError(quoted(text) + " is not a list of integers (e.g. 256,128,64)");
    }
  }
  out = std::move(values);
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

// Overloaded on a null pointer of the field type, so each type names itself in one line.
const char* type_name(const int*) { return "int"; }
const char* type_name(const int64_t*) { return "int"; }
const char* type_name(const double*) { return "float"; }
const char* type_name(const bool*) { return "bool"; }
const char* type_name(const std::string*) { return "string"; }
const char* type_name(const std::vector<int64_t>*) { return "int_list"; }

// --- the field table -------------------------------------------------------------------------

struct Field {
  FieldInfo info;
  std::string section;
  std::string name;
  std::function<void(Config&, const std::string&)> parse;  // throws ValueError
  std::function<std::string(const Config&)> format;
};

template <class Section, class T>
Field make_field(const char* section, const char* name, const char* flag,
                 Section Config::*section_ptr, T Section::*member, const char* help) {
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
  f.info.default_value = f.format(Config{});
  return f;
}

// One line per option: section, member, CLI flag ("" = --set and YAML only), help.
#define DNNREC_FIELD(section, name, flag, help) \
  make_field(#section, #name, flag, &Config::section, &decltype(Config::section)::name, help)

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      DNNREC_FIELD(data, dir, "data",
                   "Folder in MovieLens layout (ratings.csv, movies.csv, tags.csv, links.csv)."),
      DNNREC_FIELD(data, split, "split", "Split method: random | temporal | leave-last."),
      DNNREC_FIELD(data, val_ratio, "",
                   "Fraction of ratings for validation (random, temporal), in [0, 1)."),
      DNNREC_FIELD(data, test_ratio, "",
                   "Fraction of ratings for test (random, temporal), in [0, 1)."),
      DNNREC_FIELD(data, split_seed, "",
                   "Seed of the random split; separate from train.seed so seeds vary the model, "
                   "not the test set."),
      DNNREC_FIELD(data, on_bad_row, "on-bad-row",
                   "What a malformed CSV row does: fail (stop with file:line, exit 2) | skip "
                   "(count and report)."),
      DNNREC_FIELD(data, min_rating, "",
                   "Lowest valid rating; predictions are clipped to [min_rating, max_rating]."),
      DNNREC_FIELD(data, max_rating, "", "Highest valid rating."),
      DNNREC_FIELD(data, cache, "",
                   "Keep a binary copy of the parsed CSVs in <dir>/.dnnrec-cache/ (rewritten "
                   "whenever a CSV changes), so later runs skip parsing."),

      DNNREC_FIELD(features, history_len, "seq-len",
                   "Length L of the user history, >= 0: the user's latest L training ratings when "
                   "a rating is evaluated or served; for a training example, see history."),
      DNNREC_FIELD(features, history, "history",
                   "The history of a training example: others (the user's other training "
                   "ratings, the latest L: SVD++'s N(u)) | before (the training ratings before "
                   "it: sequential training) | auto (others for the random split, before for "
                   "temporal and leave-last). before with the random split is refused: held-out "
                   "ratings lie inside the timeline, which serving never sees."),
      DNNREC_FIELD(features, genre_len, "", "Length of the genre sequence of a movie, >= 0."),
      DNNREC_FIELD(features, tag_len, "", "Number T of most frequent tags kept per movie, >= 0."),
      DNNREC_FIELD(features, padding, "", "Keras pad_sequences padding: pre | post."),
      DNNREC_FIELD(features, truncating, "", "Keras pad_sequences truncating: pre | post."),
      DNNREC_FIELD(features, use_year, "", "Use the release year parsed from the title."),

      DNNREC_FIELD(model, name, "model",
                   "Model name from the registry (dnnrec config --models lists them)."),
      DNNREC_FIELD(model, embedding_dim, "embedding-dim",
                   "Embedding size of every id feature, >= 1."),
      DNNREC_FIELD(model, hidden, "hidden",
                   "Hidden layer sizes of the MLP tower, e.g. 256,128,64."),
      DNNREC_FIELD(model, activation, "",
                   "Tower activation: relu | gelu | tanh | sigmoid | leaky_relu."),
      DNNREC_FIELD(model, dropout, "dropout", "Dropout after each hidden layer, in [0, 1)."),
      DNNREC_FIELD(model, batch_norm, "", "Batch normalisation after each hidden linear layer."),
      DNNREC_FIELD(model, bias_terms, "",
                   "Add user and movie bias terms to the output (dnn, wide-deep, deepfm)."),
      DNNREC_FIELD(model, implicit, "",
                   "dnn: add an SVD++-like implicit term, the movie factor times the mean of the "
                   "user's history factors (training history only)."),

      DNNREC_FIELD(train, task, "task",
                   "rating (regression on the rating) | binary (liked = rating >= "
                   "like_threshold)."),
      DNNREC_FIELD(train, like_threshold, "", "Threshold of the binary task's \"liked\" target."),
      DNNREC_FIELD(train, epochs, "epochs", "Number of epochs, >= 1."),
      DNNREC_FIELD(train, batch_size, "batch-size", "Mini-batch size, >= 1."),
      DNNREC_FIELD(train, eval_batch_size, "", "Batch size for evaluation and prediction, >= 1."),
      DNNREC_FIELD(train, lr, "lr", "Learning rate, > 0."),
      DNNREC_FIELD(train, optimizer, "optimizer",
                   "Optimizer: adam | adamw | sgd | adagrad | rmsprop."),
      DNNREC_FIELD(train, weight_decay, "",
                   "L2 weight decay of the dense (non-embedding) weights (decoupled for adamw), "
                   ">= 0."),
      DNNREC_FIELD(train, embedding_l2, "",
                   "L2 penalty on the embedding rows each batch touches (per example), >= 0; "
                   "embedding tables are never decayed densely."),
      DNNREC_FIELD(train, lr_schedule, "",
                   "Learning-rate schedule: none | step | cosine | plateau."),
      DNNREC_FIELD(train, lr_step_epochs, "",
                   "step: multiply the rate by lr_gamma every lr_step_epochs epochs, >= 1."),
      DNNREC_FIELD(train, lr_gamma, "", "Factor of step and plateau decays, in (0, 1)."),
      DNNREC_FIELD(train, lr_patience, "",
                   "plateau: decay after this many epochs without improvement of the monitored "
                   "metric, >= 1."),
      DNNREC_FIELD(train, min_lr, "", "Floor of every schedule (cosine ends here), >= 0."),
      DNNREC_FIELD(train, warmup_epochs, "",
                   "Linear warm-up of the rate over the first N epochs (fractions allowed), >= 0."),
      DNNREC_FIELD(train, clip_norm, "", "Clip the global gradient norm to this value; 0 = off."),
      DNNREC_FIELD(train, lazy_embeddings, "",
                   "Row-wise (lazy) optimizer updates of embedding tables: a step changes only "
                   "the rows its batch touched; false = dense updates of every row (slower)."),
      DNNREC_FIELD(train, seeds, "seeds",
                   "Train this many seeds (seed, seed+1, ...) and report mean +- std of every "
                   "metric, >= 1."),
      DNNREC_FIELD(train, momentum, "", "Momentum of sgd and rmsprop, in [0, 1)."),
      DNNREC_FIELD(train, loss, "loss",
                   "Loss: auto (mse for rating, bce for binary) | mse | huber | bce."),
      DNNREC_FIELD(train, huber_delta, "", "Delta of the huber loss, > 0."),
      DNNREC_FIELD(train, shuffle, "", "Shuffle the training data every epoch."),
      DNNREC_FIELD(train, seed, "seed",
                   "Seed of torch, the shuffler and every other random source of training."),
      DNNREC_FIELD(train, threads, "threads",
                   "Threads; 0 = all cores. Training runs slices of each batch in parallel."),
      DNNREC_FIELD(train, device, "device", "Device: cpu | cuda | auto (cuda when available)."),
      DNNREC_FIELD(train, checkpoint_every, "checkpoint-every",
                   "Write a periodic checkpoint every N epochs into checkpoints/; 0 = never."),
      DNNREC_FIELD(train, checkpoint_every_steps, "checkpoint-every-steps",
                   "Also write last.pt every N optimizer steps within an epoch, a point "
                   "--resume continues from exactly; 0 = only at epoch ends."),
      DNNREC_FIELD(train, checkpoint_name, "",
                   "File name template of periodic checkpoints; placeholders {epoch:04d}, "
                   "{val_rmse:.4f}, {monitor:.4f} (the monitored metric), {step}, ..."),
      DNNREC_FIELD(train, save_best, "save-best",
                   "Keep best.pt: the checkpoint with the best monitored metric."),
      DNNREC_FIELD(train, monitor, "monitor",
                   "Metric watched by save_best and early stopping: auto (val_rmse for rating, "
                   "val_auc for binary) | val_<metric> | train_loss."),
      DNNREC_FIELD(train, mode, "", "auto (max for auc and accuracy, min otherwise) | min | max."),
      DNNREC_FIELD(train, save_weights_only, "",
                   "Checkpoints hold weights only (no optimizer state)."),
      DNNREC_FIELD(train, patience, "patience", "Early stopping patience in epochs; 0 = off."),
      DNNREC_FIELD(train, min_delta, "",
                   "Smallest change of the monitored metric that counts as an improvement, >= 0."),
      DNNREC_FIELD(train, restore_best, "",
                   "At the end of training, restore the weights of the best epoch (when best is "
                   "tracked)."),

      DNNREC_FIELD(output, dir, "out", "Run directory; empty = runs/<timestamp>."),
      DNNREC_FIELD(output, plots, "plots",
                   "Draw learning curves (PNG) into the run directory with scripts/plot.py when "
                   "python3-matplotlib is installed."),
  };
  return table;
}

#undef DNNREC_FIELD

const std::vector<std::string>& section_names() {
  static const std::vector<std::string> names = {"data", "features", "model", "train", "output"};
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
    if (field.info.type != "string" && field.info.type != "int_list") {
      problems.add(at, field.info.key + ": missing value");
      return;
    }
  } else if (value.IsSequence() && field.info.type == "int_list") {
    std::vector<std::string> items;
    for (const YAML::Node& item : value) {
      if (!item.IsScalar()) {
        problems.add(item, field.info.key + ": list items must be integers");
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

// --- validation helpers ----------------------------------------------------------------------

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
  // Written as !(value >= min) so NaN fails too.
  template <class T>
  void at_least(const std::string& key, T value, T min) {
    if (!(value >= min))
      add(key, "must be >= " + format_value(min) + ", got " + format_value(value));
  }
  void greater(const std::string& key, double value, double min) {
    if (!(value > min)) add(key, "must be > " + format_value(min) + ", got " + format_value(value));
  }
  void unit_interval(const std::string& key, double value) {
    if (!(value >= 0 && value < 1)) add(key, "must be in [0, 1), got " + format_value(value));
  }
  void throw_if_any() const {
    if (!problems_.empty()) throw ConfigError(join(problems_, "\n"));
  }

 private:
  std::vector<std::string> problems_;
};

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
    } else if (f.info.type == "int_list") {
      std::replace(value.begin(), value.end(), ',', ' ');
      std::stringstream items(value);
      std::vector<std::string> parts;
      for (std::string item; items >> item;) parts.push_back(item);
      value = "[" + join(parts, ", ") + "]";
    }
    out += "  # " + f.info.help + "\n  " + f.name + ": " + value + "\n";
  }
  return out;
}

std::string Config::effective_loss() const {
  if (train.loss != "auto") return train.loss;
  return train.task == "binary" ? "bce" : "mse";
}

namespace {

// Why a features.history value skews with this split, or "".
std::string history_problem(const std::string& history, const std::string& split) {
  if (history != "before" || split != "random") return "";
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
  return split == "random" ? "others" : "before";
}

std::string Config::effective_history() const {
  return resolve_history(features.history, data.split);
}

std::string Config::effective_monitor() const {
  if (train.monitor != "auto") return train.monitor;
  return train.task == "binary" ? "val_auc" : "val_rmse";
}

std::string Config::effective_mode() const {
  if (train.mode != "auto") return train.mode;
  const std::string monitor = effective_monitor();
  return metric_higher_is_better(monitor) ? "max" : "min";
}

void Config::validate() const {
  Problems p;
  // data
  p.choice("data.split", data.split, {"random", "temporal", "leave-last"});
  p.unit_interval("data.val_ratio", data.val_ratio);
  p.unit_interval("data.test_ratio", data.test_ratio);
  if (!(data.val_ratio + data.test_ratio < 1)) {
    p.add("data.val_ratio + data.test_ratio",
          "must be < 1 (something must be left to train on), got " + format_value(data.val_ratio) +
              " + " + format_value(data.test_ratio));
  }
  p.choice("data.on_bad_row", data.on_bad_row, {"fail", "skip"});
  if (!(data.min_rating < data.max_rating)) {
    p.add("data.min_rating", "must be < data.max_rating (" + format_value(data.max_rating) +
                                 "), got " + format_value(data.min_rating));
  }
  // features
  p.at_least("features.history_len", features.history_len, 0);
  p.choice("features.history", features.history, {"auto", "others", "before"});
  const std::string history_skew = history_problem(features.history, data.split);
  if (!history_skew.empty()) p.add("features.history", history_skew);
  p.at_least("features.genre_len", features.genre_len, 0);
  p.at_least("features.tag_len", features.tag_len, 0);
  p.choice("features.padding", features.padding, {"pre", "post"});
  p.choice("features.truncating", features.truncating, {"pre", "post"});
  // model (model.name is checked by the model registry, which knows the names)
  p.at_least("model.embedding_dim", model.embedding_dim, 1);
  for (size_t i = 0; i < model.hidden.size(); ++i) {
    if (model.hidden[i] < 1) {
      p.add("model.hidden", "layer sizes must be >= 1, got " + std::to_string(model.hidden[i]) +
                                " at position " + std::to_string(i + 1));
    }
  }
  p.choice("model.activation", model.activation, {"relu", "gelu", "tanh", "sigmoid", "leaky_relu"});
  p.unit_interval("model.dropout", model.dropout);
  // train
  const bool task_ok = train.task == "rating" || train.task == "binary";
  p.choice("train.task", train.task, {"rating", "binary"});
  if (!std::isfinite(train.like_threshold)) {
    p.add("train.like_threshold",
          "must be a finite number, got " + format_value(train.like_threshold));
  }
  p.at_least("train.epochs", train.epochs, 1);
  p.at_least("train.batch_size", train.batch_size, 1);
  p.at_least("train.eval_batch_size", train.eval_batch_size, 1);
  p.greater("train.lr", train.lr, 0);
  p.choice("train.optimizer", train.optimizer, {"adam", "adamw", "sgd", "adagrad", "rmsprop"});
  p.at_least("train.weight_decay", train.weight_decay, 0.0);
  p.unit_interval("train.momentum", train.momentum);
  p.choice("train.loss", train.loss, {"auto", "mse", "huber", "bce"});
  if (task_ok && train.loss == "bce" && train.task != "binary") {
    p.add("train.loss", "bce needs train.task binary, but the task is " + train.task);
  }
  if (task_ok && (train.loss == "mse" || train.loss == "huber") && train.task != "rating") {
    p.add("train.loss", train.loss + " needs train.task rating, but the task is " + train.task);
  }
  p.greater("train.huber_delta", train.huber_delta, 0);
  p.at_least("train.threads", train.threads, 0);
  p.choice("train.device", train.device, {"cpu", "cuda", "auto"},
           lower(train.device) == "gpu" ? "cuda" : "");
  p.at_least("train.checkpoint_every", train.checkpoint_every, 0);
  p.at_least("train.checkpoint_every_steps", train.checkpoint_every_steps, 0);
  if (train.checkpoint_name.empty()) p.add("train.checkpoint_name", "must not be empty");
  if (task_ok && train.monitor != "auto") {
    std::vector<std::string> monitors = {"auto", "train_loss"};
    for (const std::string& m : task_metrics(train.task)) monitors.push_back("val_" + m);
    if (std::find(monitors.begin(), monitors.end(), train.monitor) == monitors.end()) {
      // A metric of the other task (the default val_rmse with task binary) maps to this task's
      // headline metric; anything else gets the nearest spelling.
      const std::string other = train.task == "binary" ? "rating" : "binary";
      bool other_task = false;
      for (const std::string& m : task_metrics(other)) other_task |= train.monitor == "val_" + m;
      const std::string near = other_task ? monitors[2] : nearest(train.monitor, monitors);
      p.add("train.monitor", quoted(train.monitor) + " is not a metric of task " + train.task +
                                 " (" + join(monitors, " | ") + ")" +
                                 (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
  }
  p.choice("train.mode", train.mode, {"auto", "min", "max"});
  p.at_least("train.patience", train.patience, 0);
  p.at_least("train.min_delta", train.min_delta, 0.0);
  p.at_least("train.embedding_l2", train.embedding_l2, 0.0);
  p.choice("train.lr_schedule", train.lr_schedule, {"none", "step", "cosine", "plateau"});
  p.at_least("train.lr_step_epochs", train.lr_step_epochs, 1);
  if (!(train.lr_gamma > 0 && train.lr_gamma < 1)) {
    p.add("train.lr_gamma", "must be in (0, 1), got " + format_value(train.lr_gamma));
  }
  p.at_least("train.lr_patience", train.lr_patience, 1);
  p.at_least("train.min_lr", train.min_lr, 0.0);
  p.at_least("train.warmup_epochs", train.warmup_epochs, 0.0);
  p.at_least("train.clip_norm", train.clip_norm, 0.0);
  p.at_least("train.seeds", train.seeds, 1);
  p.throw_if_any();
}

}  // namespace dnnrec
