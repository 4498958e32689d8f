// Child processes that die with their parent: sweep trials and the ranks `dnnrec launch` starts.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace dnnrec {

/// Starts `argv` (argv[0] is the program's path) as a child process that receives
/// `death_signal` when this process dies (PR_SET_PDEATHSIG), so nothing it started outlives it.
/// stdout_fd / stderr_fd, when >= 0, become the child's stdout / stderr (the caller still owns
/// and closes them). Throws Error naming `what` ("a trial", "a rank") when fork fails.
pid_t spawn_child(const std::vector<std::string>& argv, int death_signal, const std::string& what,
                  int stdout_fd = -1, int stderr_fd = -1);

}  // namespace dnnrec
