#!/usr/bin/env bash
# Runs the tests labelled "kernels" (the suites whose numbers come from the CPU's kernels) once
# under each ATEN_CPU_CAPABILITY this CPU supports: libtorch then takes its generic, AVX2 or
# AVX-512 kernels, and dnnrec's own kernels (src/base/simd.cc) their generic path under "default".
# `make test` has already run them under the capability libtorch picks by itself.
#   scripts/test-cpu-paths.sh [BUILD_DIR]     (default: build)
# It never sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE: some machines set them on purpose.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
jobs=${JOBS:-$(nproc)}

flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ $flags == *" $1 "* ]]; }
capabilities=(default)
has avx2 && has fma && capabilities+=(avx2)
# libtorch's AVX-512 kernels need these four (its own check).
has avx512f && has avx512bw && has avx512vl && has avx512dq && capabilities+=(avx512)

echo "test-cpu-paths.sh: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
# The path libtorch takes by itself (dnnrec --version: "kernels: libtorch AVX2, ...") is the
# one `make test` has just run: it is not run again.
picked=$(env -u ATEN_CPU_CAPABILITY "$build/dnnrec" --version | sed -n 's/.*kernels: libtorch \([A-Za-z0-9]*\).*/\1/p' |
  tr '[:upper:]' '[:lower:]')
echo "test-cpu-paths.sh: ATEN_CPU_CAPABILITY ${capabilities[*]} (libtorch's own pick, run by make test: ${picked:-unknown})"
status=0
for capability in "${capabilities[@]}"; do
  if [[ $capability == "$picked" && -z ${ATEN_CPU_CAPABILITY:-} ]]; then
    echo "test-cpu-paths.sh: $capability already run by make test"
    continue
  fi
  echo "test-cpu-paths.sh: ATEN_CPU_CAPABILITY=$capability"
  (cd "$build" && ATEN_CPU_CAPABILITY=$capability ctest -L kernels --output-on-failure -j "$jobs") ||
    status=1
done
exit $status
