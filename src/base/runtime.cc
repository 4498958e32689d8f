// Logging, atomic writes, run directories, BLAS detection, threads.
#include "base/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/simd.h"
#include "dnnrec/error.h"

namespace fs = std::filesystem;

namespace dnnrec {
namespace {
spdlog::level::level_enum console_level = spdlog::level::info;
}  // namespace

bool live_progress() { return is_terminal(2) && console_level <= spdlog::level::info; }

void init_logging(const std::string& level, const std::string& log_file) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("--log-level: unknown level '" + level +
                      "' (trace | debug | info | warn | error | off)");
  }
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(parsed);
  console_level = parsed;
  console->set_pattern("[%H:%M:%S] %^%l%$ %v");
  auto logger = std::make_shared<spdlog::logger>("dnnrec", console);
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  if (!log_file.empty()) add_log_file(log_file);
}

void set_rank_logging(int rank) {
  auto& sinks = spdlog::default_logger()->sinks();
  if (sinks.empty()) return;
  auto& console = sinks.front();
  console->set_pattern("[%H:%M:%S] [rank " + std::to_string(rank) + "] %^%l%$ %v");
  if (rank != 0 && console_level < spdlog::level::warn) {
    console_level = spdlog::level::warn;
    console->set_level(console_level);
  }
}

void add_log_file(const std::string& log_file) {
  auto logger = spdlog::default_logger();
  try {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file, /*truncate=*/false);
    file->set_level(spdlog::level::debug);
    file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] %l %v");
    logger->sinks().push_back(file);
  } catch (const spdlog::spdlog_ex& e) {
    throw Error("cannot open log file " + log_file + ": " + e.what());
  }
}

ScopedLogFile::ScopedLogFile(const std::string& log_file) {
  add_log_file(log_file);
  index_ = spdlog::default_logger()->sinks().size() - 1;
}

ScopedLogFile::~ScopedLogFile() {
  auto& sinks = spdlog::default_logger()->sinks();
  if (index_ < sinks.size()) {
    sinks[index_]->flush();
    sinks.erase(sinks.begin() + static_cast<std::ptrdiff_t>(index_));
  }
}

namespace {

// The temporary file being written, for remove_unfinished_write(): one slot, taken by the
// write that finds it free (writes run on the main thread; a concurrent one goes unrecorded).
std::atomic<int> g_unfinished_state{0};  // 0 free, 1 being filled or cleared, 2 holds a path
char g_unfinished_path[4096];

class UnfinishedWrite {
 public:
  explicit UnfinishedWrite(const std::string& tmp) {
    int free_slot = 0;
    if (tmp.size() < sizeof(g_unfinished_path) &&
        g_unfinished_state.compare_exchange_strong(free_slot, 1)) {
      std::memcpy(g_unfinished_path, tmp.c_str(), tmp.size() + 1);
      g_unfinished_state.store(2);
      owned_ = true;
    }
  }
  ~UnfinishedWrite() {
    int holds = 2;
    if (owned_ && g_unfinished_state.compare_exchange_strong(holds, 1)) {
      g_unfinished_state.store(0);
    }
  }
  UnfinishedWrite(const UnfinishedWrite&) = delete;
  UnfinishedWrite& operator=(const UnfinishedWrite&) = delete;

 private:
  bool owned_ = false;
};

}  // namespace

void remove_unfinished_write() noexcept {
  int holds = 2;
  if (g_unfinished_state.compare_exchange_strong(holds, 1)) ::unlink(g_unfinished_path);
}

void atomic_write_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const UnfinishedWrite unfinished(tmp);
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() &&
                  std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const int saved = errno;
  if (std::fclose(f) != 0 || !ok) {
    std::remove(tmp.c_str());
    throw Error("cannot write " + path + ": " + std::strerror(ok ? errno : saved));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
}

uint64_t free_disk_bytes(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return UINT64_MAX;  // unknown: do not block
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string make_run_dir(const std::string& requested) {
  std::error_code ec;
  if (!requested.empty()) {
    fs::create_directories(requested, ec);
    if (ec) throw Error("cannot create run directory " + requested + ": " + ec.message());
    return requested;
  }
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  fs::create_directories("runs", ec);
  if (ec) throw Error("cannot create runs/: " + ec.message());
  // fs::create_directory is atomic: it fails when the folder exists, so two runs started in
  // the same second never share a directory.
  for (int i = 1;; ++i) {
    std::string dir = "runs/" + std::string(stamp) + (i == 1 ? "" : "-" + std::to_string(i));
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) throw Error("cannot create run directory " + dir + ": " + ec.message());
  }
}

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

