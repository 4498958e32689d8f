// The MovieLens layouts besides ml-latest's CSV files, as GroupLens ships them: ml-100k (u.data
// tab-separated, u.item and u.user '|'-separated, Latin-1 titles, 19 genre flags), ml-1m
// (ratings.dat, movies.dat and users.dat separated by "::", Latin-1 titles) and ml-10m
// (ratings.dat, movies.dat, tags.dat separated by "::"); which layout a folder holds; and the
// files of each. Every row is checked by the rules of the CSV layout (movielens_rows.h), every
// problem reported as "file:line: reason".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "data/movielens.h"

namespace dnnrec {

/// The names data.format takes, auto first.
const std::vector<std::string>& movielens_formats();

/// The layout of the files in `dir`: ratings.csv -> movielens-csv, u.data -> ml-100k,
/// ratings.dat with users.dat -> ml-1m, ratings.dat without -> ml-10m. "" when none is there.
std::string detect_movielens_format(const std::string& dir);

/// The files a layout reads, required ones first: {required, optional}.
struct FormatFiles {
  std::vector<std::string> required;
  std::vector<std::string> optional;
};
/// csv: the files options.csv names, all required.
FormatFiles movielens_format_files(const std::string& format, const LoadOptions& options);

/// Parses a folder in one of the older layouts (ml-100k, ml-1m, ml-10m).
MovieLens parse_legacy_movielens(const std::string& dir, const std::string& format,
                                 const LoadOptions& options);

/// Writes `ml` into `dir` (created if needed) in `format`'s files, as GroupLens ships that
/// layout. What a layout cannot hold is left out: tags in ml-100k and ml-1m, user descriptions
/// in movielens-csv and ml-10m, genres other than ml-100k's 19 there. Titles are written in
/// Latin-1 where the layout uses it ('?' for a character outside it). The ratings keep their
/// order, so a load of the written folder gives the same ratings.
void write_movielens_folder(const MovieLens& ml, const std::string& dir, const std::string& format);

/// UTF-8 text as Latin-1: characters above U+00FF become '?'.
std::string utf8_to_latin1(std::string_view text);

/// Latin-1 (ISO-8859-1) text as UTF-8: every byte above 0x7F becomes its two-byte form.
std::string latin1_to_utf8(std::string_view text);

/// ml-1m's occupation codes (users.dat) as named in its README; "" for an unknown code.
std::string ml1m_occupation(int code);

}  // namespace dnnrec
