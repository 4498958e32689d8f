// Data-parallel training on c10d / Gloo over loopback: the collectives, `dnnrec launch` against
// one process with the same global batch, a lost rank, resume, and --world-size 1.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "data/movielens.h"
#include "data/sample.h"
#include "dnnrec/error.h"
#include "run/launch.h"
#include "test_util.h"
#include "train/distributed.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dnnrec {
namespace {

using testing::shell;

const std::string& data_dir() {
  static testing::TempDir* dir = new testing::TempDir();
  static const std::string path = [] {
    const std::string p = dir->file("data");
    write_sample_movielens(p, SampleOptions{120, 200, 8000, 300, 5});
    return p;
  }();
  return path;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

// history.csv as rows of numbers by column name, without the timing columns.
std::vector<std::map<std::string, double>> history(const std::string& run_dir) {
  std::ifstream in(run_dir + "/history.csv");
  std::string line;
  std::vector<std::string> names;
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (names.empty()) {
      names = cells;
      continue;
    }
    std::map<std::string, double> row;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (names[i] != "seconds" && names[i] != "samples_per_sec")
        row[names[i]] = std::stod(cells[i]);
    }
    rows.push_back(row);
  }
  return rows;
}

std::string weights_digest(const std::string& checkpoint) {
  const testing::Shell s = shell("info --json --checkpoint " + checkpoint);
  EXPECT_EQ(s.code, 0) << s.err;
  return json::parse(s.out)["weights_digest"].get<std::string>();
}

TEST(Distributed, CollectivesSumBroadcastAndGatherAcrossTwoRanks) {
  const std::string master = "127.0.0.1:" + std::to_string(free_port());
  std::vector<std::string> failures(2);
  std::vector<torch::Tensor> sums(2), gathered(2);
  std::vector<std::string> bytes(2);
  auto rank = [&](int r) {
    try {
      DistOptions o;
      o.world_size = 2;
      o.rank = r;
      o.master = master;
      o.timeout_seconds = 20;
      auto group = ProcessGroup::join(o);
      // Two tensors, one bigger than nothing, summed in place.
      std::vector<torch::Tensor> t = {torch::full({3}, 1.0f + r), torch::full({2, 2}, 10.0f * r)};
      group->allreduce_sum(t);
      sums[r] = torch::cat({t[0], t[1].reshape({-1})});
      bytes[r] = group->broadcast_bytes(r == 0 ? std::string("rank 0 says\0hi", 14) : "");
      // Lengths 2 and 3: gathered in rank order.
      gathered[r] = group->allgather_cat(torch::arange(2 + r, torch::kFloat) + 100 * r);
      group->barrier();
    } catch (const std::exception& e) {
      failures[r] = e.what();
    }
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
  ASSERT_EQ(failures[0], "");
  ASSERT_EQ(failures[1], "");
  const torch::Tensor expected_sum = torch::tensor({3.f, 3.f, 3.f, 10.f, 10.f, 10.f, 10.f});
  const torch::Tensor expected_gather = torch::tensor({0.f, 1.f, 100.f, 101.f, 102.f});
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(torch::equal(sums[r], expected_sum)) << sums[r];
    EXPECT_EQ(bytes[r], std::string("rank 0 says\0hi", 14));
    EXPECT_TRUE(torch::equal(gathered[r], expected_gather)) << gathered[r];
  }
}

TEST(Distributed, BadAddressesAndLaunchOptionsAreClearErrors) {
  EXPECT_THROW(parse_host_port("localhost", "--master"), ConfigError);
  EXPECT_THROW(parse_host_port("host:0", "--master"), ConfigError);
  EXPECT_THROW(parse_host_port("host:70000", "--master"), ConfigError);
  EXPECT_THROW(parse_host_port("host:12x", "--master"), ConfigError);
  EXPECT_EQ(parse_host_port("10.0.0.1:29500", "--master"),
            (std::pair<std::string, int>("10.0.0.1", 29500)));
  LaunchOptions o;
  o.args = {"train", "--rank", "1"};
  EXPECT_THROW(run_launch(o, "/bin/false"), ConfigError);  // launch sets --rank itself
  o.args = {"evaluate"};
  EXPECT_THROW(run_launch(o, "/bin/false"), ConfigError);
  o.args = {"train"};
  o.world_size = 4;  // ranks elsewhere need an address they can reach
  EXPECT_THROW(run_launch(o, "/bin/false"), ConfigError);
  const testing::Shell s = shell("train --world-size 2 --rank 2 --data " + data_dir());
  EXPECT_EQ(s.code, kExitBadInput);
  EXPECT_NE(s.err.find("--rank 2 is outside 0..1"), std::string::npos) << s.err;
}

