// Filtering on real mail: Postfix passes each inbound message to gw-milter, which asks
// gatewayd for the recipient customer's rules and a real rspamd for a spam score, and
// refuses the message, cuts the attachment out, or keeps it in gatewayd's quarantine,
// from where a release delivers it through Postfix. Needs root (Postfix, rspamd);
// skipped, saying why, otherwise.
#include <ctime>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "mail_fixture.h"
#include "mime_samples.h"
#include "test_ca.h"

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
    for (const std::string& missing : {gwtest::MailPlaneMissing(), gwtest::RspamdMissing()}) {
      if (!missing.empty()) GTEST_SKIP() << "mail filtering test skipped: " << missing;
    }
    internet_ = std::make_unique<Sink>();
    ASSERT_TRUE(internet_->ready()) << internet_->output();
    gwtest::MailGatewayOptions options;
    options.content_milter = true;
    if (antivirus_) {
      if (std::string missing = gwtest::ClamdMissing(); !missing.empty())
        GTEST_SKIP() << "antivirus mail test skipped: " << missing;
      options.antivirus = true;
    }
    options.gatewayd_args = gatewayd_args_;
    gateway_ = std::make_unique<MailGateway>(internet_->port(), options);
    ASSERT_EQ(gateway_->problem(), "");
    ASSERT_TRUE(Client()->EnsurePartner("northwind").ok());
    ASSERT_TRUE(destination_.ready()) << destination_.output();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<gw::GatewayClient> Client() {
    return gateway_->gatewayd().Client(Gatewayd::kOperatorToken);
  }

  // A customer NAME.example with the user user@NAME.example, delivering to the
  // destination sink, with `filtering` as its spec's filtering and `more` spec fields.
  void PutCustomer(const std::string& name, const json& filtering,
                   const json& more = json::object()) {
    std::string domain = name + ".example";
    json spec = {
        {"product", "ultimate-access"},
        {"billableUsers", 5},
        {"domains", {{"primary", domain}}},
        {"destinations",
         json::array({{{"host", "127.0.0.1"}, {"port", destination_.port()}, {"preference", 10}}})},
        {"filtering", filtering}};
    spec.update(more);
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

  gwtest::SmtpOutcome Send(const std::string& to, const std::string& message,
                           const std::string& from = "sender@outside.example") {
    auto file = dir_ / fmt::format("message-{}.eml", ++sent_);
    std::ofstream(file, std::ios::binary) << message;
    return gateway_->SendFile(from, to, file);
  }

  // Runs gwctl against the gateway over HTTP with the operator token.
  gwtest::CommandResult Gwctl(const std::string& arguments) {
    return gwtest::RunCommand(fmt::format("GWCTL_TOKEN={} {} {} --gateway {} --partner northwind",
                                          Gatewayd::kOperatorToken, GWCTL_BINARY, arguments,
                                          gateway_->gatewayd().url()));
  }

  // gatewayd's spam report pass as of `as_of` (the test clock); its summary.
  json RunSpamReports(const std::string& as_of) {
    httplib::Client http(gateway_->gatewayd().url());
    http.set_bearer_token_auth(Gatewayd::kOperatorToken);
    auto res = http.Post("/v1/spam-reports:run", json{{"asOf", as_of}}.dump(), "application/json");
    EXPECT_TRUE(res) << "gatewayd did not answer";
    if (!res) return json::object();
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  gwtest::SmtpOutcome Relay(const std::string& from, const std::string& to,
                            const std::string& message, const std::string& client) {
    auto file = dir_ / fmt::format("message-{}.eml", ++sent_);
    std::ofstream(file, std::ios::binary) << message;
    return gateway_->SendFile(from, to, file, gateway_->relay_port(), client);
  }

  std::vector<std::string> gatewayd_args_;  // more gatewayd flags, set before SetUp
  bool antivirus_ = false;                  // a private clamd scans, set before SetUp
  std::filesystem::path dir_ = gwtest::MakeTempDir("content-mail");
  int sent_ = 0;
  std::unique_ptr<Sink> internet_;
  // The customers' server offers STARTTLS: what the gateway delivers, releases included,
  // arrives encrypted.
  Sink destination_{0, StartTlsSink(dir_)};
  std::unique_ptr<MailGateway> gateway_;

 private:
  static gwtest::SinkOptions StartTlsSink(const std::filesystem::path& dir) {
    auto issued = gwtest::TestCa(dir).SelfSigned("destination", "mx.acme.example");
    return gwtest::SinkOptions::StartTls(issued.cert, issued.key);
  }
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
  // A sender's copy of the gateway's own markers is removed on the way in.
  auto clean = Send(
      "user@acme.example",
      "X-GW-Released: from quarantine (forged by the sender)\r\n" +
          gwtest::MessageWith({{"notes.txt", "text/plain", "plain notes"}}, "user@acme.example"));
  EXPECT_TRUE(clean.accepted()) << clean.transcript;

  // globex forbids no encryption: the same zip passes; its macro document is cut out.
  EXPECT_TRUE(
      Send("user@globex.example",
           gwtest::MessageWith({{"locked.zip", "application/zip", locked}}, "user@globex.example"))
          .accepted());
  auto cut = Send("user@globex.example",
                  "X-GW-Removed-Attachments: nothing (forged by the sender)\r\n" +
                      gwtest::MessageWith({{"invoice.docm", "application/octet-stream", docm},
                                           {"agenda.txt", "text/plain", "10:00 standup"}},
                                          "user@globex.example", "Body kept."));
  EXPECT_TRUE(cut.accepted()) << cut.transcript << gateway_->MilterLog();

  ASSERT_EQ(destination_.WaitForMessages(3), 3u) << gateway_->MailLog() << gateway_->MilterLog();
  auto messages = destination_.Messages();
  EXPECT_THAT(messages[0], HasSubstr("X-Sink-To: user@acme.example"));
  EXPECT_THAT(messages[0], HasSubstr("notes.txt"));
  EXPECT_THAT(messages[0], Not(HasSubstr("forged by the sender")));
  EXPECT_THAT(messages[1], HasSubstr("locked.zip"));
  const std::string& delivered = messages[2];
  EXPECT_THAT(delivered, HasSubstr("X-Sink-To: user@globex.example"));
  EXPECT_THAT(delivered,
              HasSubstr("X-GW-Removed-Attachments: invoice.docm: a Word document with macros"));
  EXPECT_THAT(delivered, Not(HasSubstr("forged by the sender")));
  EXPECT_THAT(delivered, HasSubstr("invoice.docm: a Word document with macros"));
  EXPECT_THAT(delivered, HasSubstr("Body kept."));
  EXPECT_THAT(delivered, HasSubstr("agenda.txt"));
  EXPECT_THAT(delivered, Not(HasSubstr("filename=\"invoice.docm\"")));
  EXPECT_THAT(delivered, HasSubstr("Content-Type: multipart/mixed"));
}

TEST_F(ContentMailTest, ArchivedMailIsKeptAsDeliveredSearchedExportedAndVerified) {
  PutCustomer("acme", ContentFilter("cut-and-inform", {"docmacro"}, false),
              {{"archiving", {{"enabled", true}, {"retention", "30d"}}}});
  PutCustomer("globex", json::object());  // archives nothing
  std::string plain =
      "From: Sender <sender@outside.example>\r\nTo: user@acme.example\r\nSubject: "
      "=?utf-8?q?Heliotrope_order_=E2=84=967?=\r\nMessage-ID: <h1@outside.example>\r\n\r\nThe "
      "heliotrope seeds ship Monday.\r\nFrom Rotterdam, by barge.\r\n";
  EXPECT_TRUE(Send("user@acme.example", plain).accepted()) << gateway_->MilterLog();
  EXPECT_TRUE(Send("user@globex.example", plain).accepted()) << gateway_->MilterLog();
  auto cut = Send(
      "user@acme.example",
      gwtest::MessageWith({{"invoice.docm", "application/octet-stream", gwtest::MacroDocument()}},
                          "user@acme.example", "Invoice attached, marmalade."));
  EXPECT_TRUE(cut.accepted()) << cut.transcript;
  ASSERT_EQ(destination_.WaitForMessages(3), 3u) << gateway_->MailLog() << gateway_->MilterLog();
  EXPECT_THAT(gateway_->MilterLog(), HasSubstr("archived for northwind/acme"));

  auto found = Gwctl("archive search --customer acme --text heliotrope --format json");
  ASSERT_EQ(found.exit_code, 0) << found.output;
  json listed = json::parse(found.output, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << found.output;
  ASSERT_EQ(listed["messages"].size(), 1u) << found.output;
  const json& entry = listed["messages"][0];
  EXPECT_EQ(entry["sender"], "sender@outside.example");
  EXPECT_EQ(entry["recipients"], json::array({"user@acme.example"}));
  EXPECT_EQ(entry["direction"], "inbound");
  EXPECT_EQ(entry["subject"], "Heliotrope order \u21167") << "the subject decoded";
  auto by_sender = Gwctl("archive search --customer acme --sender sender@outside.example");
  EXPECT_EQ(by_sender.exit_code, 0) << by_sender.output;
  EXPECT_THAT(by_sender.output, HasSubstr("Heliotrope order"));
  EXPECT_THAT(Gwctl("archive search --customer globex").output, HasSubstr("No archived message"));

  // As delivered: the cut copy, not the macro the customer never received.
  auto shown =
      Gwctl(fmt::format("archive show --customer acme --id {}", entry["id"].get<int64_t>()));
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr("The heliotrope seeds ship Monday."));
  auto marmalade = Gwctl("archive search --customer acme --text marmalade --format json");
  json cut_entry = json::parse(marmalade.output, nullptr, false);
  ASSERT_TRUE(cut_entry.is_object() && cut_entry["messages"].size() == 1) << marmalade.output;
  auto cut_copy = Gwctl(fmt::format("archive show --customer acme --id {}",
                                    cut_entry["messages"][0]["id"].get<int64_t>()));
  EXPECT_THAT(cut_copy.output, HasSubstr("invoice.docm: a Word document with macros"));
  EXPECT_THAT(cut_copy.output, Not(HasSubstr("filename=\"invoice.docm\"")));

  auto mbox_file = dir_ / "acme.mbox";
  auto exported =
      Gwctl(fmt::format("archive export --customer acme --output {}", mbox_file.string()));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::ifstream mbox_in(mbox_file, std::ios::binary);
  std::string mbox((std::istreambuf_iterator<char>(mbox_in)), {});
  EXPECT_THAT(mbox, HasSubstr("From sender@outside.example "));
  EXPECT_THAT(mbox, HasSubstr("\n>From Rotterdam, by barge.\n"));
  EXPECT_THAT(mbox, HasSubstr("marmalade"));
  EXPECT_EQ(std::filesystem::status(mbox_file).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  auto zip_file = dir_ / "acme.zip";
  ASSERT_EQ(
      Gwctl(fmt::format("archive export --customer acme --format zip -o {}", zip_file.string()))
          .exit_code,
      0);
  std::ifstream zip_in(zip_file, std::ios::binary);
  std::string zip((std::istreambuf_iterator<char>(zip_in)), {});
  EXPECT_EQ(zip.substr(0, 4), std::string("PK\x03\x04", 4));

  auto verified = Gwctl("archive verify --customer acme");
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_THAT(verified.output, HasSubstr("2 entries"));
  EXPECT_THAT(verified.output, HasSubstr("intact"));
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

std::string Gtube(const std::string& to, const std::string& subject) {
  return "From: sender@outside.example\r\nTo: " + to + "\r\nSubject: " + subject +
         "\r\nMessage-ID: <" + subject +
         "@outside.example>\r\n"
         "Date: Sat, 28 Nov 2026 13:00:00 +0000\r\n\r\n"
         "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
}

TEST_F(ContentMailTest, SpamIsQuarantinedPerCustomerAndAReleaseDeliversIt) {
  PutCustomer("acme",
              {{"level", "premium"}, {"contentFilter", {{"forbiddenAttachments", json::array()}}}});
  json off = {{"enabled", false}};
  PutCustomer("initech", off);
  // globex lets one sender past the spam filter.
  PutCustomer("globex", {{"level", "standard"}});
  {
    auto client = Client();
    auto globex = client->GetCustomer("northwind", "globex");
    ASSERT_TRUE(globex.ok());
    gw::CustomerWrite write;
    write.spec = globex->spec;
    write.spec["lists"] = {{"allow", {{{"sender", "friend@outside.example"}}}}};
    ASSERT_TRUE(client
                    ->PutCustomer("northwind", "globex", write,
                                  gw::WriteCondition::AtVersion(globex->version))
                    .ok());
    ASSERT_TRUE(gateway_->WaitForLookup(
        "filter " + gw::FilterLookupKey("user@globex.example", "friend@outside.example", ""),
        "OK {\"action\":\"cut-and-inform\",\"archive\":false,\"customer\":\"northwind/globex\","
        "\"filtering\":true,\"forbidEncrypted\":false,\"forbidden\":[],\"infomail\":false,"
        "\"level\":\"standard\",\"rejectViruses\":false,\"skipSpam\":true}"));
  }

  auto spam = Send("user@acme.example", Gtube("user@acme.example", "cheap-watches"));
  EXPECT_TRUE(spam.accepted()) << spam.transcript << gateway_->MilterLog();
  EXPECT_TRUE(Send("user@initech.example", Gtube("user@initech.example", "unfiltered")).accepted());
  EXPECT_TRUE(Send("user@globex.example", Gtube("user@globex.example", "from-a-friend"),
                   "friend@outside.example")
                  .accepted());
  EXPECT_TRUE(
      Send("user@globex.example", Gtube("user@globex.example", "from-a-stranger")).accepted());

  // Filtering off and the allow-listed sender are delivered; the others are kept.
  ASSERT_EQ(destination_.WaitForMessages(2), 2u) << gateway_->MailLog() << gateway_->MilterLog();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto delivered = destination_.Messages();
  ASSERT_EQ(delivered.size(), 2u) << gateway_->MilterLog();
  EXPECT_THAT(delivered[0], HasSubstr("Subject: unfiltered"));
  EXPECT_THAT(delivered[1], HasSubstr("Subject: from-a-friend"));

  auto kept = Client()->ListQuarantine("northwind", "acme", 0, 10);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  ASSERT_EQ(kept->size(), 1u) << gateway_->MilterLog();
  EXPECT_EQ((*kept)[0].reason, "spam");
  EXPECT_EQ((*kept)[0].subject, "cheap-watches");
  EXPECT_EQ((*kept)[0].recipients, std::vector<std::string>{"user@acme.example"});
  EXPECT_THAT((*kept)[0].detail, HasSubstr("GTUBE"));
  auto stranger = Client()->ListQuarantine("northwind", "globex", 0, 10);
  ASSERT_TRUE(stranger.ok());
  ASSERT_EQ(stranger->size(), 1u);
  EXPECT_EQ((*stranger)[0].subject, "from-a-stranger");

  // gwctl lists it and releases it; it reaches the destination once, marked.
  auto listed = Gwctl("quarantine list --customer acme");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("\"cheap-watches\""));
  auto released = Gwctl(fmt::format("quarantine release --customer acme {}", (*kept)[0].id));
  EXPECT_EQ(released.exit_code, 0) << released.output << gateway_->MailLog();
  EXPECT_THAT(released.output, HasSubstr("released #"));
  ASSERT_EQ(destination_.WaitForMessages(3), 3u) << gateway_->MailLog();
  std::string release = destination_.Messages()[2];
  EXPECT_THAT(release, HasSubstr("Subject: cheap-watches"));
  EXPECT_THAT(release, HasSubstr("X-GW-Released: from quarantine (spam"));
  EXPECT_THAT(release, HasSubstr("X-Sink-To: user@acme.example"));
  EXPECT_THAT(release, ::testing::ContainsRegex("X-Sink-TLS: TLSv1\\.[23]"))
      << "a release goes out through Postfix, over STARTTLS where offered";
  auto again = Gwctl(fmt::format("quarantine release --customer acme {}", (*kept)[0].id));
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_THAT(again.output, HasSubstr("was released at"));
}

// The digest of held mail goes through Postfix to the user at the customer's report time
// in its zone: Mondays 08:00 in New York (13:00 UTC in November). The clock is the test's:
// gatewayd runs a pass as of the time it is given.
TEST_F(ContentMailTest, ASpamReportIsSentAtItsTimeInTheCustomersZoneAndNotOnAnOffDay) {
  PutCustomer("acme", {{"level", "premium"},
                       {"infomail", true},
                       {"spamReport",
                        {{"enabled", true},
                         {"days", {"mon"}},
                         {"times", {"08:00"}},
                         {"timezone", "America/New_York"},
                         {"categories", {"spam", "infomail"}}}}});
  EXPECT_EQ(RunSpamReports("2026-11-15T12:00:00Z")["reportsSent"], 0) << "the first pass";
  EXPECT_TRUE(Send("user@acme.example", Gtube("user@acme.example", "cheap-watches")).accepted());
  // The infomail filter keeps a newsletter that is not spam.
  EXPECT_TRUE(Send("user@acme.example",
                   "From: news@shop.example\r\nTo: user@acme.example\r\nSubject: november-deals\r\n"
                   "Message-ID: <deals@shop.example>\r\nDate: Sat, 28 Nov 2026 13:00:00 +0000\r\n"
                   "List-Unsubscribe: <mailto:leave@shop.example>\r\n\r\nThis week's deals.\r\n",
                   "news@shop.example")
                  .accepted());
  auto kept = Client()->ListQuarantine("northwind", "acme", 0, 10);
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 2u) << gateway_->MilterLog();
  EXPECT_EQ((*kept)[1].reason, "infomail");

  json sunday = RunSpamReports("2026-11-15T13:00:30Z");
  EXPECT_EQ(sunday["customersDue"], 0) << sunday;
  EXPECT_EQ(sunday["reportsSent"], 0) << "Sunday is not a report day";
  EXPECT_EQ(RunSpamReports("2026-11-16T12:59:00Z")["reportsSent"], 0) << "07:59 in New York";
  json monday = RunSpamReports("2026-11-16T13:00:30Z");
  EXPECT_EQ(monday["reportsSent"], 1) << monday;
  EXPECT_EQ(monday["messagesListed"], 2) << monday;

  ASSERT_EQ(destination_.WaitForMessages(1), 1u) << gateway_->MailLog();
  std::string report = destination_.Messages()[0];
  EXPECT_THAT(report, HasSubstr("X-Sink-To: user@acme.example"));
  EXPECT_THAT(report, HasSubstr("From: Quarantine report <quarantine@gw.test>"));
  EXPECT_THAT(report, HasSubstr("Subject: Quarantine report: 2 held messages"));
  EXPECT_THAT(report, HasSubstr("Newsletters (infomail) (1)"));
  EXPECT_THAT(report, HasSubstr("november-deals"));
  EXPECT_THAT(report, HasSubstr(fmt::format("\"cheap-watches\"  (ref {})", (*kept)[0].id)));
  EXPECT_THAT(report, HasSubstr("Times are in America/New_York"));
  EXPECT_EQ(RunSpamReports("2026-11-16T13:01:30Z")["reportsSent"], 0) << "once";
}

}  // namespace