namespace {

// The BLAS libtorch calls, from this process's mapped files: the path of a mapped OpenBLAS,
// MKL or BLIS library when there is one, else that of libblas.so ("" when none is mapped).
// `tuned` says which of the two it is.
std::string mapped_blas(bool* tuned) {
  std::ifstream maps("/proc/self/maps");
  std::string line, reference;
  while (std::getline(maps, line)) {
    const size_t path = line.find('/');
    if (path == std::string::npos) continue;
    if (line.find("openblas") != std::string::npos || line.find("libmkl") != std::string::npos ||
        line.find("blis") != std::string::npos) {
      *tuned = true;
      return line.substr(path);
    }
    if (reference.empty() && line.find("libblas.so") != std::string::npos) {
      reference = line.substr(path);
    }
  }
  *tuned = false;
  return reference;
}

}  // namespace

void check_blas() {
  bool tuned = false;
  const std::string blas = mapped_blas(&tuned);
  if (!tuned && !blas.empty()) {
    spdlog::warn(
        "*** libtorch is using the reference BLAS ({}): training is about 5x slower. "
        "Install OpenBLAS: sudo apt-get install libopenblas0-openmp ***",
        fs::canonical(blas).string());
  }
}

MachineInfo machine_info() {
  MachineInfo info;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(cpuinfo, line)) {
    const auto value = [&] {
      const size_t colon = line.find(':');
      const size_t start =
          colon == std::string::npos ? std::string::npos : line.find_first_not_of(' ', colon + 1);
      return start == std::string::npos ? std::string() : line.substr(start);
    };
    if (info.cpu.empty() && line.rfind("model name", 0) == 0) info.cpu = value();
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = " " + value() + " ";
    if (!info.cpu.empty() && !flags.empty()) break;
  }
  if (info.cpu.empty()) info.cpu = "unknown CPU";
  const auto has = [&](const char* flag) {
    return flags.find(std::string(" ") + flag + " ") != std::string::npos;
  };
  info.isa = has("avx512f") ? (has("amx_tile") ? "AVX-512+AMX" : "AVX-512")
             : has("avx2")  ? "AVX2"
                            : "SSE";
  // OpenBLAS names the kernels it chose for this CPU (or OPENBLAS_CORETYPE's).
  using CoreName = char* (*)();
  if (auto corename = reinterpret_cast<CoreName>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    info.blas = std::string("OpenBLAS ") + corename();
  } else {
    bool tuned = false;
    std::error_code ec;
    const std::string blas = mapped_blas(&tuned);
    info.blas = blas.empty() ? "unknown" : fs::canonical(blas, ec).filename().string();
  }
  // The one place libtorch states its choice in every version.
  std::istringstream config(at::show_config());
  const std::string key = "CPU capability usage: ";
  while (std::getline(config, line)) {
    const size_t at = line.find(key);
    if (at != std::string::npos) info.torch_kernels = line.substr(at + key.size());
  }
  if (info.torch_kernels.empty()) info.torch_kernels = "unknown";
  info.dnnrec_kernels = simd_path_name(simd_path());
  return info;
}

std::string MachineInfo::summary() const {
  return cpu + " (" + isa + "); BLAS " + blas + "; kernels: libtorch " + torch_kernels +
         ", dnnrec " + dnnrec_kernels;
}

void keep_freed_memory() {
  // Each step allocates and frees the same few megabytes (batch, activations, gradients).
  // glibc returns the top of the heap to the kernel once 128 KiB of it is free and serves
  // large blocks with fresh mmaps, so every step paid page faults and page clearing for the
  // same memory (5 to 10% of a step on the reference work). Keep up to 256 MiB of freed
  // heap, and mmap only blocks of 64 MiB and more (the data's big arrays).
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  ::mallopt(M_TOP_PAD, 16 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
}

int configure_threads(int threads) {
  const int n =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  return n;
}

double peak_rss_mib() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

std::string format_duration(double seconds) {
  char buffer[32];
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) {
    std::snprintf(buffer, sizeof(buffer), "%.1fs", seconds);
  } else if (seconds < 3600) {
    std::snprintf(buffer, sizeof(buffer), "%dm%02ds", static_cast<int>(seconds) / 60,
                  static_cast<int>(seconds) % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%dh%02dm", static_cast<int>(seconds) / 3600,
                  static_cast<int>(seconds) / 60 % 60);
  }
  return buffer;
}

std::string now_iso8601() {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", std::localtime(&now));
  return stamp;
}

}  // namespace dnnrec
