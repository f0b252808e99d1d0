#include "gateway/quantity.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(QuantityTest, Sizes) {
  EXPECT_EQ(*ParseSize("150MiB"), 150ull << 20);
  EXPECT_EQ(*ParseSize("25MB"), 25'000'000u);
  EXPECT_EQ(*ParseSize("1.5 GiB"), 1610612736u);
  EXPECT_EQ(*ParseSize("200000B"), 200000u);
  EXPECT_FALSE(ParseSize("200000").ok());
  EXPECT_FALSE(ParseSize("MiB").ok());
  EXPECT_FALSE(ParseSize("10TB").ok());
}

TEST(QuantityTest, Days) {
  EXPECT_EQ(*ParseDays("90d"), 90);
  EXPECT_FALSE(ParseDays("90").ok());
  EXPECT_FALSE(ParseDays("d").ok());
  EXPECT_FALSE(ParseDays("3w").ok());
}

}  // namespace
}  // namespace gw
