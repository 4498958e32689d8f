// `dnnrec launch`: starts the ranks of a data-parallel training on this host, each a
// `dnnrec train ... --world-size W --rank R --master HOST:PORT` child, and waits for them.
#pragma once

#include <string>
#include <vector>

namespace dnnrec {

struct LaunchOptions {
  int nproc = 2;                  ///< ranks started here
  int world_size = 0;             ///< ranks in all (0: nproc, everything on this host)
  int first_rank = 0;             ///< the first rank started here (hosts after the first: > 0)
  std::string master;             ///< rank 0's HOST:PORT; "" = 127.0.0.1 and a free port
  std::vector<std::string> args;  ///< the command after "--": train and its flags
};

/// The command line of rank `rank` (without the executable).
std::vector<std::string> rank_command(const LaunchOptions& options, int rank,
                                      const std::string& master);

/// Starts options.nproc ranks of `self` (the dnnrec executable), prints how to start the
/// ranks of other hosts, forwards SIGINT / SIGTERM to them, and waits. When a rank fails,
/// the others are given time to notice and stop on their own, then terminated. Returns 0
/// when every rank succeeded, else the first failure's exit code (4 for a rank killed by a
/// signal: the others lost it). Throws ConfigError for bad options.
int run_launch(const LaunchOptions& options, const std::string& self);

}  // namespace dnnrec
