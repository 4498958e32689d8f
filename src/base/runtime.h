// Process-level helpers: logging set-up, atomic file writes, run directories, BLAS check,
// threads (and a parallel loop over an OpenMP team) and device choice.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace dnnrec {

/// dnnrec's version: `dnnrec --version`, every checkpoint and the train log.
inline constexpr const char* kVersion = "0.1.0";

/// The clock of every duration dnnrec measures (steady: wall-clock changes do not move it).
using Clock = std::chrono::steady_clock;

/// Seconds from `start` to now.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Sets up spdlog once: stderr at `level` (trace|debug|info|warn|error|off), plus `log_file`
/// when non-empty (at debug level). Throws ConfigError for an unknown level.
void init_logging(const std::string& level, const std::string& log_file = "");

/// Logging of a rank in a process group: "[rank R]" before every console line, and only
/// warnings and errors from ranks other than 0 (rank 0 speaks for the group).
void set_rank_logging(int rank);
/// Adds a log file sink (the run directory's train.log) to the existing logger.
void add_log_file(const std::string& log_file);

/// A log file sink for the lifetime of the object (a run directory's train.log).
class ScopedLogFile {
 public:
  explicit ScopedLogFile(const std::string& log_file);
  ~ScopedLogFile();
  ScopedLogFile(const ScopedLogFile&) = delete;
  ScopedLogFile& operator=(const ScopedLogFile&) = delete;

 private:
  size_t index_;
};

/// Writes `content` to `path` through a temporary file in the same folder, flushed, then
/// renamed over `path`: readers see the old file or the new one, never a part.
void atomic_write_file(const std::string& path, const std::string& content);

/// Async-signal-safe: removes the temporary file of an atomic_write_file in progress, if any.
/// For a signal handler that leaves at once (a second SIGINT), so that nothing half-written
/// stays behind; the files already renamed into place are whole.
void remove_unfinished_write() noexcept;

/// Bytes an unprivileged user can still write in the file system holding dir (UINT64_MAX when
/// it cannot be told).
uint64_t free_disk_bytes(const std::string& dir);

/// Reads a whole file; throws Error naming the path when it cannot.
std::string read_text_file(const std::string& path);

/// A new, unique run directory: `requested` when non-empty (created if needed), else
/// runs/<YYYYmmdd-HHMMSS> with a -2, -3... suffix when taken.
std::string make_run_dir(const std::string& requested);

/// True when a live progress bar belongs on stderr: a terminal, and info logs are shown.
bool live_progress();

/// True when the file descriptor is a terminal.
bool is_terminal(int fd);

/// Logs a loud warning when libtorch is running on the reference BLAS (about 5x slower).
void check_blas();

/// What decides a run's speed, and its last bits of rounding, on this machine.
struct MachineInfo {
  std::string cpu;   ///< the CPU's model name (lscpu's "Model name")
  std::string isa;   ///< its widest vector instructions: AVX-512+AMX | AVX-512 | AVX2 | SSE
  std::string blas;  ///< "OpenBLAS <kernel core>", or the BLAS library's file name
  std::string torch_kernels;   ///< libtorch's CPU capability: DEFAULT | AVX2 | AVX512
  std::string dnnrec_kernels;  ///< the path of dnnrec's own kernels (simd.h): default | avx2
  /// One line: "AMD EPYC (AVX-512); BLAS OpenBLAS Haswell; kernels: libtorch AVX2, dnnrec avx2".
  std::string summary() const;
};
/// This process's machine. ATEN_CPU_CAPABILITY and OPENBLAS_CORETYPE, where set, show here.
MachineInfo machine_info();

/// Tunes glibc's allocator for training: freed memory is kept for the next step instead of
/// being returned to the kernel (and faulted in again). Process-wide.
void keep_freed_memory();

/// Sets torch's intra-op threads (0 = all cores); returns the count in use.
int configure_threads(int threads);

/// Calls body(i) for i in [0, n) on an OpenMP team of `threads` (serially when threads <= 1),
/// each i on one thread; inside the team torch's and OpenBLAS's own parallelism step aside.
/// The first exception (by i) is rethrown once every body has run.
template <class Body>
void parallel_each(int64_t n, int threads, Body&& body) {
  std::vector<std::exception_ptr> errors(n);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
  for (int64_t i = 0; i < n; ++i) {
    try {
      body(i);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

/// Peak resident set size of this process so far, in MiB.
double peak_rss_mib();

/// The human form of a duration: 42.0s, 3m05s, 1h02m.
std::string format_duration(double seconds);

/// "YYYY-mm-ddTHH:MM:SS" local time, for metadata.
std::string now_iso8601();

}  // namespace dnnrec
