// Plots by scripts/plot.py, run with Debian's python3 (where python3-matplotlib lives).
#include "cli/plots.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "cli/command.h"
#include "dnnrec/error.h"

namespace dnnrec::cli {

namespace fs = std::filesystem;

std::string self_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the dnnrec executable (/proc/self/exe): " + ec.message());
  return exe.string();
}

namespace {

// scripts/plot.py: $DNNREC_PLOT_SCRIPT, else beside the executable's source tree (build/dnnrec
// -> scripts/plot.py) or an installed share/dnnrec/plot.py.
std::string plot_script() {
  if (const char* env = std::getenv("DNNREC_PLOT_SCRIPT")) return env;
  fs::path exe;
  try {
    exe = self_path();
  } catch (const Error&) {
    return "";  // plots are optional: no executable path, no script
  }
  std::error_code ec;
  for (const fs::path& candidate : {exe.parent_path().parent_path() / "scripts" / "plot.py",
                                    exe.parent_path().parent_path() / "share/dnnrec/plot.py"}) {
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "";
}

}  // namespace

void draw_plots(const std::string& dir) {
  const char* off = std::getenv("DNNREC_NO_PLOTS");
  if (off != nullptr && std::string(off) != "0" && std::string(off) != "") return;
  const std::string script = plot_script();
  if (script.empty()) {
    spdlog::info("plots skipped: scripts/plot.py not found (set DNNREC_PLOT_SCRIPT)");
    return;
  }
  // Debian's python3 (where python3-matplotlib lives) before whatever python3 PATH finds.
  std::string python = "python3";
  if (const char* env = std::getenv("DNNREC_PYTHON")) {
    python = env;
  } else if (::access("/usr/bin/python3", X_OK) == 0) {
    python = "/usr/bin/python3";
  }
  const std::string log = dir + "/plot.log";
  const std::string command = shell_quote(python) + " " + shell_quote(script) + " " +
                              shell_quote(dir) + " > " + shell_quote(log) + " 2>&1";
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) {
    spdlog::info("plots written to {}", dir);
  } else if (code == 3) {
    spdlog::info("plots skipped: python3-matplotlib is not installed");
  } else {
    spdlog::warn("plots failed (exit {}); see {}", code, log);
  }
}

}  // namespace dnnrec::cli
