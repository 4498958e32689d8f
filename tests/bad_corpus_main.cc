// dnnrec_bad_corpus DIR: writes the malformed-input corpus (see bad_corpus.h) under DIR, e.g.
// tests/data/bad, to look at the cases or to seed the fuzzer.
#include <cstdio>
#include <exception>

#include "bad_corpus.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try {
    dnnrec::testing::write_bad_corpus(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnnrec_bad_corpus: %s\n", e.what());
    return 1;
  }
  std::printf("wrote the malformed-input corpus to %s\n", argv[1]);
  return 0;
}
