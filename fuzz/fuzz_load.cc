// libFuzzer target: MovieLens CSV loading, splitting and feature building on arbitrary bytes.
// The input is cut at "\n@@\n" markers into ratings.csv, movies.csv and tags.csv (a missing
// part keeps a small valid file); its first byte picks the bad-row policy, the split and the
// loader's thread count. A dnnrec::Error is a correct answer to bad input; a crash, a
// sanitizer report, a leak or any other exception is a finding. Built and run by
// scripts/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "data/features.h"
#include "data/load.h"
#include "data/split.h"
#include "dnnrec/config.h"
#include "dnnrec/error.h"

namespace {

const char* kParts[] = {"ratings.csv", "movies.csv", "tags.csv"};
const char* kDefaults[] = {
    "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.0,964982704\n3,2,5.0,964982705\n",
    "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Heat (1995),Action\n",
    "userId,movieId,tag,timestamp\n1,1,funny,964982703\n",
};

std::string folder() {
  static const std::string dir = [] {
    const char* base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string d = std::string(base) + "/dnnrec-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void write(const std::string& path, std::string_view content) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string_view> parts;
  for (size_t at; parts.size() < 2 && (at = rest.find("\n@@\n")) != std::string_view::npos;) {
    parts.push_back(rest.substr(0, at + 1));
    rest.remove_prefix(at + 4);
  }
  parts.push_back(rest);
  const std::string dir = folder();
  for (size_t i = 0; i < 3; ++i) {
    write(dir + "/" + kParts[i], i < parts.size() ? parts[i] : std::string_view(kDefaults[i]));
  }
  dnnrec::LoadOptions options;
  options.cache = false;
  options.on_bad_row = (mode & 1) ? dnnrec::BadRowPolicy::kSkip : dnnrec::BadRowPolicy::kFail;
  options.threads = 1 + ((mode >> 1) & 1);
  try {
    const dnnrec::MovieLens ml = dnnrec::load_movielens(dir, options);
    dnnrec::DataConfig data;
    data.split = (mode & 4) ? "temporal" : ((mode & 8) ? "leave-last" : "random");
    const dnnrec::Split split = dnnrec::split_ratings(ml.ratings, data);
    dnnrec::FeaturesConfig features;
    features.history_len = 3;
    features.tag_len = 2;
    dnnrec::FeatureBuilder builder(features, data.split);
    builder.fit(ml, split.train);
    builder.transform(ml, split.test);
    builder.transform_train(ml, split.train);
  } catch (const dnnrec::Error&) {
    // A clear error for bad input: the expected outcome.
  }
  return 0;
}
