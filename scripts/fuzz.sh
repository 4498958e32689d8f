#!/usr/bin/env bash
# Builds the libFuzzer target fuzz/fuzz_load.cc (CSV loading, splitting and feature building;
# clang with -fsanitize=fuzzer,address,undefined; no libtorch needed) and runs it.
#   scripts/fuzz.sh [SECONDS]        (default 600; the test suite runs it for 20)
# The corpus lives in build-fuzz/corpus (seeded with a few good and bad folders, and with
# tests/data/bad/ when it has been written) and grows between runs; a finding leaves a crash-* file in build-fuzz/ and a non-zero exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
out=${DNNREC_FUZZ_DIR:-$root/build-fuzz}
cxx=${CLANGXX:-clang++}
mkdir -p "$out/corpus"
out=$(cd "$out" && pwd)
sources=(fuzz/fuzz_load.cc src/data/csv_reader.cc src/data/movielens.cc src/data/movielens_formats.cc src/data/load.cc
         src/data/event_log.cc
         src/data/data_cache.cc src/data/features.cc src/data/split.cc src/base/config.cc
         src/data/interactions.cc src/base/config_value.cc src/models/ranker_names.cc
         src/train/metrics.cc)
binary=$out/fuzz_load
newest=$(cd "$root" && ls -t "${sources[@]}" include/dnnrec/*.h src/*/*.h | head -1)
if [[ ! -x $binary || $root/$newest -nt $binary ]]; then
  echo "fuzz.sh: building $binary" >&2
  (cd "$root" && "$cxx" -std=c++17 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc \
    "${sources[@]}" -lyaml-cpp -lspdlog -lfmt -pthread -o "$binary")
fi
if [[ -z $(ls -A "$out/corpus") ]]; then
  printf '\x00userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.5,964982704\n' \
    > "$out/corpus/good"
  printf '\x01userId,movieId,rating,timestamp\n1,1,4.0.0,1\n\n@@\nmovieId,title,genres\n1,"A (1999)",Drama\n' \
    > "$out/corpus/bad-rating"
  printf '\x05userId,movieId,rating,timestamp\n1,1,4,1\n1,1,5,2\n' > "$out/corpus/duplicate"
fi
# The malformed-input corpus (tests/data/bad/, written by the test suite or by
# build/dnnrec_bad_corpus) seeds the run: each case's malformed file in its place in the fuzzer's
# input, the other parts left to their small defaults. Links are not fuzzed; large cases are left
# out.
seeds=()
if compgen -G "$root/tests/data/bad/*/expect.json" >/dev/null; then
  rm -rf "$out/seeds"
  mkdir -p "$out/seeds"
  for expect in "$root"/tests/data/bad/*/expect.json; do
    case_dir=$(dirname "$expect")
    # The test suite may be rewriting the corpus right now: a case that vanishes is passed over.
    file=$(sed -n 's/.*"file": "\(.*\)".*/\1/p' "$expect" 2>/dev/null) || continue
    size=$(stat -c %s "$case_dir/$file" 2>/dev/null) || continue
    [[ $size -le 60000 ]] || continue
    seed=$out/seeds/$(basename "$case_dir")
    ratings='userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.0,964982704\n'
    movies='movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
    case $file in
      ratings.csv) { printf '\x00'; cat "$case_dir/$file"; } > "$seed" ;;
      movies.csv) { printf "\\x00$ratings@@\\n"; cat "$case_dir/$file"; } > "$seed" ;;
      tags.csv) { printf "\\x00$ratings@@\\n$movies@@\\n"; cat "$case_dir/$file"; } > "$seed" ;;
    esac 2>/dev/null || rm -f "$seed"
  done
  seeds=("$out/seeds")
fi
echo "fuzz.sh: fuzzing for $seconds s" >&2
cd "$out"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$binary" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
  -print_final_stats=1 corpus "${seeds[@]}"
