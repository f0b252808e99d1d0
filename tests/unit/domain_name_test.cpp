#include "gateway/domain_name.h"

#include <gtest/gtest.h>

namespace gw {
namespace {

TEST(DomainNameTest, LowercasesAndConvertsInternationalNames) {
  EXPECT_EQ(*NormalizeDomain("Acme.Example"), "acme.example");
  EXPECT_EQ(*NormalizeDomain("acme.example."), "acme.example");
  EXPECT_EQ(*NormalizeDomain("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(*NormalizeDomain("BÜCHER.example"), "xn--bcher-kva.example");
  EXPECT_EQ(*NormalizeDomain("xn--bcher-kva.example"), "xn--bcher-kva.example");
}

TEST(DomainNameTest, RejectsWhatIsNotAMailDomain) {
  for (const char* bad : {"", "localhost", "a..example", "-a.example", "a-.example",
                          "under_score.example", "203.0.113.1", "has space.example"}) {
    EXPECT_FALSE(NormalizeDomain(bad).ok()) << bad;
  }
  EXPECT_FALSE(NormalizeDomain(std::string(64, 'a') + ".example").ok());
}

TEST(DomainNameTest, SubdomainMatchesOnLabelBoundaries) {
  EXPECT_TRUE(IsSameOrSubdomain("mail.acme.example", "acme.example"));
  EXPECT_TRUE(IsSameOrSubdomain("acme.example", "acme.example"));
  EXPECT_FALSE(IsSameOrSubdomain("notacme.example", "acme.example"));
}

TEST(DomainNameTest, ParsesAndNormalisesAddresses) {
  auto address = ParseEmailAddress("Alice.Smith@Bücher.Example");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(address->ToString(), "alice.smith@xn--bcher-kva.example");
  for (const char* bad : {"alice", "@x.example", "alice@", ".a@x.example", "a..b@x.example",
                          "a b@x.example", "a@localhost"}) {
    EXPECT_FALSE(ParseEmailAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace gw
