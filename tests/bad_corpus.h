// The corpus of malformed MovieLens folders (tests/data/bad/): each case is a good sample folder
// with one file made malformed, and an expect.json saying what dnnrec must answer. Written by
// the test suite (BadInput.*) and by `dnnrec_bad_corpus DIR`; the fuzzer seeds from it.
#pragma once

#include <string>
#include <vector>

namespace dnnrec::testing {

struct BadCase {
  std::string name;     ///< what is wrong, in words
  std::string file;     ///< the file made malformed
  std::string content;  ///< its whole content
  std::string message;  ///< expected in the error after "file:line: " (or "file: ")
  long line;            ///< the line the error names; 0 for a whole-file problem
  int skipped;          ///< rows skipped with --on-bad-row skip; -1: fatal under skip too
};

/// The cases, made from the good folder `good` (a write_sample_movielens folder).
std::vector<BadCase> bad_corpus(const std::string& good);

/// A case's folder name: its index and its name, e.g. "03-nul-byte".
std::string case_folder(size_t index, const std::string& name);

/// Writes the whole corpus under `dir` (replacing what was there): `dir/good/` and one folder
/// per case with the four CSV files and expect.json ({name, file, line, message, skipped}).
/// The folder is built beside `dir` and renamed into place, so a reader never sees half of it.
void write_bad_corpus(const std::string& dir);

}  // namespace dnnrec::testing
