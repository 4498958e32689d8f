// SIGINT and SIGTERM routed to one handler for a scope, the previous handlers put back after,
// the process-wide "stop at the next safe point" flag, and the handler that sets it.
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

/// The handler of with_interrupts: the first SIGINT / SIGTERM sets interrupt_requested() and
/// says so on stderr; a second one (100 ms or more later) removes an unfinished checkpoint write
/// and leaves at once with exit code 130.
void on_interrupt(int signal);

/// Forgets an earlier interrupt: the next signal counts as the first.
void reset_interrupts();

/// Runs body with SIGINT / SIGTERM turned into interrupt_requested(), restoring the previous
/// handlers afterwards.
template <class Body>
auto with_interrupts(Body&& body) {
  reset_interrupts();
  const ScopedInterruptHandler handler(on_interrupt);
  return body();
}

}  // namespace dnnrec
