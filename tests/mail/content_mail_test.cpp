// Attachment rules on real mail: Postfix passes each inbound message to gw-milter, which
// asks gatewayd for the recipient customer's rules and refuses the message or cuts the
// attachment out. Needs root (Postfix); skipped, saying why, otherwise.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mail_fixture.h"
#include "mime_samples.h"

namespace {

using gwtest::Gatewayd;
using gwtest::MailGateway;
using gwtest::Sink;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class ContentMailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
      GTEST_SKIP() << "mail data plane test skipped: " << missing;
    }
    internet_ = std::make_unique<Sink>();
    ASSERT_TRUE(internet_->ready()) << internet_->output();
    gateway_ =
        std::make_unique<MailGateway>(internet_->port(), std::vector<std::string>{"northwind"},
                                      /*content_milter=*/true);
    ASSERT_EQ(gateway_->problem(), "");
    ASSERT_TRUE(Client()->EnsurePartner("northwind").ok());
    ASSERT_TRUE(destination_.ready()) << destination_.output();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<gw::GatewayClient> Client() {
    return gateway_->gatewayd().Client(Gatewayd::kOperatorToken);
  }

  // A customer NAME.example with the user user@NAME.example, delivering to the
  // destination sink, with `filtering` as its spec's filtering.
  void PutCustomer(const std::string& name, const json& filtering) {
    std::string domain = name + ".example";
    json spec = {
        {"product", "ultimate-access"},
        {"billableUsers", 5},
        {"domains", {{"primary", domain}}},
        {"destinations",
         json::array({{{"host", "127.0.0.1"}, {"port", destination_.port()}, {"preference", 10}}})},
        {"filtering", filtering}};
    gw::CustomerWrite write;
    write.spec = spec;
    auto client = Client();
    auto put = client->PutCustomer("northwind", name, write, gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(put.ok()) << put.status().message();
    gw::User user;
    user.address = "user@" + domain;
    ASSERT_TRUE(client->BatchUsers("northwind", name, {{user}, {}}).ok());
    ASSERT_TRUE(gateway_->WaitForLookup("recipients user@" + domain, "OK"));
  }

  gwtest::SmtpOutcome Send(const std::string& to, const std::string& message) {
    auto file = dir_ / fmt::format("message-{}.eml", ++sent_);
    std::ofstream(file, std::ios::binary) << message;
    return gateway_->SendFile("sender@outside.example", to, file);
  }

  std::filesystem::path dir_ = gwtest::MakeTempDir("content-mail");
  int sent_ = 0;
  std::unique_ptr<Sink> internet_;
  Sink destination_;
  std::unique_ptr<MailGateway> gateway_;
};

json ContentFilter(const std::string& action, json forbidden, bool encrypted) {
  return {{"contentFilter",
           {{"attachmentAction", action},
            {"forbiddenAttachments", std::move(forbidden)},
            {"forbidEncryptedAttachments", encrypted}}}};
}

TEST_F(ContentMailTest, ForbiddenAttachmentsAreRefusedOrCutPerCustomer) {
  PutCustomer("acme", ContentFilter("reject", {"docmacro", "executable"}, true));
  PutCustomer("globex", ContentFilter("cut-and-inform", {"docmacro"}, false));
  std::string docm = gwtest::MacroDocument();
  std::string locked = gwtest::Zip({{"plan.txt", "the plan"}}, "hunter2");

  // acme refuses, naming what and why.
  auto macro = Send("user@acme.example",
                    gwtest::MessageWith({{"invoice.docm", "application/octet-stream", docm}},
                                        "user@acme.example"));
  EXPECT_EQ(macro.code, 550) << macro.transcript << gateway_->MilterLog();
  EXPECT_THAT(macro.reply, HasSubstr("invoice.docm: a Word document with macros"));
  auto eicar =
      Send("user@acme.example",
           gwtest::MessageWith({{"eicar.txt", "text/plain", gwtest::kEicar}}, "user@acme.example"));
  EXPECT_EQ(eicar.code, 550) << eicar.transcript;
  EXPECT_THAT(eicar.reply, HasSubstr("EICAR"));
  auto encrypted =
      Send("user@acme.example",
           gwtest::MessageWith({{"locked.zip", "application/zip", locked}}, "user@acme.example"));
  EXPECT_EQ(encrypted.code, 550) << encrypted.transcript;
  EXPECT_THAT(encrypted.reply, HasSubstr("encrypted"));
  auto clean =
      Send("user@acme.example",
           gwtest::MessageWith({{"notes.txt", "text/plain", "plain notes"}}, "user@acme.example"));
  EXPECT_TRUE(clean.accepted()) << clean.transcript;

  // globex forbids no encryption: the same zip passes; its macro document is cut out.
  EXPECT_TRUE(
      Send("user@globex.example",
           gwtest::MessageWith({{"locked.zip", "application/zip", locked}}, "user@globex.example"))
          .accepted());
  auto cut = Send("user@globex.example",
                  gwtest::MessageWith({{"invoice.docm", "application/octet-stream", docm},
                                       {"agenda.txt", "text/plain", "10:00 standup"}},
                                      "user@globex.example", "Body kept."));
  EXPECT_TRUE(cut.accepted()) << cut.transcript << gateway_->MilterLog();

  ASSERT_EQ(destination_.WaitForMessages(3), 3u) << gateway_->MailLog() << gateway_->MilterLog();
  auto messages = destination_.Messages();
  EXPECT_THAT(messages[0], HasSubstr("X-Sink-To: user@acme.example"));
  EXPECT_THAT(messages[0], HasSubstr("notes.txt"));
  EXPECT_THAT(messages[1], HasSubstr("locked.zip"));
  const std::string& delivered = messages[2];
  EXPECT_THAT(delivered, HasSubstr("X-Sink-To: user@globex.example"));
  EXPECT_THAT(delivered,
              HasSubstr("X-GW-Removed-Attachments: invoice.docm: a Word document with macros"));
  EXPECT_THAT(delivered, HasSubstr("invoice.docm: a Word document with macros"));
  EXPECT_THAT(delivered, HasSubstr("Body kept."));
  EXPECT_THAT(delivered, HasSubstr("agenda.txt"));
  EXPECT_THAT(delivered, Not(HasSubstr("filename=\"invoice.docm\"")));
  EXPECT_THAT(delivered, HasSubstr("Content-Type: multipart/mixed"));
}

TEST_F(ContentMailTest, FilteringOffPassesEverythingAndAMilterThatIsDownDefersMail) {
  json off = ContentFilter("reject", {"executable"}, true);
  off["enabled"] = false;
  PutCustomer("initech", off);
  std::string program =
      gwtest::MessageWith({{"setup.exe", "application/octet-stream", gwtest::WindowsProgram()}},
                          "user@initech.example");
  EXPECT_TRUE(Send("user@initech.example", program).accepted()) << gateway_->MilterLog();
  ASSERT_EQ(destination_.WaitForMessages(1), 1u) << gateway_->MailLog();
  EXPECT_THAT(destination_.Messages()[0], HasSubstr("setup.exe"));

  gateway_->StopMilter();
  auto deferred = Send("user@initech.example", program);
  EXPECT_GE(deferred.code, 400) << deferred.transcript;
  EXPECT_LT(deferred.code, 500) << "never refused for good, never passed unfiltered";
}

}  // namespace
