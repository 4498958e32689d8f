// Child processes that die with their parent.
#include "base/process.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dnnrec/error.h"

namespace dnnrec {

pid_t spawn_child(const std::vector<std::string>& args, int death_signal, const std::string& what,
                  int stdout_fd, int stderr_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec. A parent that died before prctl
    // took effect would leave the child orphaned: it exits instead.
    ::prctl(PR_SET_PDEATHSIG, death_signal);
    if (::getppid() != parent) ::_exit(1);
    if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
    if (stderr_fd >= 0) ::dup2(stderr_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) throw Error("cannot start " + what + ": " + std::strerror(errno));
  return pid;
}

}  // namespace dnnrec
