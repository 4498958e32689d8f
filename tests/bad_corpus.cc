#include "bad_corpus.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "data/sample.h"

namespace fs = std::filesystem;

namespace dnnrec::testing {
namespace {

const char* const kFiles[] = {"ratings.csv", "movies.csv", "tags.csv", "links.csv"};
const std::string kHeader = "userId,movieId,rating,timestamp\n";
const std::string kGood = "1,1,4.0,964982703\n2,1,3.0,964982704\n";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

// `content` with `row` inserted after its header line.
std::string after_header(std::string content, const std::string& row) {
  content.insert(content.find('\n') + 1, row);
  return content;
}

}  // namespace

std::vector<BadCase> bad_corpus(const std::string& good) {
  const std::string movies = read_all(good + "/movies.csv");
  const std::string tags = read_all(good + "/tags.csv");
  const std::string links = read_all(good + "/links.csv");
  const long tag_lines = static_cast<long>(std::count(tags.begin(), tags.end(), '\n'));
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) % 256);
  const std::string nul("\0", 1);
  return {
      {"binary garbage", "ratings.csv", garbage, "wrong header", 1, -1},
      {"a 10 MB single line", "ratings.csv", kHeader + kGood + std::string(10 << 20, '7') + "\n",
       "expected 4 columns (userId,movieId,rating,timestamp), found 1", 4, 1},
      {"NUL byte in ratings", "ratings.csv", kHeader + kGood + "3,1,4.0,9649" + nul + "82703\n",
       "NUL byte in the row", 4, 1},
      {"NUL byte in a title", "movies.csv",
       after_header(movies, "999002,\"Nul" + nul + " title (1995)\",Comedy\n"),
       "NUL byte in the row", 2, 1},
      {"NUL byte in links", "links.csv", after_header(links, "999003,0114" + nul + "709,862\n"),
       "NUL byte in the row", 2, 1},
      {"NUL byte in the header", "ratings.csv",
       "user" + nul + "Id,movieId,rating,timestamp\n" + kGood,
       "wrong header: NUL byte in the header row", 1, -1},
      {"control bytes in the header", "ratings.csv",
       "\x01\x02user\xffId,movieId,rating,timestamp\n" + kGood,
       "wrong header: expected userId,movieId,rating,timestamp (unexpected column "
       "\"\\x01\\x02user\\xFFId\")",
       1, -1},
      {"negative id", "ratings.csv", kHeader + kGood + "-5,1,4.0,964982703\n",
       "column 'userId': \"-5\" is negative", 4, 1},
      {"huge id", "ratings.csv", kHeader + kGood + "99999999999999999999999,1,4.0,964982703\n",
       "column 'userId': \"99999999999999999999999\" is out of range", 4, 1},
      {"duplicate (user, movie)", "ratings.csv", kHeader + kGood + "1,1,2.0,964982799\n",
       "duplicate rating of user 1 for movie 1 (first on line 2)", 4, 1},
      {"timestamp before 1970", "ratings.csv", kHeader + kGood + "3,1,4.0,-1\n",
       "column 'timestamp': -1 is outside", 4, 1},
      {"timestamp after 2100", "ratings.csv", kHeader + kGood + "3,1,4.0,5000000000\n",
       "column 'timestamp': 5000000000 is outside", 4, 1},
      {"timestamp overflow", "ratings.csv", kHeader + kGood + "3,1,4.0,99999999999999999999\n",
       "column 'timestamp': \"99999999999999999999\" is out of range", 4, 1},
      {"rating 4.0.0", "ratings.csv", kHeader + kGood + "3,1,4.0.0,964982703\n",
       "column 'rating': \"4.0.0\" is not a number", 4, 1},
      {"rating nan", "ratings.csv", kHeader + kGood + "3,1,nan,964982703\n",
       "column 'rating': \"nan\" is not a finite number", 4, 1},
      {"rating inf", "ratings.csv", kHeader + kGood + "3,1,inf,964982703\n",
       "column 'rating': \"inf\" is not a finite number", 4, 1},
      {"invalid UTF-8 title", "movies.csv",
       after_header(movies, "999001,\"Bad \xff\xfe title (1995)\",Comedy\n"),
       "column 'title' is not valid UTF-8 (byte 0xFF at offset 4)", 2, 1},
      {"invalid UTF-8 tag", "tags.csv", tags + "1,1,bad\xff\xfetag,964982703\n",
       "column 'tag' is not valid UTF-8", tag_lines + 1, 1},
      {"empty ratings.csv", "ratings.csv", "", "empty file (no header row)", 0, -1},
      {"only a header", "ratings.csv", kHeader, "no ratings: the file has only its header row", 0,
       -1},
  };
}

std::string case_folder(size_t index, const std::string& name) {
  std::string slug;
  for (const char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      slug += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  char number[8];
  std::snprintf(number, sizeof(number), "%02zu-", index);
  return number + slug;
}

void write_bad_corpus(const std::string& dir) {
  const fs::path target = fs::absolute(dir).lexically_normal();
  const fs::path building = target.parent_path() / ("." + target.filename().string() + ".tmp-" +
                                                    std::to_string(::getpid()));
  fs::remove_all(building);
  fs::create_directories(building);
  const std::string good = (building / "good").string();
  write_sample_movielens(good, SampleOptions{50, 80, 2000, 100, 9});
  const std::vector<BadCase> cases = bad_corpus(good);
  for (size_t i = 0; i < cases.size(); ++i) {
    const BadCase& c = cases[i];
    const fs::path folder = building / case_folder(i, c.name);
    fs::create_directories(folder);
    for (const char* name : kFiles) fs::copy_file(fs::path(good) / name, folder / name);
    write_all((folder / c.file).string(), c.content);
    const nlohmann::json expect = {{"name", c.name},
                                   {"file", c.file},
                                   {"line", c.line},
                                   {"message", c.message},
                                   {"skipped", c.skipped}};
    write_all((folder / "expect.json").string(), expect.dump(2) + "\n");
  }
  // The README stays; everything else is replaced.
  const fs::path readme = target / "README.md";
  if (fs::exists(readme)) fs::copy_file(readme, building / "README.md");
  const fs::path old = target.parent_path() /
                       ("." + target.filename().string() + ".old-" + std::to_string(::getpid()));
  if (fs::exists(target)) fs::rename(target, old);
  fs::rename(building, target);
  fs::remove_all(old);
}

}  // namespace dnnrec::testing
