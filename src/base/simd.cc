// The instruction-set path of the hand-written kernels (see simd.h).
#include "base/simd.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace dnnrec {
namespace {

SimdPath initial_path() {
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  if (aten != nullptr && std::strcmp(aten, "default") == 0) return SimdPath::kDefault;
  return simd_path_supported(SimdPath::kAvx2) ? SimdPath::kAvx2 : SimdPath::kDefault;
}

std::atomic<int>& current() {
  static std::atomic<int> path{static_cast<int>(initial_path())};
  return path;
}

}  // namespace

std::string simd_path_name(SimdPath path) { return path == SimdPath::kAvx2 ? "avx2" : "default"; }

bool simd_path_supported(SimdPath path) {
  if (path == SimdPath::kDefault) return true;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

std::vector<SimdPath> supported_simd_paths() {
  std::vector<SimdPath> paths;
  for (SimdPath path : {SimdPath::kDefault, SimdPath::kAvx2}) {
    if (simd_path_supported(path)) paths.push_back(path);
  }
  return paths;
}

SimdPath simd_path() { return static_cast<SimdPath>(current().load(std::memory_order_relaxed)); }

void set_simd_path(SimdPath path) {
  if (!simd_path_supported(path)) {
    throw std::invalid_argument("this CPU cannot run the " + simd_path_name(path) + " kernels");
  }
  current().store(static_cast<int>(path), std::memory_order_relaxed);
}

namespace detail {
bool use_avx2() { return simd_path() == SimdPath::kAvx2; }
}  // namespace detail

}  // namespace dnnrec
