// In the sanitizer build (-DDNNREC_SANITIZE=ON), proof that the sanitizers are on: a heap
// overflow, a use after free and a signed overflow must each end the process with the
// sanitizer's report. Without these, a CI run that lost its -fsanitize flags would pass clean.
#include <gtest/gtest.h>

#include <climits>
#include <vector>

namespace dnnrec {
namespace {

#ifdef DNNREC_SANITIZE

// volatile: the compiler must not prove the bugs away.
int overflow_heap(int past) {
  std::vector<int> v(4, 1);
  volatile int* p = v.data();
  return p[3 + past];
}

int use_after_free() {
  int* p = new int(7);
  delete p;
  return *static_cast<volatile int*>(p);
}

__attribute__((noinline)) int add(int a, int b) { return a + b; }

class SanitizerDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(SanitizerDeathTest, AddressSanitizerReportsAHeapOverflow) {
  EXPECT_EQ(overflow_heap(0), 1);
  EXPECT_DEATH(overflow_heap(1), "heap-buffer-overflow");
}

TEST_F(SanitizerDeathTest, AddressSanitizerReportsAUseAfterFree) {
  EXPECT_DEATH(use_after_free(), "heap-use-after-free");
}

TEST_F(SanitizerDeathTest, UndefinedBehaviorSanitizerReportsASignedOverflow) {
  volatile int big = INT_MAX;
  EXPECT_EQ(add(big - 1, 1), INT_MAX);
  // The sum is used, or the call would be dropped as dead code.
  EXPECT_DEATH(
      {
        volatile int sum = add(big, 1);
        (void)sum;
      },
      "signed integer overflow");
}

#endif

}  // namespace
}  // namespace dnnrec
