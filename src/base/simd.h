// Which instruction-set path dnnrec's hand-written CPU kernels take. Each kernel is compiled
// twice, for the x86-64 baseline and for AVX2, and dispatches on simd_path() at each call.
// ATEN_CPU_CAPABILITY=default, which makes libtorch take its generic kernels, makes ours
// take theirs too, so one variable selects every CPU path of a run.
#pragma once

#include <string>
#include <vector>

namespace dnnrec {

/// The paths of our kernels, from the baseline up.
enum class SimdPath { kDefault, kAvx2 };

/// "default" | "avx2".
std::string simd_path_name(SimdPath path);
/// The path the kernels take now: the widest this CPU has, unless ATEN_CPU_CAPABILITY is
/// "default" (read once, at the first call), or set_simd_path chose another.
SimdPath simd_path();
/// Whether this CPU can run `path`.
bool simd_path_supported(SimdPath path);
/// Every path this CPU can run, baseline first: tests run each kernel on each.
std::vector<SimdPath> supported_simd_paths();
/// Makes the kernels take `path` from now on (tests). Throws std::invalid_argument when the
/// CPU cannot run it. Not meant to change while kernels run on other threads.
void set_simd_path(SimdPath path);

namespace detail {
/// simd_path() == SimdPath::kAvx2, as one load: the kernels test it at each call.
bool use_avx2();
}  // namespace detail

}  // namespace dnnrec

// Defines `ret name params` that runs `name##_body args` compiled for AVX2 or for the baseline,
// as detail::use_avx2() says. name##_body must be a static inline function defined before the
// macro; its loops vectorise in each copy for that copy's instruction set. Both copies round
// alike: the build turns off floating-point contraction (-ffp-contract=off), so neither fuses
// a multiply and an add the other does not, and vectorising the loops of these kernels (along
// their element, never across a sum's terms) does not reorder any addition.
#define DNNREC_SIMD_KERNEL(ret, name, params, args)                                       \
  __attribute__((target("avx2"), noinline)) static ret name##_avx2 params {               \
    return name##_body args;                                                              \
  }                                                                                       \
  __attribute__((noinline)) static ret name##_default params { return name##_body args; } \
  ret name params { return ::dnnrec::detail::use_avx2() ? name##_avx2 args : name##_default args; }
