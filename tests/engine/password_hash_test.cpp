// Continuity passwords are kept as Argon2id hashes that Dovecot itself verifies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "gateway/password_hash.h"
#include "process.h"

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(PasswordHash, AHashVerifiesItsPasswordOnlyAndNeverRepeats) {
  auto first = gw::HashPassword("correct horse battery");
  auto second = gw::HashPassword("correct horse battery");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_THAT(*first, StartsWith("{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$"));
  EXPECT_NE(*first, *second) << "a fresh salt each time";
  EXPECT_THAT(*first, ::testing::Not(HasSubstr("correct horse")));
  EXPECT_TRUE(gw::VerifyPassword("correct horse battery", *first));
  EXPECT_FALSE(gw::VerifyPassword("correct horse batterz", *first));
  EXPECT_FALSE(gw::VerifyPassword("correct horse battery", first->substr(10)))
      << "without its scheme it is not a stored hash";
  EXPECT_FALSE(gw::VerifyPassword("x", "{PLAIN}x"));
}

TEST(PasswordHash, RulesSayWhyWithoutEchoingThePassword) {
  EXPECT_TRUE(gw::CheckPasswordRules("ten chars!").ok());
  EXPECT_TRUE(gw::CheckPasswordRules("pässwörter").ok()) << "10 characters, 12 bytes";
  auto short_one = gw::CheckPasswordRules("hunter2");
  EXPECT_THAT(short_one.message(), HasSubstr("shorter than 10 characters"));
  EXPECT_THAT(short_one.message(), ::testing::Not(HasSubstr("hunter2")));
  EXPECT_FALSE(gw::CheckPasswordRules("line\nbreak-password").ok());
  EXPECT_FALSE(gw::CheckPasswordRules("bad utf8 \xff password").ok());
  EXPECT_FALSE(gw::CheckPasswordRules(std::string(257, 'a')).ok());
}

// The hash is one Dovecot verifies: `doveadm pw -t` from dovecot-core (ci/setup --tests).
TEST(PasswordHash, DovecotVerifiesTheHash) {
  if (gwtest::RunCommand("command -v doveadm").exit_code != 0)
    GTEST_SKIP() << "doveadm (dovecot-core) is not installed";
  auto hash = gw::HashPassword("continuity-secret");
  ASSERT_TRUE(hash.ok());
  auto good = gwtest::RunCommand(fmt::format("doveadm pw -t '{}' -p continuity-secret", *hash));
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_THAT(good.output, HasSubstr("(verified)"));
  auto bad = gwtest::RunCommand(fmt::format("doveadm pw -t '{}' -p continuity-wrong", *hash));
  EXPECT_NE(bad.exit_code, 0) << bad.output;
}

}  // namespace
