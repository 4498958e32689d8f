// Choosing the instruction-set path of our kernels.
#include "base/simd.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "simd_testing.h"

namespace dnnrec {
namespace {

TEST(Simd, TheBaselineIsAlwaysThereAndTheWidestPathIsTheDefault) {
  const std::vector<SimdPath> paths = supported_simd_paths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), SimdPath::kDefault);
  __builtin_cpu_init();
  EXPECT_EQ(simd_path_supported(SimdPath::kAvx2), __builtin_cpu_supports("avx2") != 0);
  // The test binary runs under the ATEN_CPU_CAPABILITY of the environment: "default" takes
  // the baseline, anything else the widest path the CPU has.
  const char* aten = std::getenv("ATEN_CPU_CAPABILITY");
  const bool generic = aten != nullptr && std::strcmp(aten, "default") == 0;
  EXPECT_EQ(simd_path(), generic ? SimdPath::kDefault : paths.back())
      << "ATEN_CPU_CAPABILITY=" << (aten ? aten : "<unset>");
  EXPECT_EQ(simd_path_name(SimdPath::kDefault), "default");
  EXPECT_EQ(simd_path_name(SimdPath::kAvx2), "avx2");
}

TEST(Simd, TestsCanChooseAPathAndGetTheOneBeforeBack) {
  const SimdPath before = simd_path();
  for (SimdPath path : supported_simd_paths()) {
    testing::ScopedSimdPath scoped(path);
    EXPECT_EQ(simd_path(), path);
  }
  EXPECT_EQ(simd_path(), before);
  if (!simd_path_supported(SimdPath::kAvx2)) {
    EXPECT_THROW(set_simd_path(SimdPath::kAvx2), std::invalid_argument);
  }
}

}  // namespace
}  // namespace dnnrec
