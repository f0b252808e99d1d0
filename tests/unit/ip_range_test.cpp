#include "gateway/ip_range.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(IpRangeTest, ParsesAddressesAndBlocks) {
  EXPECT_EQ(IpRange::Parse("203.0.113.10")->ToString(), "203.0.113.10");
  EXPECT_EQ(IpRange::Parse("198.51.100.0/28")->prefix_length(), 28);
  EXPECT_EQ(IpRange::Parse("2001:DB8:0::/48")->ToString(), "2001:db8::/48");
  EXPECT_FALSE(IpRange::Parse("300.1.1.1").ok());
  EXPECT_FALSE(IpRange::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(IpRange::Parse("10.0.0.0/").ok());
  EXPECT_FALSE(IpRange::Parse("mail.example").ok());
}

TEST(IpRangeTest, HostBitsNameTheIntendedBlock) {
  auto parsed = IpRange::Parse("198.51.100.5/28");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "'198.51.100.5/28' has host bits set; the block is 198.51.100.0/28");
}

TEST(IpRangeTest, OverlapAndContainment) {
  auto wide = *IpRange::Parse("198.51.100.0/24");
  auto narrow = *IpRange::Parse("198.51.100.16/28");
  auto other = *IpRange::Parse("198.51.101.0/24");
  EXPECT_TRUE(wide.Overlaps(narrow));
  EXPECT_TRUE(narrow.Overlaps(wide));
  EXPECT_TRUE(wide.Contains(narrow));
  EXPECT_FALSE(narrow.Contains(wide));
  EXPECT_FALSE(wide.Overlaps(other));
  EXPECT_FALSE(wide.Overlaps(*IpRange::Parse("::/0")));
}

TEST(IpRangeTest, PrivateRanges) {
  EXPECT_TRUE(IpRange::Parse("10.1.2.3")->IsPrivate());
  EXPECT_TRUE(IpRange::Parse("192.168.0.0/16")->IsPrivate());
  EXPECT_TRUE(IpRange::Parse("fd00::/8")->IsPrivate());
  EXPECT_FALSE(IpRange::Parse("203.0.113.10")->IsPrivate());
}

}  // namespace
}  // namespace gw
