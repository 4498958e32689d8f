#!/usr/bin/env bash
# Fetches a MovieLens release into data/NAME (NAME: ml-latest-small, the default, ml-100k,
# ml-1m, ml-10m, ml-20m, ml-25m or ml-32m), from $DNNREC_MOVIELENS_MIRROR when set, else from
# files.grouplens.org, and checks its files and its number of ratings (the count each release's
# README states). Works in a temporary folder renamed into place, so a half-finished fetch never
# looks complete. dnnrec reads every one of these layouts (data.format: auto).
set -euo pipefail

usage() {
  echo "usage: scripts/fetch-movielens.sh [ml-latest-small|ml-100k|ml-1m|ml-10m|ml-20m|ml-25m|ml-32m]"
  echo "  DNNREC_MOVIELENS_MIRROR=DIR  copy from DIR/NAME/ or DIR/NAME.zip instead of downloading"
  echo "  DNNREC_DATA_ROOT=DIR         fetch into DIR/NAME instead of data/NAME"
}

name=${1:-ml-latest-small}
case $name in
  ml-latest-small | ml-100k | ml-1m | ml-10m | ml-20m | ml-25m | ml-32m) ;;
  -h | --help) usage; exit 0 ;;
  *) echo "fetch-movielens.sh: unknown data set '$name'" >&2; usage >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${DNNREC_DATA_ROOT:-$root/data}  # where NAME/ goes (tests point it elsewhere)
target=$data/$name
url=https://files.grouplens.org/datasets/movielens/$name.zip

say() { echo "fetch-movielens.sh: $*"; }
die() { echo "fetch-movielens.sh: error: $*" >&2; exit 1; }

# First line of a file without a trailing CR, so CRLF copies pass too.
first_line() { head -n 1 "$1" | tr -d '\r'; }

# Each release's ratings file, its required files, and its number of ratings (from its README).
case $name in
  ml-100k) ratings_file=u.data; required=(u.data u.item u.user); expected_ratings=100000 ;;
  ml-1m) ratings_file=ratings.dat; required=(ratings.dat movies.dat users.dat)
    expected_ratings=1000209 ;;
  ml-10m) ratings_file=ratings.dat; required=(ratings.dat movies.dat tags.dat)
    expected_ratings=10000054 ;;
  *) ratings_file=ratings.csv; required=(ratings.csv movies.csv)
    case $name in
      ml-latest-small) expected_ratings=100836 ;;
      ml-20m) expected_ratings=20000263 ;;
      ml-25m) expected_ratings=25000095 ;;
      ml-32m) expected_ratings=32000204 ;;
    esac ;;
esac

# Ratings in folder $1 (lines of the ratings file, less the CSV header).
count_ratings() {
  local lines
  lines=$(wc -l < "$1/$ratings_file")
  [[ $ratings_file == ratings.csv ]] && lines=$((lines - 1))
  echo "$lines"
}

# Succeeds when folder $1 looks like a complete copy of the release; says why not otherwise.
check_folder() {
  local dir=$1 file expected count
  for file in "${required[@]}"; do
    [[ -f $dir/$file ]] || { echo "$file is missing"; return 1; }
  done
  declare -A headers=(
    [ratings.csv]="userId,movieId,rating,timestamp"
    [movies.csv]="movieId,title,genres"
    [tags.csv]="userId,movieId,tag,timestamp"
    [links.csv]="movieId,imdbId,tmdbId"
  )
  if [[ $ratings_file == ratings.csv ]]; then
    for file in ratings.csv movies.csv tags.csv links.csv; do
      [[ -f $dir/$file ]] || continue
      expected=${headers[$file]}
      [[ $(first_line "$dir/$file") == "$expected" ]] ||
        { echo "$file does not start with the header $expected"; return 1; }
    done
  fi
  count=$(count_ratings "$dir")
  [[ $count -eq $expected_ratings ]] ||
    { echo "$ratings_file holds $count ratings, expected $expected_ratings"; return 1; }
}

if [[ -d $target ]]; then
  if problem=$(check_folder "$target"); then
    say "$target is already complete ($(count_ratings "$target") ratings); nothing to do"
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
    say "copying the files of $mirror/$name"
    mkdir "$tmp/$name"
    find "$mirror/$name" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$tmp/$name/" \;
    [[ -f $tmp/$name/$ratings_file ]] || die "$mirror/$name has no $ratings_file"
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

# The zips hold one folder (NAME/, or ml-10M100K/ for ml-10m); accept the files at the top
# level too.
fetched=
for dir in "$tmp/$name" "$tmp"/*/; do
  dir=${dir%/}
  if [[ -f $dir/$ratings_file ]]; then fetched=$dir; break; fi
done
if [[ -z $fetched && -f $tmp/$ratings_file ]]; then
  mkdir "$tmp/.$name" && find "$tmp" -maxdepth 1 -type f -exec mv {} "$tmp/.$name/" \;
  fetched=$tmp/.$name
fi
[[ -n $fetched ]] || die "no $ratings_file in what was fetched"
problem=$(check_folder "$fetched") || die "fetched $name is not a MovieLens folder: $problem"
chmod -R u+w "$fetched"  # a read-only mirror should not leave data/ read-only

if [[ -e $target ]]; then
  say "removing the incomplete $target"
  chmod -R u+w "$target"
  rm -rf "$target"
fi
mv "$fetched" "$target"
say "$target is ready: $(count_ratings "$target") ratings ($(cd "$target" && echo "${required[@]}"))"
