// What every subcommand handler shares: a Command (its flags, help and did-you-mean), flag
// readers, and the config a handler builds from --config, flags and --set.
#pragma once

#include <cstdint>
#include <cxxopts.hpp>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dnnrec/config.h"

namespace dnnrec::cli {

// One subcommand's options: cxxopts underneath, plus the list of names for did-you-mean.
class Command {
 public:
  Command(const std::string& name, const std::string& description)
      : name_(name), options_("dnnrec " + name, description) {
    options_.custom_help("[options]");
    add_flag("h,help", "Show this help");
    add("log-level", "Log level on stderr: trace|debug|info|warn|error|off (default: info)");
    add_flag("q,quiet", "Only warnings and errors on stderr (same as --log-level warn)");
  }

  void add(const std::string& spec, const std::string& help, const std::string& arg = "") {
    options_.add_options()(spec, help, cxxopts::value<std::string>(), arg);
    remember(spec);
  }
  void add_flag(const std::string& spec, const std::string& help) {
    options_.add_options()(spec, help, cxxopts::value<bool>()->default_value("false"));
    remember(spec);
  }
  // A boolean config option: "--save-best" means true, "--save-best=false" false.
  void add_bool(const std::string& spec, const std::string& help) {
    options_.add_options()(spec, help, cxxopts::value<std::string>()->implicit_value("true"));
    remember(spec);
  }

  /// Parses args (args[0] is "dnnrec NAME"); an unknown option is a ConfigError that names the
  /// nearest one.
  cxxopts::ParseResult parse(const std::vector<std::string>& args);

  std::string help() const { return options_.help(); }

  /// Parses args and starts logging; for --help prints the help (and `help_note`) to out and
  /// returns nothing: the handler then returns 0.
  std::optional<cxxopts::ParseResult> start(const std::vector<std::string>& args, std::ostream& out,
                                            const std::string& help_note = "");

  /// --checkpoint (with this help and argument name) and, with `data`, --data: the MovieLens
  /// folder that replaces the one stored in the checkpoint.
  void add_checkpoint_flags(const std::string& help, const std::string& arg, bool data = true);

 private:
  void remember(const std::string& spec) {
    const size_t comma = spec.find(',');
    names_.push_back(comma == std::string::npos ? spec : spec.substr(comma + 1));
  }

  std::string name_;
  cxxopts::Options options_;
  std::vector<std::string> names_;
};

/// A flag's value, or fallback when it is not given.
std::string get(const cxxopts::ParseResult& r, const std::string& name,
                const std::string& fallback = "");
/// A required flag's value; ConfigError naming the command when it is missing.
std::string require(const cxxopts::ParseResult& r, const std::string& name,
                    const std::string& command);
/// A whole integer flag value; ConfigError "--flag: 'x' is not an integer" otherwise.
int64_t to_int(const std::string& text, const std::string& flag);
/// Starts logging at --log-level (or warn with --quiet).
void start_logging(const cxxopts::ParseResult& r);
/// Takes every "--NAME VALUE" / "--NAME=VALUE" out of args (in order), so that cxxopts never
/// splits the values on commas.
std::vector<std::string> extract_repeated(std::vector<std::string>& args, const std::string& name);
/// Every "--set K=V" of args, split into (K, V) and taken out of args.
std::vector<std::pair<std::string, std::string>> extract_sets(std::vector<std::string>& args);
/// A shell word: arg itself when it needs no quotes, else single-quoted.
std::string shell_quote(const std::string& arg);
/// "label: name value ..." with 4 decimals (and "+- std" where std_dev has the metric).
void print_metrics(std::ostream& out, const std::string& label,
                   const std::map<std::string, double>& metrics,
                   const std::map<std::string, double>& std_dev = {});
/// --config, --set and the flag of every config field that has one (train's options, and
/// sweep's base).
void add_config_flags(Command& cmd);
/// defaults < --config FILE < flags < --set, validated.
Config config_from(const cxxopts::ParseResult& r,
                   const std::vector<std::pair<std::string, std::string>>& sets);
/// The command as typed (args[0] "dnnrec train", each argument shell-quoted), with the --set
/// pairs and `more` (flag, value) appended.
std::string command_line_of(const std::vector<std::string>& args,
                            const std::vector<std::pair<std::string, std::string>>& sets,
                            const std::vector<std::pair<std::string, std::string>>& more = {});

}  // namespace dnnrec::cli
