// The interrupt handler: the first signal asks training to stop at the next safe point, a
// second one leaves at once.
#include "base/signals.h"

#include <time.h>
#include <unistd.h>

#include "base/runtime.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

// Monotonic nanoseconds of a run's first SIGINT / SIGTERM; 0 before it.
std::atomic<int64_t> first_interrupt_ns{0};

}  // namespace

void on_interrupt(int) {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  const int64_t now = ts.tv_sec * int64_t{1'000'000'000} + ts.tv_nsec;
  int64_t first = 0;
  if (first_interrupt_ns.compare_exchange_strong(first, now)) {
    interrupt_requested().store(true);  // first signal: stop after the current batch, save
    static const char kFirst[] =
        "dnnrec: interrupted: finishing the current batch, then saving a checkpoint "
        "(interrupt again to leave at once)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kFirst, sizeof(kFirst) - 1);
  } else if (now - first >= 100'000'000) {
    // A second one: leave at once. A checkpoint being written is dropped (its temporary file
    // removed); every file already in place is whole, being written by rename.
    remove_unfinished_write();
    static const char kSecond[] =
        "dnnrec: interrupted again: leaving at once, without a new checkpoint\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kSecond, sizeof(kSecond) - 1);
    ::_exit(kExitInterrupted);
  }
  // Within 100 ms it is the same interrupt delivered twice, not a second request: timeout and
  // kill(0) signal both the process and its group, and each of its threads can take one.
}

void reset_interrupts() {
  first_interrupt_ns.store(0);
  interrupt_requested().store(false);
}

}  // namespace dnnrec
