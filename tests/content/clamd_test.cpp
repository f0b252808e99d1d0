// gw-milter's malware scanner against a real clamd (clamd_fixture.h: a signature
// database made in the test): every MIME part and archive entry is reached, and a clamd
// that is gone or refuses the stream is an error, never a clean verdict.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clamd_client.h"
#include "clamd_fixture.h"
#include "mime_samples.h"

namespace {

using ::testing::HasSubstr;

TEST(ClamdReply, OnlyOkAndFoundAreVerdicts) {
  auto clean = gw::ParseClamdReply(std::string("stream: OK\0", 11));
  ASSERT_TRUE(clean.ok());
  EXPECT_FALSE(clean->infected);
  auto found = gw::ParseClamdReply("stream: Win.Test.EICAR_HDB-1 FOUND");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->infected);
  EXPECT_EQ(found->name, "Win.Test.EICAR_HDB-1");
  for (const char* error : {"INSTREAM size limit exceeded. ERROR", "stream: FOUND", "", "OK"}) {
    auto parsed = gw::ParseClamdReply(error);
    EXPECT_EQ(parsed.status().code(), gw::StatusCode::kUnavailable) << error;
  }
}

class ClamdScan : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::ClamdMissing(); !missing.empty())
      GTEST_SKIP() << "clamd test skipped: " << missing;
    clamd_ = std::make_unique<gwtest::Clamd>();
    ASSERT_TRUE(clamd_->ready()) << clamd_->output();
  }
  gw::Result<gw::VirusVerdict> Scan(const std::string& message) {
    return gw::ScanWithClamd({"127.0.0.1", clamd_->port()}, message, std::chrono::seconds(10));
  }
  std::unique_ptr<gwtest::Clamd> clamd_;
};

TEST_F(ClamdScan, SignaturesAreFoundInsidePartsAndArchivesAndCleanMailIsClean) {
  auto clean = Scan(gwtest::MessageWith({{"notes.txt", "text/plain", "plain notes"}}));
  ASSERT_TRUE(clean.ok()) << clean.status().message();
  EXPECT_FALSE(clean->infected);

  auto zipped = Scan(gwtest::MessageWith(
      {{"invoice.zip", "application/zip", gwtest::Zip({{"readme.com", gwtest::kEicar}})}}));
  ASSERT_TRUE(zipped.ok()) << zipped.status().message();
  EXPECT_TRUE(zipped->infected) << "EICAR inside a zip inside a base64 MIME part";
  EXPECT_EQ(zipped->name, gwtest::kEicarName);

  // Larger than one INSTREAM chunk, the pattern at the end.
  std::string long_text(300'000, 'a');
  auto pattern = Scan("Subject: x\r\n\r\n" + long_text + "\r\n" + gwtest::kVirusPattern + "\r\n");
  ASSERT_TRUE(pattern.ok()) << pattern.status().message();
  EXPECT_TRUE(pattern->infected);
  EXPECT_EQ(pattern->name, gwtest::kPatternName);

  clamd_->Stop();
  auto down = Scan("Subject: x\r\n\r\nclean\r\n");
  EXPECT_EQ(down.status().code(), gw::StatusCode::kUnavailable) << "clamd down is no verdict";
}

}  // namespace
