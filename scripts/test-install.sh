#!/usr/bin/env bash
# The library as a user gets it (test Install.TheCppConsumerBuildsAgainstAnInstalledCopy): the
# build installed into a temporary prefix, examples/cpp-consumer configured and built against it
# with find_package(dnnrec), and its output compared with the CLI's, byte for byte: a rating
# model's predictions and list (dnnrec predict, dnnrec recommend) and a ranking model's list.
#   scripts/test-install.sh [BUILD_DIR]      (default: build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { echo "test-install.sh: $*"; }

step "cmake --install $build --prefix $tmp/prefix"
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
test -f "$tmp/prefix/include/dnnrec/model.h"
config=$(find "$tmp/prefix" -name dnnrecConfig.cmake)
test -n "$config"
step "building examples/cpp-consumer against it ($config)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if ! cmake -S "$root/examples/cpp-consumer" -B "$tmp/consumer" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" 2>&1 ||
  ! cmake --build "$tmp/consumer" >"$tmp/build.log" 2>&1; then
  cat "$tmp/configure.log" "$tmp/build.log" 2>/dev/null
  exit 1
fi

dnnrec="$tmp/prefix/bin/dnnrec"
consumer="$tmp/consumer/cpp-consumer"
"$dnnrec" sample --out "$tmp/data" --seed 5 -q >/dev/null
printf 'userId,movieId\n1,1\n1,50\n2,7\n3,299\n999999,3\n' >"$tmp/pairs.csv"
printf 'userId\n1\n' >"$tmp/users.csv"
for model in mf ease; do
  args=(--model "$model")
  [[ $model == ease ]] && args+=(--task ranking --split random-per-user)
  "$dnnrec" train --data "$tmp/data" --out "$tmp/$model" "${args[@]}" --epochs 2 --threads 2 \
    --set output.plots=false -q >/dev/null
  checkpoint="$tmp/$model/best.pt"
  "$consumer" "$checkpoint" "$tmp/pairs.csv" 1 5 >"$tmp/$model-got.csv"
  "$dnnrec" recommend --checkpoint "$checkpoint" --users "$tmp/users.csv" -k 5 \
    --output "$tmp/$model-recs.csv" -q
  if [[ $model == mf ]]; then
    "$dnnrec" predict --checkpoint "$checkpoint" --input "$tmp/pairs.csv" --output "$tmp/mf-predictions.csv" -q
    cat "$tmp/mf-predictions.csv" "$tmp/mf-recs.csv" >"$tmp/mf-want.csv"
  else  # a ranking model has no dnnrec predict: compare the list
    sed -n '/^userId,rank,movieId,score$/,$p' "$tmp/ease-got.csv" >"$tmp/ease-list.csv"
    mv "$tmp/ease-list.csv" "$tmp/ease-got.csv"
    cp "$tmp/ease-recs.csv" "$tmp/ease-want.csv"
  fi
  if ! diff "$tmp/$model-want.csv" "$tmp/$model-got.csv"; then
    step "$model: cpp-consumer's output differs from the CLI's"
    exit 1
  fi
  what="dnnrec recommend's list"
  [[ $model == mf ]] && what="dnnrec predict's predictions and dnnrec recommend's list"
  step "$model: cpp-consumer prints $what, byte for byte ($(wc -l <"$tmp/$model-got.csv") lines)"
done
