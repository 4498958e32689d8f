// Runs a computation on each instruction-set path of our kernels (simd.h) that this CPU has,
// for the tests of each kernel.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/simd.h"

namespace dnnrec::testing {

/// Sets the kernels' path for a scope and restores the one before.
class ScopedSimdPath {
 public:
  explicit ScopedSimdPath(SimdPath path) : before_(simd_path()) { set_simd_path(path); }
  ~ScopedSimdPath() { set_simd_path(before_); }
  ScopedSimdPath(const ScopedSimdPath&) = delete;
  ScopedSimdPath& operator=(const ScopedSimdPath&) = delete;

 private:
  SimdPath before_;
};

/// Runs `compute` on every path this CPU has and expects each path's tensors to be bit for
/// bit the baseline path's: the copies of a kernel differ only in instruction set, never in
/// the order of their additions or in fused multiply-adds (see simd.h). Returns how many
/// paths ran.
inline int expect_same_bits_on_every_path(
    const std::function<std::vector<torch::Tensor>()>& compute) {
  std::vector<torch::Tensor> baseline;
  int paths = 0;
  for (SimdPath path : supported_simd_paths()) {
    ScopedSimdPath scoped(path);
    std::vector<torch::Tensor> out = compute();
    ++paths;
    if (path == SimdPath::kDefault) {
      baseline = std::move(out);
      continue;
    }
    EXPECT_EQ(out.size(), baseline.size());
    for (size_t i = 0; i < out.size() && i < baseline.size(); ++i) {
      // equal() is false for NaN against NaN; compare the bits.
      const torch::Tensor a = baseline[i].contiguous(), b = out[i].contiguous();
      EXPECT_TRUE(a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
                  std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0)
          << "tensor " << i << " differs between the default and " << simd_path_name(path)
          << " kernels";
    }
  }
  return paths;
}

}  // namespace dnnrec::testing
