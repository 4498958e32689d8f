// The corpus of malformed MovieLens folders (tests/data/bad/, written by bad_corpus.cc): each
// case through the built binary gives its file:line message and exit 2, and with
// --on-bad-row skip the right count of skipped rows; never a crash or a hang.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "bad_corpus.h"
#include "data/load.h"
#include "data/sample.h"
#include "dnnrec/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dnnrec {
namespace {

testing::Shell dry_run(const std::string& folder, const std::string& extra) {
  return testing::shell("train --dry-run -q --json --set data.cache=false --data " + folder +
                            " --out " + folder + "/run" + (extra.empty() ? "" : "-skip ") + extra,
                        "timeout 120");
}

// Lead bytes and their continuation bytes (not overlong forms: enough for a message check).
bool valid_utf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80                 ? 0
                     : c >= 0xC2 && c <= 0xDF ? 1
                     : c >= 0xE0 && c <= 0xEF ? 2
                     : c >= 0xF0 && c <= 0xF4 ? 3
                                              : 9;
    if (n == 9 || (n > 0 && i + n >= text.size())) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

// True when `text` is printable UTF-8 (newlines and tabs allowed): what a terminal shows.
bool readable(const std::string& text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7F) return false;
  }
  return valid_utf8(text);
}

TEST(BadInput, EveryMalformedCaseGivesFileLineAndExitTwoOrACountedSkip) {
  // The corpus lives in tests/data/bad/ (see its README.md), rewritten from the code each run.
  const std::string corpus = std::string(DNNREC_SOURCE_DIR) + "/tests/data/bad";
  testing::write_bad_corpus(corpus);
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    if (fs::exists(entry.path() / "expect.json")) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  ASSERT_GE(folders.size(), 20u);
  for (const fs::path& folder : folders) {
    const json expect = json::parse(testing::read_file((folder / "expect.json").string()));
    const std::string name = expect["name"];
    const long line = expect["line"];
    const int skipped = expect["skipped"];
    const std::string where = expect["file"].get<std::string>() +
                              (line > 0 ? ":" + std::to_string(line) + ": " : ": ") +
                              expect["message"].get<std::string>();
    // The two runs of a case at once: this test is the suite's longest under the sanitizers.
    auto skipping = std::async(std::launch::async,
                               [&] { return dry_run(folder.string(), "--on-bad-row skip"); });
    const testing::Shell fail = dry_run(folder.string(), "");
    EXPECT_EQ(fail.code, kExitBadInput) << name << "\n" << fail.err;
    EXPECT_NE(fail.err.find(where), std::string::npos)
        << name << ": expected '" << where << "' in\n"
        << fail.err.substr(0, 400);
    EXPECT_TRUE(readable(fail.err)) << name << ": raw bytes in the message\n" << fail.err;
    const testing::Shell skip = skipping.get();
    if (skipped < 0) {
      EXPECT_EQ(skip.code, kExitBadInput) << name << "\n" << skip.err.substr(0, 400);
      continue;
    }
    ASSERT_EQ(skip.code, 0) << name << "\n" << skip.err.substr(0, 400);
    EXPECT_EQ(json::parse(skip.out)["skipped_rows"], skipped) << name;
  }
}

TEST(BadInput, ByteOrderMarkAndAMissingLastNewlineAreFine) {
  testing::TempDir tmp;
  const std::string good = tmp.file("good");
  write_sample_movielens(good, SampleOptions{50, 80, 2000, 100, 9});
  std::string ratings = testing::read_file(good + "/ratings.csv");
  ratings.pop_back();  // no newline after the last row
  testing::write_file(good + "/ratings.csv", "\xef\xbb\xbf" + ratings);
  const testing::Shell r = dry_run(good, "");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["skipped_rows"], 0);
  const MovieLens loaded = load_movielens(good);
  EXPECT_EQ(loaded.ratings.size(), 2000u);  // every row, the last one included
}

}  // namespace
}  // namespace dnnrec
