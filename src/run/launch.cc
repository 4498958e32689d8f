// `dnnrec launch`: validates the plan, starts this host's ranks as children, forwards signals
// to them and waits, stopping the rest when one fails.
#include "run/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "base/process.h"
#include "base/runtime.h"
#include "base/signals.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

// How long the other ranks get to notice a failed rank and stop on their own (they do within
// their collective timeout plus a few seconds), then after SIGTERM before SIGKILL.
constexpr std::chrono::seconds kGrace{90};
constexpr std::chrono::seconds kTermGrace{15};

std::atomic<int> g_forward_signal{0};

void on_signal(int sig) { g_forward_signal.store(sig); }

// A TCP port free right now on the loopback interface (the kernel's pick).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("cannot open a socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(std::string("cannot find a free port: ") + std::strerror(err));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool has_flag(const std::vector<std::string>& args, const std::string& flag) {
  return std::any_of(args.begin(), args.end(), [&](const std::string& a) {
    return a == flag || a.rfind(flag + "=", 0) == 0;
  });
}

std::string joined(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& w : words) {
    const bool plain = !w.empty() && w.find_first_of(" \t\"'\\$`*?;&|<>(){}") == std::string::npos;
    line += (line.empty() ? "" : " ") + (plain ? w : "'" + w + "'");
  }
  return line;
}

// A launcher that dies takes its ranks with it (SIGTERM: they save a checkpoint and stop).
pid_t start(const std::string& self, const std::vector<std::string>& command) {
  std::vector<std::string> args = {self};
  args.insert(args.end(), command.begin(), command.end());
  return spawn_child(args, SIGTERM, "a rank");
}

}  // namespace

std::vector<std::string> rank_command(const LaunchOptions& options, int rank,
                                      const std::string& master) {
  const int world = options.world_size > 0 ? options.world_size : options.nproc;
  std::vector<std::string> command = options.args;
  command.insert(command.end(), {"--world-size", std::to_string(world), "--rank",
                                 std::to_string(rank), "--master", master});
  return command;
}

namespace {

// Throws ConfigError for options launch cannot run.
void check_options(const LaunchOptions& options, int world) {
  if (options.nproc < 1) throw ConfigError("--nproc must be >= 1");
  if (options.first_rank < 0 || options.first_rank + options.nproc > world) {
    throw ConfigError("ranks " + std::to_string(options.first_rank) + ".." +
                      std::to_string(options.first_rank + options.nproc - 1) +
                      " do not fit in --world-size " + std::to_string(world));
  }
  if (options.args.empty() || options.args.front() != "train") {
    throw ConfigError("launch runs `train`: dnnrec launch --nproc N -- train [flags]");
  }
  for (const char* flag : {"--world-size", "--rank", "--master"}) {
    if (has_flag(options.args, flag)) {
      throw ConfigError(std::string(flag) +
                        " is set by launch for each rank; leave it out of "
                        "the train flags");
    }
  }
}

// options.master, or a free port on the loopback interface when every rank runs here.
std::string choose_master(const LaunchOptions& options, int world) {
  if (!options.master.empty()) return options.master;
  if (world > options.nproc) {
    throw ConfigError(
        "ranks on other hosts need --master HOST:PORT: an address of rank 0's "
        "host that they can reach");
  }
  return "127.0.0.1:" + std::to_string(free_port());
}

// The options with --threads added when the train flags do not set it.
LaunchOptions with_threads(const LaunchOptions& options) {
  LaunchOptions local = options;
  const bool threads_set =
      has_flag(local.args, "--threads") ||
      std::any_of(local.args.begin(), local.args.end(), [](const std::string& a) {
        return a.rfind("train.threads=", 0) == 0 || a.rfind("threads=", 0) == 0;
      });
  if (!threads_set) {
    // The host's cores shared between its ranks (train.threads = 0 would give each all).
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    local.args.insert(local.args.end(),
                      {"--threads", std::to_string(std::max(1, cores / options.nproc))});
  }
  return local;
}

void log_plan(const LaunchOptions& options, int world, const std::string& master) {
  spdlog::info("launch: ranks {}..{} of {} on this host; rank 0 serves the store at {}",
               options.first_rank, options.first_rank + options.nproc - 1, world, master);
  if (world > options.nproc || options.first_rank > 0) {
    spdlog::info(
        "the other ranks start on their hosts with: dnnrec launch --nproc N "
        "--world-size {} --first-rank K --master {} -- {}",
        world, master, joined(options.args));
  }
  spdlog::info("or one rank at a time: dnnrec {}", joined(rank_command(options, 0, master)) +
                                                       " (with --rank 0.." +
                                                       std::to_string(world - 1) + ")");
}

struct Rank {
  int rank;
  pid_t pid;
  bool done = false;
  int code = 0;
};

// The ranks started here and how they are doing.
class Ranks {
 public:
  void add(int rank, pid_t pid) { ranks_.push_back({rank, pid}); }
  // Waits for every rank (forwarding signals, stopping the rest after a failure); returns
  // the first failure's exit code, or 0.
  int wait();