// Relayed mail on a real Postfix: a shared provider's range (127.0.0.2 stands in for
// Microsoft 365's, by gatewayd's --relay-service-range) relays as acme only with acme's
// tenant stamped by Exchange Online; what it relays is filtered with acme's rules, and
// mail for another customer of the gateway with that customer's too.
TEST_F(ContentMailTest, ABrandedReportCarriesThePartnersPageWithEveryValueEscaped) {
  const std::string brand =
      "<html><body><div class=\"brand\">Northwind Secure Mail</div><p>For {{recipient}}: "
      "{{count}} held ({{time_zone}})</p>{{messages}}</body></html>";
  PutCustomer("acme", {{"spamReport",
                        {{"enabled", true},
                         {"days", {"mon"}},
                         {"times", {"08:00"}},
                         {"timezone", "Europe/London"},
                         {"template", "northwind-brand"},
                         {"templateHtml", brand}}}});
  EXPECT_EQ(RunSpamReports("2026-11-15T12:00:00Z")["reportsSent"], 0) << "the first pass";
  EXPECT_TRUE(
      Send("user@acme.example", Gtube("user@acme.example", "<script>alert(1)</script> & offers"))
          .accepted());
  EXPECT_EQ(RunSpamReports("2026-11-16T08:00:30Z")["reportsSent"], 1);
  ASSERT_EQ(destination_.WaitForMessages(1), 1u) << gateway_->MailLog();
  std::string report = destination_.Messages()[0];
  EXPECT_THAT(report, HasSubstr("Content-Type: multipart/alternative"));
  EXPECT_THAT(report, HasSubstr("Content-Type: text/plain"));
  EXPECT_THAT(report, HasSubstr("<script>alert(1)</script> & offers")) << "the text part, as text";
  size_t html_at = report.find("Content-Type: text/html; charset=utf-8");
  ASSERT_NE(html_at, std::string::npos) << report;
  size_t body = report.find("\r\n\r\n", html_at);
  ASSERT_NE(body, std::string::npos);
  std::string encoded;
  for (size_t i = body + 4; i < report.size() && report[i] != '-'; ++i) {
    if (report[i] != '\r' && report[i] != '\n') encoded += report[i];
  }
  auto html = gwtest::DecodeBase64(encoded);
  EXPECT_THAT(html, HasSubstr("<div class=\"brand\">Northwind Secure Mail</div>"));
  EXPECT_THAT(html, HasSubstr("For user@acme.example: 1 held (Europe/London)"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt; &amp; offers"));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
}

class AntivirusMailTest : public ContentMailTest {
 protected:
  AntivirusMailTest() { antivirus_ = true; }
};

TEST_F(AntivirusMailTest, MalwareIsRefusedOrQuarantinedNamedAndReportedAndClamdDownDefers) {
  PutCustomer("acme", {{"virusAction", "reject"}});
  PutCustomer("globex",
              {{"spamReport",
                {{"enabled", true},
                 {"days", {"mon"}},
                 {"times", {"08:00"}},
                 {"timezone", "UTC"},
                 {"categories", {"spam", "virus"}}}}},
              {{"lists", {{"allow", {{{"senderDomain", "outside.example"}}}}}},
               // Users see held malware in their report (and never release it).
               {"selfService", {{"quarantine", {{"virus", "view"}}}}}});
  EXPECT_EQ(RunSpamReports("2026-11-15T12:00:00Z")["reportsSent"], 0) << "the first pass";
  std::string zipped_eicar = gwtest::MessageWith(
      {{"invoice.zip", "application/zip", gwtest::Zip({{"readme.com", gwtest::kEicar}})}},
      "user@acme.example");
  auto refused = Send("user@acme.example", zipped_eicar);
  EXPECT_EQ(refused.code, 550) << refused.transcript << gateway_->MilterLog();
  EXPECT_THAT(refused.reply, HasSubstr("malware (" + gwtest::kEicarName + ")"));

  // globex quarantines, and its allow list does not exempt the sender from scanning.
  auto held =
      Send("user@globex.example",
           gwtest::MessageWith({{"notes.txt", "text/plain", "see " + gwtest::kVirusPattern}},
                               "user@globex.example"));
  EXPECT_TRUE(held.accepted()) << held.transcript;
  auto kept = Client()->ListQuarantine("northwind", "globex", 0, 10);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  ASSERT_EQ(kept->size(), 1u) << gateway_->MilterLog();
  EXPECT_EQ((*kept)[0].reason, "virus");
  EXPECT_THAT((*kept)[0].detail, HasSubstr(gwtest::kPatternName));
  EXPECT_TRUE(Send("user@globex.example", "Subject: clean\r\n\r\nnothing to see\r\n").accepted());
  ASSERT_EQ(destination_.WaitForMessages(1), 1u) << gateway_->MailLog();
  EXPECT_THAT(destination_.Messages()[0], HasSubstr("nothing to see"));

  json monday = RunSpamReports("2026-11-16T08:00:30Z");
  EXPECT_EQ(monday["reportsSent"], 1) << monday;
  ASSERT_EQ(destination_.WaitForMessages(2), 2u) << gateway_->MailLog();
  EXPECT_THAT(destination_.Messages()[1], HasSubstr("Viruses (1)"));

  gateway_->clamd()->Stop();
  auto deferred = Send("user@acme.example", "Subject: later\r\n\r\nclean\r\n");
  EXPECT_EQ(deferred.code, 451) << deferred.transcript;
  EXPECT_THAT(gateway_->MilterLog(), HasSubstr("tempfail"));
}

class RelayMailTest : public ContentMailTest {
 protected:
  static constexpr const char* kTenant = "3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d";
  static constexpr const char* kProvider = "127.0.0.2";
  RelayMailTest() { gatewayd_args_ = {"--relay-service-range", "office365=127.0.0.2/32"}; }

  // `message` as Exchange Online would relay it: stamped with `tenants`, dated, with an id.
  std::string Stamped(const std::vector<std::string>& tenants, const std::string& message) {
    std::string headers;
    for (const auto& tenant : tenants)
      headers += "X-MS-Exchange-CrossTenant-Id: " + tenant + "\r\n";
    if (message.find("\r\nMessage-ID:") == std::string::npos) {
      headers += fmt::format("Message-ID: <relayed-{}@acme.example>\r\n", ++stamped_);
    }
    if (message.find("\r\nDate:") == std::string::npos) {
      char date[64];
      std::time_t now = std::time(nullptr);
      std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", std::gmtime(&now));
      headers += fmt::format("Date: {}\r\n", date);
    }
    return headers + message;
  }

  int stamped_ = 0;
};

TEST_F(RelayMailTest, AProvidersRangeRelaysOnlyTheCustomersTenantAndRelayedMailIsFiltered) {
  PutCustomer("acme", ContentFilter("reject", {"docmacro"}, false),
              {{"outboundRelay", {{"service", "office365"}, {"tenantId", kTenant}}}});
  PutCustomer("globex", ContentFilter("reject", {"executable"}, false));
  std::string letter =
      "From: ceo@acme.example\r\nTo: partner@external.example\r\nSubject: figures\r\n\r\n"
      "Quarterly figures.\r\n";
  std::string attacker = "0a0b0c0d-0000-4000-8000-000000000001";

  // Another tenant of the provider: no stamp of acme's, or its own beside a forged one.
  auto unstamped = Relay("ceo@acme.example", "partner@external.example", letter, kProvider);
  EXPECT_EQ(unstamped.code, 550) << unstamped.transcript << gateway_->MilterLog();
  EXPECT_THAT(unstamped.reply, HasSubstr("relay refused"));
  auto forged = Relay("ceo@acme.example", "partner@external.example",
                      Stamped({kTenant, attacker}, letter), kProvider);
  EXPECT_EQ(forged.code, 550) << forged.transcript;
  auto other =
      Relay("ceo@acme.example", "partner@external.example", Stamped({attacker}, letter), kProvider);
  EXPECT_EQ(other.code, 550) << other.transcript;

  // acme's own tenant relays; from elsewhere nothing does.
  auto proven =
      Relay("ceo@acme.example", "partner@external.example", Stamped({kTenant}, letter), kProvider);
  EXPECT_TRUE(proven.accepted()) << proven.transcript << gateway_->MilterLog();
  auto elsewhere = Relay("ceo@acme.example", "partner@external.example", Stamped({kTenant}, letter),
                         "127.0.0.3");
  EXPECT_EQ(elsewhere.code, 554) << elsewhere.transcript;
  ASSERT_EQ(internet_->WaitForMessages(1), 1u) << gateway_->MailLog() << gateway_->MilterLog();
  EXPECT_THAT(internet_->Messages()[0], HasSubstr("Subject: figures"));

  // Outbound: acme's attachment rules, and spam is held in acme's quarantine.
  auto macro =
      Relay("ceo@acme.example", "partner@external.example",
            Stamped({kTenant}, gwtest::MessageWith({{"invoice.docm", "application/octet-stream",
                                                     gwtest::MacroDocument()}},
                                                   "partner@external.example")),
            kProvider);
  EXPECT_EQ(macro.code, 550) << macro.transcript << gateway_->MilterLog();
  EXPECT_THAT(macro.reply, HasSubstr("invoice.docm"));
  auto spam =
      Relay("ceo@acme.example", "partner@external.example",
            Stamped({kTenant}, Gtube("partner@external.example", "outbound-spam")), kProvider);
  EXPECT_TRUE(spam.accepted()) << spam.transcript;
  auto held = Client()->ListQuarantine("northwind", "acme", 0, 10);
  ASSERT_TRUE(held.ok()) << held.status().message();
  ASSERT_EQ(held->size(), 1u) << gateway_->MilterLog();
  EXPECT_EQ((*held)[0].subject, "outbound-spam");
  EXPECT_EQ((*held)[0].recipients, std::vector<std::string>{"partner@external.example"});

  // To another customer of the gateway: globex's rules as well (it refuses programs).
  auto program = Relay(
      "ceo@acme.example", "user@globex.example",
      Stamped({kTenant}, gwtest::MessageWith(
                             {{"setup.exe", "application/octet-stream", gwtest::WindowsProgram()}},
                             "user@globex.example")),
      kProvider);
  EXPECT_EQ(program.code, 550) << program.transcript << gateway_->MilterLog();
  EXPECT_THAT(program.reply, HasSubstr("setup.exe"));
  auto hello = Relay("ceo@acme.example", "user@globex.example",
                     Stamped({kTenant},
                             "From: ceo@acme.example\r\nTo: user@globex.example\r\n"
                             "Subject: hello globex\r\n\r\nHello.\r\n"),
                     kProvider);
  EXPECT_TRUE(hello.accepted()) << hello.transcript;
  ASSERT_EQ(destination_.WaitForMessages(1), 1u) << gateway_->MailLog() << gateway_->MilterLog();
  EXPECT_THAT(destination_.Messages()[0], HasSubstr("Subject: hello globex"));
  EXPECT_EQ(internet_->Messages().size(), 1u) << "nothing else left the gateway";
}
