// GoogleTest entry point of the single test binary.
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // Trainings in the tests draw no plots (a Python start each); the plot tests turn them on.
  ::setenv("DNNREC_NO_PLOTS", "1", /*overwrite=*/1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
