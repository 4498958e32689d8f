// The command line: dnnrec <command> [options], the subcommands listed in cli.cc's table.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace dnnrec::cli {

/// Runs a command line (args[0] is the program name); results go to `out`, logs to stderr.
/// Returns 0; throws dnnrec::Error (with its exit code) on failure.
int run(const std::vector<std::string>& args, std::ostream& out);

/// Runs argv with stdout as `out`; what main calls.
int run(int argc, char** argv);

}  // namespace dnnrec::cli
