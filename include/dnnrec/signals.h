// SIGINT and SIGTERM routed to one handler for a scope, the previous handlers put back after,
// and the process-wide "stop at the next safe point" flag the CLI's handler sets.
#pragma once

#include <atomic>
#include <csignal>

namespace dnnrec {

/// Set by the CLI's SIGINT / SIGTERM handler (async-signal-safe: a lock-free atomic). Training
/// checkpoints and stops after the current batch; a sweep stops starting trials.
inline std::atomic<bool>& interrupt_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

class ScopedInterruptHandler {
 public:
  explicit ScopedInterruptHandler(void (*handler)(int))
      : previous_int_(std::signal(SIGINT, handler)),
        previous_term_(std::signal(SIGTERM, handler)) {}
  ~ScopedInterruptHandler() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  ScopedInterruptHandler(const ScopedInterruptHandler&) = delete;
  ScopedInterruptHandler& operator=(const ScopedInterruptHandler&) = delete;

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

}  // namespace dnnrec
