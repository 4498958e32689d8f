// dnnrec's entry point: run the CLI, map errors to exit codes.
#include <cstdio>
#include <exception>

#include "cli/cli.h"
#include "dnnrec/error.h"

int main(int argc, char** argv) {
  try {
    return dnnrec::cli::run(argc, argv);
  } catch (const dnnrec::Error& e) {
    std::fprintf(stderr, "dnnrec: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnnrec: internal error: %s\n", e.what());
    return dnnrec::kExitFailure;
  }
}
