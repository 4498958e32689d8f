#include "train/distributed.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "dnnrec/error.h"

namespace dnnrec {
namespace {

using Millis = std::chrono::milliseconds;

// Beats are counted in the store every second; a rank whose count stands still for
// kBeatWindow after a collective failed is taken as lost.
constexpr Millis kBeatPeriod{1000};
constexpr Millis kBeatWindow{3500};
// Floats per allreduce: one bucket holds a small model whole.
constexpr int64_t kBucketElements = 8 << 20;

std::string beat_key(int rank) { return "dnnrec/beat/" + std::to_string(rank); }

// The first line of an exception's text: c10d's messages carry a C++ backtrace after it.
std::string first_line(const std::exception& e) {
  std::string text = e.what();
  const size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return text;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

}  // namespace

std::pair<std::string, int> parse_host_port(const std::string& text, const std::string& flag) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw ConfigError(flag + " '" + text + "': expected HOST:PORT, e.g. 10.0.0.1:29500");
  }
  const std::string host = text.substr(0, colon);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 1 || port > 65535) {
    throw ConfigError(flag + " '" + text + "': the port must be a number in 1..65535");
  }
  return {host, port};
}

struct ProcessGroup::Impl {
  std::string master;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  // The heartbeat: a connection of its own to the store, and the thread that beats on it.
  c10::intrusive_ptr<c10d::TCPStore> beat_store;
  std::thread beat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;

  void stop_beating() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    wake.notify_all();
    if (beat.joinable()) beat.join();
  }
};

std::unique_ptr<ProcessGroup> ProcessGroup::join(const DistOptions& options) {
  const int world = options.world_size, rank = options.rank;
  if (world < 1) throw ConfigError("--world-size must be >= 1");
  if (rank < 0 || rank >= world) {
    throw ConfigError("--rank " + std::to_string(rank) + " is outside 0.." +
                      std::to_string(world - 1) + " (--world-size " + std::to_string(world) + ")");
  }
  if (options.timeout_seconds < 1) throw ConfigError("--dist-timeout must be >= 1 second");
  const auto [host, port] = parse_host_port(options.master, "--master");
  const Millis timeout(int64_t{1000} * options.timeout_seconds);
  // Ranks are started by hand on several hosts, so joining waits longer than a collective.
  const Millis join_timeout = std::max(timeout, Millis(300'000));
  auto impl = std::make_unique<Impl>();
  impl->master = options.master;
  const std::string who = "rank " + std::to_string(rank) + " of " + std::to_string(world);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(port);
    store_options.isServer = rank == 0;
    store_options.numWorkers = world;
    store_options.waitWorkers = false;
    store_options.timeout = join_timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
  } catch (const std::exception& e) {
    throw DistributedError(who + ": cannot " +
                           (rank == 0 ? "serve the store at " : "reach the store at ") +
                           options.master + ": " + first_line(e));
  }
  try {
    std::shared_ptr<::gloo::transport::Device> device;
    if (!options.bind.empty()) {
      device = c10d::ProcessGroupGloo::createDeviceForHostname(options.bind);
    } else if (is_loopback(host)) {
      device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    } else {
      device = c10d::ProcessGroupGloo::createDefaultDevice();
    }
    // A collective that waits longer than the timeout fails. Joining waits on the store,
    // whose own timeout is the longer join_timeout.
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
    gloo_options->devices.push_back(device);
    gloo_options->threads = 1;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("dnnrec/gloo", impl->store);
    impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world, gloo_options);
  } catch (const std::exception& e) {
    throw DistributedError(who + ": the group of " + std::to_string(world) +
                           " did not form within " + std::to_string(join_timeout.count() / 1000) +
                           " s (are all ranks started, with the same --master and "
                           "--world-size?): " +
                           first_line(e));
  }
  try {
    c10d::TCPStoreOptions beat_options;
    beat_options.port = static_cast<uint16_t>(port);
    beat_options.isServer = false;
    beat_options.timeout = Millis(10'000);
    impl->beat_store = c10::make_intrusive<c10d::TCPStore>(host, beat_options);
    impl->beat_store->add(beat_key(rank), 1);
  } catch (const std::exception& e) {
    throw DistributedError(who + ": cannot reach the store at " + options.master + ": " +
                           first_line(e));
  }
  Impl* raw = impl.get();
  impl->beat = std::thread([raw, rank] {
    std::unique_lock<std::mutex> lock(raw->mutex);
    while (!raw->wake.wait_for(lock, kBeatPeriod, [raw] { return raw->stop; })) {
      try {
        raw->beat_store->add(beat_key(rank), 1);
      } catch (const std::exception&) {
        return;  // the store is gone (rank 0 ended); the next collective tells
      }
    }
  });
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(rank, world, std::move(impl)));
}

ProcessGroup::ProcessGroup(int rank, int world_size, std::unique_ptr<Impl> impl)
    : rank_(rank), world_size_(world_size), impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() {
  impl_->stop_beating();
  impl_->group.reset();
  impl_->beat_store.reset();
  impl_->store.reset();
}

