// RetryPolicy: doubling from the first wait up to the cap, jitter within [half, whole],
// and a server's own "retry after" honoured up to its cap.
#include "retry.h"

#include <gtest/gtest.h>

namespace gwctl {
namespace {

using namespace std::chrono_literals;

TEST(RetryPolicyTest, WaitsDoubleUpToTheCap) {
  RetryPolicy policy{2s, 5min};
  EXPECT_EQ(policy.Delay(1), 2s);
  EXPECT_EQ(policy.Delay(2), 4s);
  EXPECT_EQ(policy.Delay(8), 256s);
  EXPECT_EQ(policy.Delay(9), 5min);
  EXPECT_EQ(policy.Delay(1000), 5min) << "no overflow after many failures";
}

TEST(RetryPolicyTest, JitterStaysWithinHalfAndWhole) {
  RetryPolicy policy{200ms, 5s, true};
  EXPECT_EQ(policy.Delay(1, 0ms, 0.0), 100ms);
  EXPECT_EQ(policy.Delay(1, 0ms, 1.0), 200ms);
  EXPECT_EQ(policy.Delay(10, 0ms, 0.5), 3750ms);
}

TEST(RetryPolicyTest, AServersRetryAfterIsHonouredUpToItsCap) {
  RetryPolicy policy{200ms, 5s, true};
  EXPECT_EQ(policy.Delay(1, 30s, 0.0), 30s);
  EXPECT_EQ(policy.Delay(1, 10min, 0.0), 1min);
  EXPECT_EQ(policy.Delay(3, 10ms, 1.0), 800ms) << "a shorter request does not shorten the wait";
}

}  // namespace
}  // namespace gwctl
