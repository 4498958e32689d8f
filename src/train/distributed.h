// Data-parallel training over PyTorch's c10d, the engine of DistributedDataParallel: a
// TCPStore on rank 0 for the rendezvous, and a Gloo process group for allreduce, broadcast and
// allgather over TCP. Every rank holds the whole model; the trainer combines the ranks'
// gradients after each batch (allreduce_sum, allgather), so every rank holds the same weights
// after every step.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dnnrec {

/// How a process joins a group (the flags of `dnnrec train`; world_size 1 joins nothing).
struct DistOptions {
  int world_size = 1;
  int rank = 0;
  std::string master = "127.0.0.1:29500";  ///< HOST:PORT where rank 0 serves the store
  std::string bind;          ///< address this rank's Gloo transport listens on; "" = auto
  int timeout_seconds = 30;  ///< a collective waiting this long for a peer fails
};

/// "HOST:PORT" as host and port (1..65535); throws ConfigError naming `flag`.
std::pair<std::string, int> parse_host_port(const std::string& text, const std::string& flag);

/// A joined process group. Every collective is blocking; when a peer has died or stopped
/// answering, it throws DistributedError naming the lost rank(s), found from the heartbeats
/// every rank keeps in the store.
class ProcessGroup {
 public:
  /// Joins: rank 0 serves the store at options.master, every rank connects to it and to each
  /// other. Throws DistributedError when the group is not complete within the timeout.
  static std::unique_ptr<ProcessGroup> join(const DistOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  /// Sums every tensor over the ranks, in place. The tensors (float32 or float64, CPU) are
  /// packed into a few flat buffers (buckets, one dtype each) so that there are few
  /// collectives per step.
  void allreduce_sum(std::vector<torch::Tensor>& tensors);
  /// Rank `root`'s values of the tensors (CPU, contiguous), in place on every rank.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  /// Rank `root`'s `bytes` on every rank.
  std::string broadcast_bytes(const std::string& bytes, int root = 0);
  /// Every rank's 1-D tensor (float32 or int64; lengths may differ), concatenated in rank
  /// order, on every rank.
  torch::Tensor allgather_cat(const torch::Tensor& local);
  /// The same, one tensor per rank.
  std::vector<torch::Tensor> allgather(const torch::Tensor& local);
  /// Returns when every rank has called it.
  void barrier();

 private:
  struct Impl;
  ProcessGroup(int rank, int world_size, std::unique_ptr<Impl> impl);
  /// Rethrows a failed collective as a DistributedError naming the ranks that were lost.
  [[noreturn]] void lost(const std::exception& e, const std::string& what);

  int rank_;
  int world_size_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dnnrec