void ProcessGroup::lost(const std::exception& e, const std::string& what) {
  impl_->stop_beating();
  // Whose beat stands still? Our own does now; the others' go on while they live.
  std::vector<int> gone;
  bool store_alive = true;
  try {
    std::vector<int64_t> before(world_size_);
    for (int q = 0; q < world_size_; ++q) before[q] = impl_->beat_store->add(beat_key(q), 0);
    std::this_thread::sleep_for(kBeatWindow);
    for (int q = 0; q < world_size_; ++q) {
      if (q != rank_ && impl_->beat_store->add(beat_key(q), 0) == before[q]) gone.push_back(q);
    }
  } catch (const std::exception&) {
    store_alive = false;  // rank 0 serves the store: it is the one gone
    if (rank_ != 0) gone = {0};
  }
  const std::string who = "rank " + std::to_string(rank_) + " of " + std::to_string(world_size_);
  if (gone.empty()) {
    throw DistributedError(who + ": " + what + " failed: " + first_line(e));
  }
  std::string names;
  for (size_t i = 0; i < gone.size(); ++i) {
    names += (i == 0 ? "" : (i + 1 == gone.size() ? " and " : ", ")) + std::to_string(gone[i]);
  }
  throw DistributedError("lost rank " + names + " of " + std::to_string(world_size_) + " (" +
                         (store_alive ? "its heartbeat stopped"
                                      : "the store it served at " + impl_->master + " is gone") +
                         "): " + who + " stops, as training cannot go on without it (" + what +
                         ": " + first_line(e) + ")");
}

void ProcessGroup::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  size_t first = 0;
  while (first < tensors.size()) {
    // A bucket: the next tensors of one dtype up to kBucketElements (at least one).
    const auto dtype = tensors[first].scalar_type();
    size_t last = first;
    int64_t total = 0;
    while (last < tensors.size() && tensors[last].scalar_type() == dtype &&
           (last == first || total + tensors[last].numel() <= kBucketElements)) {
      if ((dtype != torch::kFloat && dtype != torch::kDouble) || !tensors[last].device().is_cpu()) {
        throw Error("allreduce_sum: float32 or float64 CPU tensors only");
      }
      total += tensors[last].numel();
      ++last;
    }
    torch::Tensor flat = torch::empty({total}, dtype);
    int64_t offset = 0;
    for (size_t i = first; i < last; ++i) {
      const int64_t n = tensors[i].numel();
      flat.narrow(0, offset, n).copy_(tensors[i].reshape({-1}));
      offset += n;
    }
    std::vector<at::Tensor> buffers{flat};
    try {
      impl_->group->allreduce(buffers)->wait();
    } catch (const std::exception& e) {
      lost(e, "allreduce");
    }
    offset = 0;
    for (size_t i = first; i < last; ++i) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(flat.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    first = last;
  }
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (torch::Tensor& t : tensors) {
    torch::Tensor buffer = t.contiguous();
    std::vector<at::Tensor> one{buffer};
    try {
      impl_->group->broadcast(one, options)->wait();
    } catch (const std::exception& e) {
      lost(e, "broadcast");
    }
    if (!buffer.is_same(t)) t.copy_(buffer);
  }
}

std::string ProcessGroup::broadcast_bytes(const std::string& bytes, int root) {
  std::vector<torch::Tensor> size{torch::tensor({static_cast<int64_t>(bytes.size())})};
  broadcast(size, root);
  const int64_t n = size[0].item<int64_t>();
  std::vector<torch::Tensor> data{torch::empty({n}, torch::kUInt8)};
  if (rank_ == root) std::memcpy(data[0].data_ptr(), bytes.data(), bytes.size());
  if (n > 0) broadcast(data, root);
  return std::string(static_cast<const char*>(data[0].data_ptr()), static_cast<size_t>(n));
}

torch::Tensor ProcessGroup::allgather_cat(const torch::Tensor& local) {
  return torch::cat(allgather(local));
}

std::vector<torch::Tensor> ProcessGroup::allgather(const torch::Tensor& local) {
  const torch::Tensor mine = local.reshape({-1}).contiguous();
  // Gloo gathers equal lengths: every rank pads to the longest.
  std::vector<at::Tensor> length{torch::tensor({mine.numel()})};
  std::vector<std::vector<at::Tensor>> lengths(1);
  for (int q = 0; q < world_size_; ++q) lengths[0].push_back(torch::empty({1}, torch::kLong));
  try {
    impl_->group->allgather(lengths, length)->wait();
  } catch (const std::exception& e) {
    lost(e, "allgather");
  }
  int64_t longest = 0;
  for (const auto& l : lengths[0]) longest = std::max(longest, l.item<int64_t>());
  std::vector<at::Tensor> padded{torch::zeros({longest}, mine.options())};
  padded[0].narrow(0, 0, mine.numel()).copy_(mine);
  std::vector<std::vector<at::Tensor>> parts(1);
  for (int q = 0; q < world_size_; ++q) parts[0].push_back(torch::empty({longest}, mine.options()));
  try {
    impl_->group->allgather(parts, padded)->wait();
  } catch (const std::exception& e) {
    lost(e, "allgather");
  }
  std::vector<torch::Tensor> pieces;
  for (int q = 0; q < world_size_; ++q) {
    pieces.push_back(parts[0][q].narrow(0, 0, lengths[0][q].item<int64_t>()));
  }
  return pieces;
}

void ProcessGroup::barrier() {
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    lost(e, "barrier");
  }
}

}  // namespace dnnrec
