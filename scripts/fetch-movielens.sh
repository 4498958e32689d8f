#!/usr/bin/env bash
# Fetches a MovieLens data set into data/NAME (NAME: ml-latest-small, the default, ml-20m,
# ml-25m or ml-32m), from $DNNREC_MOVIELENS_MIRROR when set, else from files.grouplens.org.
# Works in a temporary folder renamed into place, so a half-finished fetch never looks complete.
set -euo pipefail

usage() {
  echo "usage: scripts/fetch-movielens.sh [ml-latest-small|ml-20m|ml-25m|ml-32m]"
  echo "  DNNREC_MOVIELENS_MIRROR=DIR  copy from DIR/NAME/ or DIR/NAME.zip instead of downloading"
}

name=${1:-ml-latest-small}
case $name in
  ml-latest-small | ml-20m | ml-25m | ml-32m) ;;
  -h | --help) usage; exit 0 ;;
  *) echo "fetch-movielens.sh: unknown data set '$name'" >&2; usage >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=$root/data
target=$data/$name
url=https://files.grouplens.org/datasets/movielens/$name.zip

say() { echo "fetch-movielens.sh: $*"; }
die() { echo "fetch-movielens.sh: error: $*" >&2; exit 1; }

# First line of a file without a trailing CR, so CRLF copies pass too.
first_line() { head -n 1 "$1" | tr -d '\r'; }

# Succeeds when folder $1 looks like a complete MovieLens folder; says why not otherwise.
check_folder() {
  local dir=$1 file expected
  for file in ratings.csv movies.csv; do
    [[ -f $dir/$file ]] || { echo "$file is missing"; return 1; }
  done
  declare -A headers=(
    [ratings.csv]="userId,movieId,rating,timestamp"
    [movies.csv]="movieId,title,genres"
    [tags.csv]="userId,movieId,tag,timestamp"
    [links.csv]="movieId,imdbId,tmdbId"
  )
  for file in ratings.csv movies.csv tags.csv links.csv; do
    [[ -f $dir/$file ]] || continue
    expected=${headers[$file]}
    [[ $(first_line "$dir/$file") == "$expected" ]] ||
      { echo "$file does not start with the header $expected"; return 1; }
  done
  if [[ $name == ml-latest-small ]]; then
    local lines
    lines=$(wc -l < "$dir/ratings.csv")
    [[ $lines -eq 100837 ]] ||
      { echo "ratings.csv has $lines lines, expected 100837 (100836 ratings + header)"; return 1; }
  fi
}

if [[ -d $target ]]; then
  if problem=$(check_folder "$target"); then
    say "$target is already complete ($(($(wc -l < "$target/ratings.csv") - 1)) ratings); nothing to do"
    exit 0
  fi
  say "$target is incomplete ($problem); fetching it again"
fi

mkdir -p "$data"
tmp=$(mktemp -d "$data/.$name.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

need_unzip() {
  command -v unzip >/dev/null || die "unzip is not installed (run scripts/install-deps.sh)"
}

mirror=${DNNREC_MOVIELENS_MIRROR:-}
if [[ -n $mirror ]]; then
  if [[ -d $mirror/$name ]]; then
    say "copying $mirror/$name/*.csv"
    mkdir "$tmp/$name"
    shopt -s nullglob
    csvs=("$mirror/$name"/*.csv)
    shopt -u nullglob
    [[ ${#csvs[@]} -gt 0 ]] || die "$mirror/$name has no .csv files"
    cp "${csvs[@]}" "$tmp/$name/"
    if [[ -f $mirror/$name/README.txt ]]; then cp "$mirror/$name/README.txt" "$tmp/$name/"; fi
  elif [[ -f $mirror/$name.zip ]]; then
    need_unzip
    say "unzipping $mirror/$name.zip"
    unzip -q "$mirror/$name.zip" -d "$tmp"
  else
    die "DNNREC_MOVIELENS_MIRROR=$mirror has neither $name/ nor $name.zip"
  fi
else
  need_unzip
  command -v curl >/dev/null || die "curl is not installed (run scripts/install-deps.sh)"
  say "downloading $url"
  progress=(-sS)
  if [[ -t 2 ]]; then progress=(--progress-bar); fi
  if ! curl -fL --retry 2 --connect-timeout 20 "${progress[@]}" -o "$tmp/$name.zip" "$url"; then
    die "could not download $url (no network?). Download $name.zip elsewhere and set
  DNNREC_MOVIELENS_MIRROR=DIR to a folder holding $name.zip or an unpacked $name/"
  fi
  unzip -q "$tmp/$name.zip" -d "$tmp"
  rm -f "$tmp/$name.zip"
fi

# The zips hold a NAME/ folder; accept one with the files at its top level too.
if [[ -f $tmp/$name/ratings.csv ]]; then
  fetched=$tmp/$name
elif [[ -f $tmp/ratings.csv ]]; then
  mkdir "$tmp/.$name" && find "$tmp" -maxdepth 1 -type f -exec mv {} "$tmp/.$name/" \;
  fetched=$tmp/.$name
else
  die "no ratings.csv in what was fetched"
fi
problem=$(check_folder "$fetched") || die "fetched $name is not a MovieLens folder: $problem"
chmod -R u+w "$fetched"  # a read-only mirror should not leave data/ read-only

if [[ -e $target ]]; then
  say "removing the incomplete $target"
  chmod -R u+w "$target"
  rm -rf "$target"
fi
mv "$fetched" "$target"
say "$target is ready: $(($(wc -l < "$target/ratings.csv") - 1)) ratings," \
  "$(($(wc -l < "$target/movies.csv") - 1)) movies ($(cd "$target" && echo *.csv))"