 private:
  // Records the exit of `pid` with `status`.
  void reap(pid_t pid, int status);
  // After a failure: SIGTERM to the ranks still running after kGrace, SIGKILL kTermGrace later.
  void stop_stragglers(Clock::time_point now);
  void signal_running(int sig) const {
    for (const Rank& r : ranks_) {
      if (!r.done) ::kill(r.pid, sig);
    }
  }

  std::vector<Rank> ranks_;
  int first_failure_ = 0;
  Clock::time_point failed_at_{}, terminated_at_{};
  bool terminated_ = false, killed_ = false;
};

int Ranks::wait() {
  for (;;) {
    if (const int sig = g_forward_signal.exchange(0)) signal_running(sig);
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      reap(pid, status);
      continue;
    }
    if (pid < 0 && errno == ECHILD) break;
    if (std::all_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.done; })) break;
    stop_stragglers(Clock::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return first_failure_;
}

void Ranks::reap(pid_t pid, int status) {
  for (Rank& r : ranks_) {
    if (r.pid != pid) continue;
    r.done = true;
    if (WIFEXITED(status)) {
      r.code = WEXITSTATUS(status);
      if (r.code != 0) spdlog::error("rank {} exited with code {}", r.rank, r.code);
    } else {
      r.code = kExitPeerLost;
      spdlog::error("rank {} (pid {}) was killed by signal {} ({})", r.rank, r.pid,
                    WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
    if (r.code != 0 && first_failure_ == 0) {
      first_failure_ = r.code;
      failed_at_ = Clock::now();
    }
  }
}

void Ranks::stop_stragglers(Clock::time_point now) {
  if (first_failure_ != 0 && !terminated_ && now - failed_at_ > kGrace) {
    spdlog::error("the other ranks did not stop within {} s: terminating them", kGrace.count());
    signal_running(SIGTERM);
    terminated_ = true;
    terminated_at_ = now;
  }
  if (terminated_ && !killed_ && now - terminated_at_ > kTermGrace) {
    signal_running(SIGKILL);
    killed_ = true;
  }
}

}  // namespace

int run_launch(const LaunchOptions& options, const std::string& self) {
  const int world = options.world_size > 0 ? options.world_size : options.nproc;
  check_options(options, world);
  const std::string master = choose_master(options, world);
  const LaunchOptions local = with_threads(options);
  log_plan(options, world, master);

  g_forward_signal.store(0);
  const ScopedInterruptHandler handler(on_signal);
  Ranks ranks;
  for (int k = 0; k < options.nproc; ++k) {
    const int rank = options.first_rank + k;
    const pid_t pid = start(self, rank_command(local, rank, master));
    ranks.add(rank, pid);
    spdlog::info("rank {}: pid {}", rank, pid);
  }
  const int first_failure = ranks.wait();
  if (first_failure == 0) spdlog::info("launch: all {} ranks finished", options.nproc);
  return first_failure;
}

}  // namespace dnnrec
