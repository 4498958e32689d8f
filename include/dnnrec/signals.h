// SIGINT and SIGTERM routed to one handler for a scope, the previous handlers put back after.
#pragma once

#include <csignal>

namespace dnnrec {

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
