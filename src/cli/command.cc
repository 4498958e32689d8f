// Command, flag readers and the config a subcommand builds from its flags.
#include "cli/command.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "base/runtime.h"
#include "dnnrec/error.h"

namespace dnnrec::cli {

cxxopts::ParseResult Command::parse(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg.rfind("--", 0) != 0 || arg == "--") continue;
    const std::string name =
        arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
    if (std::find(names_.begin(), names_.end(), name) == names_.end()) {
      std::string hint = nearest(name, names_);
      throw ConfigError("dnnrec " + name_ + ": unknown option '--" + name + "'" +
                        (hint.empty() ? "" : "; did you mean '--" + hint + "'?") + " (see dnnrec " +
                        name_ + " --help)");
    }
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    auto result = options_.parse(static_cast<int>(argv.size()), argv.data());
    if (!result.unmatched().empty()) {
      throw ConfigError("dnnrec " + name_ + ": unexpected argument '" + result.unmatched()[0] +
                        "' (see dnnrec " + name_ + " --help)");
    }
    return result;
  } catch (const cxxopts::exceptions::exception& e) {
    throw ConfigError("dnnrec " + name_ + ": " + e.what());
  }
}

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-_./=:,+@%") == std::string::npos) {
    return arg;
  }
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::optional<cxxopts::ParseResult> Command::start(const std::vector<std::string>& args,
                                                   std::ostream& out,
                                                   const std::string& help_note) {
  cxxopts::ParseResult r = parse(args);
  if (r["help"].as<bool>()) {
    out << help() << help_note;
    return std::nullopt;
  }
  start_logging(r);
  return r;
}

void Command::add_checkpoint_flags(const std::string& help, const std::string& arg, bool data) {
  add("checkpoint", help, arg);
  if (data) add("data", "MovieLens folder (default: the one stored in the checkpoint)", "DIR");
}

std::string get(const cxxopts::ParseResult& r, const std::string& name,
                const std::string& fallback) {
  return r.count(name) ? r[name].as<std::string>() : fallback;
}

std::string require(const cxxopts::ParseResult& r, const std::string& name,
                    const std::string& command) {
  if (!r.count(name)) {
    throw ConfigError("dnnrec " + command + ": --" + name + " is required (see dnnrec " + command +
                      " --help)");
  }
  return r[name].as<std::string>();
}

int64_t to_int(const std::string& text, const std::string& flag) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw ConfigError("--" + flag + ": '" + text + "' is not an integer");
}

void start_logging(const cxxopts::ParseResult& r) {
  init_logging(r["quiet"].as<bool>() ? "warn" : get(r, "log-level", "info"));
}

// Takes every "--NAME VALUE" / "--NAME=VALUE" out of args (in order), so that cxxopts never
// splits the values on commas.
std::vector<std::string> extract_repeated(std::vector<std::string>& args, const std::string& name) {
  const std::string flag = "--" + name;
  std::vector<std::string> values, rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value");
      values.push_back(args[++i]);
    } else if (args[i].rfind(flag + "=", 0) == 0) {
      values.push_back(args[i].substr(flag.size() + 1));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = rest;
  return values;
}

// Every "--set K=V" of args, split into (K, V).
std::vector<std::pair<std::string, std::string>> extract_sets(std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> sets;
  for (const std::string& value : extract_repeated(args, "set")) {
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set '" + value + "': expected KEY=VALUE, e.g. --set train.lr=0.003");
    }
    sets.emplace_back(value.substr(0, eq), value.substr(eq + 1));
  }
  return sets;
}

void print_metrics(std::ostream& out, const std::string& label,
                   const std::map<std::string, double>& metrics,
                   const std::map<std::string, double>& std_dev) {
  out << label << ":";
  char buffer[96];
  for (const auto& [name, value] : metrics) {
    std::snprintf(buffer, sizeof(buffer), " %s %.4f", name.c_str(), value);
    out << buffer;
    auto it = std_dev.find(name);
    if (it != std_dev.end()) {
      std::snprintf(buffer, sizeof(buffer), " +- %.4f", it->second);
      out << buffer;
    }
  }
  out << "\n";
}

// The flags of every config field that has one (train's options, and sweep's base).
void add_config_flags(Command& cmd) {
  cmd.add("config", "YAML config file (default: built-in defaults, as configs/default.yaml)",
          "FILE");
  cmd.add("set", "Set any config key: --set train.lr=0.003 (repeatable; wins over flags)",
          "KEY=VALUE");
  for (const FieldInfo& field : config_fields()) {
    if (field.flag.empty()) continue;
    const std::string help =
        field.help + " [" + field.key + ", default: " + field.default_value + "]";
    if (field.type == "bool") {
      cmd.add_bool(field.flag, help);
    } else {
      const std::string& t = field.type;
      cmd.add(field.flag, help,
              t == "int_list"      ? "N,N,..."
              : t == "float_list"  ? "X,X,..."
              : t == "string_list" ? "A,B,..."
              : t == "int"         ? "N"
              : t == "float"       ? "X"
                                   : "VALUE");
    }
  }
}

// defaults < --config FILE < flags < --set.
Config config_from(const cxxopts::ParseResult& r,
                   const std::vector<std::pair<std::string, std::string>>& sets) {
  Config config;
  if (r.count("config")) config.merge_yaml_file(r["config"].as<std::string>());
  for (const FieldInfo& field : config_fields()) {
    if (!field.flag.empty() && r.count(field.flag)) {
      config.set(field.key, r[field.flag].as<std::string>());
    }
  }
  for (const auto& [key, value] : sets) config.set(key, value);
  config.validate();
  return config;
}

std::string command_line_of(const std::vector<std::string>& args,
                            const std::vector<std::pair<std::string, std::string>>& sets,
                            const std::vector<std::pair<std::string, std::string>>& more) {
  std::string line = args[0];  // "dnnrec train"
  for (size_t i = 1; i < args.size(); ++i) line += " " + shell_quote(args[i]);
  for (const auto& [key, value] : sets) line += " --set " + shell_quote(key + "=" + value);
  for (const auto& [flag, value] : more) line += " --" + flag + " " + shell_quote(value);
  return line;
}

}  // namespace dnnrec::cli
