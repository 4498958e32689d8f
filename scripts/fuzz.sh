#!/usr/bin/env bash
# Builds the libFuzzer target fuzz/fuzz_load.cc (CSV loading, splitting and feature building;
# clang with -fsanitize=fuzzer,address,undefined; no libtorch needed) and runs it.
#   scripts/fuzz.sh [SECONDS]        (default 600; the test suite runs it for 20)
# The corpus lives in build-fuzz/corpus (seeded with a few good and bad folders) and grows
# between runs; a finding leaves a crash-* file in build-fuzz/ and a non-zero exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
out=${DNNREC_FUZZ_DIR:-$root/build-fuzz}
cxx=${CLANGXX:-clang++}
mkdir -p "$out/corpus"
sources=(fuzz/fuzz_load.cc src/movielens.cc src/data_cache.cc src/features.cc src/split.cc
         src/config.cc src/metrics.cc)
binary=$out/fuzz_load
newest=$(cd "$root" && ls -t "${sources[@]}" include/dnnrec/*.h | head -1)
if [[ ! -x $binary || $root/$newest -nt $binary ]]; then
  echo "fuzz.sh: building $binary" >&2
  (cd "$root" && "$cxx" -std=c++17 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude \
    "${sources[@]}" -lyaml-cpp -lspdlog -lfmt -pthread -o "$binary")
fi
if [[ -z $(ls -A "$out/corpus") ]]; then
  printf '\x00userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.5,964982704\n' \
    > "$out/corpus/good"
  printf '\x01userId,movieId,rating,timestamp\n1,1,4.0.0,1\n\n@@\nmovieId,title,genres\n1,"A (1999)",Drama\n' \
    > "$out/corpus/bad-rating"
  printf '\x05userId,movieId,rating,timestamp\n1,1,4,1\n1,1,5,2\n' > "$out/corpus/duplicate"
fi
echo "fuzz.sh: fuzzing for $seconds s" >&2
cd "$out"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$binary" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
  -print_final_stats=1 corpus
