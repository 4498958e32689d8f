// libFuzzer target: MovieLens loading (every layout), splitting and feature building on
// arbitrary bytes. The input is cut at "\n@@\n" markers into the layout's ratings, movies and
// third file (tags.csv; u.user; users.dat; tags.dat; a csv log: events, items, users), a missing
// part keeping a small valid file;
// its first byte picks the bad-row policy, the loader's thread count, the split and the layout. A
// dnnrec::Error is a correct answer to bad input; a crash, a sanitizer report, a leak or any other
// exception is a finding. Built and run by scripts/fuzz.sh (clang,
// -fsanitize=fuzzer,address,undefined).
#include <unistd.h>

#include <iterator>

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

struct Layout {
  const char* format;
  const char* files[3];     // ratings, movies, a third file
  const char* defaults[3];  // small valid contents
};
const Layout kLayouts[] = {
    {"movielens-csv",
     {"ratings.csv", "movies.csv", "tags.csv"},
     {"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.0,964982704\n3,2,5.0,"
      "964982705\n",
      "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Heat (1995),Action\n",
      "userId,movieId,tag,timestamp\n1,1,funny,964982703\n"}},
    {"ml-100k",
     {"u.data", "u.item", "u.user"},
     {"1\t1\t4\t964982703\n2\t1\t3\t964982704\n3\t2\t5\t964982705\n",
      "1|Toy Story (1995)|01-Jan-1995||x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
      "2|Heat (1995)|||x|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
      "1|24|M|technician|85711\n2|53|F|other|94043\n"}},
    {"ml-1m",
     {"ratings.dat", "movies.dat", "users.dat"},
     {"1::1::4::964982703\n2::1::3::964982704\n3::2::5::964982705\n",
      "1::Toy Story (1995)::Animation|Children's\n2::Heat (1995)::Action\n",
      "1::F::1::10::48067\n2::M::25::12::10001\n"}},
    {"ml-10m",
     {"ratings.dat", "movies.dat", "tags.dat"},
     {"1::1::4.5::964982703\n2::1::3::964982704\n3::2::5::964982705\n",
      "1::Toy Story (1995)::Adventure|Animation\n2::Heat (1995)::Action\n",
      "1::1::funny::964982703\n"}},
    {"csv",
     {"events.csv", "items.csv", "users.csv"},
     {"user,item,rating,ts\nalice,sku-1,4,964982703\nbob,sku-1,3,964982704\n7,\"x,y\",5,9\n",
      "item,tags\nsku-1,a|b\n\"x,y\",c\n", "user,country\nalice,FR\n"}},
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
  const Layout& layout = kLayouts[((mode >> 4) & 7) % std::size(kLayouts)];
  const std::string dir = folder() + "/" + layout.format;  // one folder per layout
  std::filesystem::create_directories(dir);
  for (size_t i = 0; i < 3; ++i) {
    write(dir + "/" + layout.files[i],
          i < parts.size() ? parts[i] : std::string_view(layout.defaults[i]));
  }
  dnnrec::LoadOptions options;
  options.format = layout.format;
  options.cache = false;
  options.on_bad_row = (mode & 1) ? dnnrec::BadRowPolicy::kSkip : dnnrec::BadRowPolicy::kFail;
  options.threads = 1 + ((mode >> 1) & 1);
  options.csv.user = "user";
  options.csv.item = "item";
  options.csv.rating = "rating";
  options.csv.timestamp = "ts";
  options.csv.items = "items.csv";
  options.csv.item_key = "item";
  options.csv.item_features = {{"tags", "|"}};
  options.csv.users = "users.csv";
  options.csv.user_key = "user";
  options.csv.user_features = {{"country", ""}};
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