TEST(Distributed, TwoRanksTrainAsOneProcessWithTheSameGlobalBatch) {
  testing::TempDir tmp;
  const std::string common = "--data " + data_dir() +
                             " --epochs 4 --batch-size 512 --dropout 0.2 -q --set "
                             "output.plots=false --out ";
  // One process with two slices per batch; two ranks of one slice each: the same examples,
  // masks and gradient, summed in another place.
  const testing::Shell one = shell("train --threads 2 " + common + tmp.file("one"));
  ASSERT_EQ(one.code, 0) << one.err;
  const testing::Shell two = shell("launch --nproc 2 -- train " + common + tmp.file("two"));
  ASSERT_EQ(two.code, 0) << two.err;
  const auto a = history(tmp.file("one")), b = history(tmp.file("two"));
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t e = 0; e < a.size(); ++e) {
    for (const auto& [name, value] : a[e]) {
      EXPECT_LE(std::abs(b[e].at(name) - value), 1e-4 * std::abs(value))
          << "epoch " << e + 1 << " " << name << ": " << value << " vs " << b[e].at(name);
    }
  }
  // More than close: the parts of the gradient are added in the same order both ways (see
  // ModelOptimizer::prepare), so the final weights are the same bits.
  EXPECT_EQ(weights_digest(tmp.file("one/last.pt")), weights_digest(tmp.file("two/last.pt")));
  const json metrics = json::parse(testing::read_file(tmp.file("two/metrics.json")));
  EXPECT_EQ(metrics["world_size"], 2);
  ASSERT_EQ(metrics["rank_weights_digests"].size(), 2u);
  EXPECT_EQ(metrics["rank_weights_digests"][0], metrics["rank_weights_digests"][1]);
  // Only rank 0 wrote: one run directory, one history.
  EXPECT_TRUE(fs::exists(tmp.file("two/best.pt")));
  EXPECT_NE(two.err.find("all 2 ranks finished"), std::string::npos) << two.err;
}

TEST(Distributed, WorldSizeOneIsTheSingleProcessRun) {
  testing::TempDir tmp;
  const std::string common =
      "--data " + data_dir() + " --epochs 2 --threads 2 -q --set output.plots=false --out ";
  ASSERT_EQ(shell("train " + common + tmp.file("plain")).code, 0);
  ASSERT_EQ(shell("train --world-size 1 --rank 0 " + common + tmp.file("one")).code, 0);
  EXPECT_EQ(history(tmp.file("plain")), history(tmp.file("one")));
  EXPECT_EQ(weights_digest(tmp.file("plain/last.pt")), weights_digest(tmp.file("one/last.pt")));
}

TEST(Distributed, AKilledRankStopsTheOthersWithinSecondsNamingIt) {
  for (const int victim : {1, 0}) {
    testing::TempDir tmp;
    const std::string log = tmp.file("launch.log");
    // The launcher in the background; once rank 0 has finished an epoch, SIGKILL the victim
    // and time how long the launch takes to end.
    const std::string script = "\"$0\" \"$@\" 2>" + log +
                               " & p=$!; for i in $(seq 1200); do grep -q \"epoch 1/\" " + log +
                               " && break; sleep 0.05; done; v=$(sed -n \"s/.*rank " +
                               std::to_string(victim) + ": pid \\([0-9]*\\).*/\\1/p\" " + log +
                               "); kill -9 $v; s=$(date +%s); wait $p; c=$?; echo \"code $c after "
                               "$(($(date +%s) - s)) s\"";
    const testing::Shell s = shell(
        "launch --nproc 2 -- train --data " + data_dir() +
            " --epochs 100000 --batch-size 64 --set output.plots=false --out " + tmp.file("run"),
        "sh -c '" + script + "'");
    const std::string err = testing::read_file(log);
    int code = -1, seconds = -1;
    ASSERT_EQ(std::sscanf(s.out.c_str(), "code %d after %d s", &code, &seconds), 2) << s.out;
    EXPECT_EQ(code, kExitPeerLost) << err;
    EXPECT_LT(seconds, 60) << err;
    EXPECT_NE(err.find("lost rank " + std::to_string(victim) + " of 2"), std::string::npos) << err;
  }
}

TEST(Distributed, AnInterruptedGroupResumesToTheUninterruptedWeights) {
  testing::TempDir tmp;
  const std::string common =
      "--data " + data_dir() + " --epochs 3 --batch-size 128 -q --set output.plots=false --out ";
  ASSERT_EQ(shell("launch --nproc 2 -- train " + common + tmp.file("whole")).code, 0);
  // SIGINT to the launcher once epoch 1's last.pt exists: it forwards it, every rank stops
  // after the same batch, rank 0 writes interrupted.pt, all exit 130.
  const std::string cut = tmp.file("cut");
  const std::string script = "\"$0\" \"$@\" & p=$!; for i in $(seq 2400); do [ -f " + cut +
                             "/last.pt ] && break; sleep 0.02; done; kill -INT $p; wait $p";
  const testing::Shell stopped =
      shell("launch --nproc 2 -- train " + common + cut, "sh -c '" + script + "'");
  ASSERT_EQ(stopped.code, kExitInterrupted) << stopped.err;
  ASSERT_TRUE(fs::exists(cut + "/interrupted.pt")) << stopped.err;
  const testing::Shell resumed = shell("launch --nproc 2 -- train -q --resume " + cut);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(weights_digest(cut + "/last.pt"), weights_digest(tmp.file("whole/last.pt")));
  EXPECT_EQ(history(cut), history(tmp.file("whole")));
}

}  // namespace
}  // namespace dnnrec
