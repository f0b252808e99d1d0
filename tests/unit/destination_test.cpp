#include "gateway/destination.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(DestinationTest, ParsesThePanelShorthand) {
  auto list = ParseDestinationShorthand(
      "Mail.Acme.Example:2525#5;203.0.113.10;[2001:db8::25]:26#1;bücher.example");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].host, "mail.acme.example");
  EXPECT_EQ((*list)[0].port, 2525);
  EXPECT_EQ((*list)[0].preference, 5);
  EXPECT_EQ((*list)[1].port, 25);
  EXPECT_EQ((*list)[1].preference, 20);  // written second, no '#'
  EXPECT_EQ((*list)[2].host, "2001:db8::25");
  EXPECT_EQ((*list)[2].port, 26);
  EXPECT_EQ((*list)[3].host, "xn--bcher-kva.example");
}

TEST(DestinationTest, NamesTheBadEntry) {
  auto bad = ParseDestinationShorthand("mail.acme.example;mx.acme.example:0");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "destination 'mx.acme.example:0': the port must be 1-65535");
  EXPECT_FALSE(ParseDestinationShorthand("2001:db8::1:25").ok());
  EXPECT_FALSE(ParseDestinationShorthand("[2001:db8::1:25").ok());
  EXPECT_FALSE(ParseDestinationShorthand("mail.acme.example#70000").ok());
}

}  // namespace
}  // namespace gw
