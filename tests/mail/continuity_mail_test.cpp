// Continuity end to end: a real Postfix and Dovecot asking a real gatewayd, aiosmtpd as the
// customer's server (which starts answering 451, then comes back) and as "the internet",
// swaks sending, Python's imaplib and poplib reading. Needs root (Postfix, and Dovecot
// delivering as the mail user); skipped, saying why, otherwise.
#include <chrono>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/rfc3339.h"
#include "mail_fixture.h"
#include "metrics.h"
#include "test_ca.h"

namespace {

using gwtest::Gatewayd;
using gwtest::MailGateway;
using gwtest::RunCommand;
using gwtest::Sink;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr const char* kAlicePassword = "alice-continuity-1";
constexpr const char* kBobPassword = "bob-continuity-22";

std::string ContinuityMissing() {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) return missing;
  if (access("/usr/sbin/dovecot", X_OK) != 0) return "needs /usr/sbin/dovecot (ci/setup --tests)";
  return "";
}

class ContinuityMailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = ContinuityMissing(); !missing.empty()) {
      GTEST_SKIP() << "continuity test skipped: " << missing;
    }
    internet_ = std::make_unique<Sink>();
    ASSERT_TRUE(internet_->ready()) << internet_->output();
    server_ = std::make_unique<Sink>();
    ASSERT_TRUE(server_->ready()) << server_->output();
    gateway_ = std::make_unique<MailGateway>(internet_->port(), Options());
    ASSERT_EQ(gateway_->problem(), "");
    ASSERT_TRUE(Client()->EnsurePartner("northwind").ok());
    PutAcme();
  }

  virtual gwtest::MailGatewayOptions Options() {
    gwtest::MailGatewayOptions options;
    options.continuity = true;
    return options;
  }

  std::unique_ptr<gw::GatewayClient> Client() {
    return gateway_->gatewayd().Client(Gatewayd::kOperatorToken);
  }

  // acme.example with continuity for everyone; alice is activated, bob is not, both have
  // passwords; carol is outside a selected scope only in the scope test.
  void PutAcme(json continuity = {{"enabled", true}, {"retention", "1d"}}) {
    auto client = Client();
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-access"},
                  {"billableUsers", 5},
                  {"domains", {{"primary", "acme.example"}}},
                  {"destinations", fmt::format("127.0.0.1:{}", server_->port())},
                  {"continuity", continuity}};
    auto existing = client->GetCustomer("northwind", "acme");
    auto put = client->PutCustomer("northwind", "acme", write,
                                   existing.ok() ? gw::WriteCondition::AtVersion(existing->version)
                                                 : gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(put.ok()) << put.status().message();
    gw::User alice, bob, carol;
    alice.address = "alice@acme.example";
    alice.aliases = {"a.smith@acme.example"};
    alice.continuity = true;
    bob.address = "bob@acme.example";
    carol.address = "carol@acme.example";
    carol.continuity = true;
    auto added = client->BatchUsers("northwind", "acme", {{alice, bob, carol}, {}});
    ASSERT_TRUE(added.ok()) << added.status().message();
    ASSERT_TRUE(
        client->SetContinuityPassword("northwind", "acme", "alice@acme.example", kAlicePassword)
            .ok());
    ASSERT_TRUE(
        client->SetContinuityPassword("northwind", "acme", "bob@acme.example", kBobPassword).ok());
    ASSERT_TRUE(gateway_->WaitForLookup("recipients carol@acme.example", "OK carol@"));
  }

  // The customer's server, replaced by one that answers every RCPT this way (or normally).
  // `known`: only these recipients are accepted, others refused for good (550).
  // `tls`: it offers STARTTLS with a self-signed certificate.
  void RestartServer(const std::string& rcpt_reply, const std::string& known = "",
                     bool tls = false) {
    int port = server_->port();
    server_.reset();
    gwtest::SinkOptions options;
    if (tls) {
      auto issued = gwtest::TestCa(gateway_->postfix_dir().parent_path())
                        .SelfSigned("server", "mx.acme.example");
      options = gwtest::SinkOptions::StartTls(issued.cert, issued.key);
    }
    options.rcpt_reply = rcpt_reply;
    options.known = known;
    server_ = std::make_unique<Sink>(port, options);
    ASSERT_TRUE(server_->ready()) << server_->output();
  }

  // gwctl over HTTP with the operator token; `input` on its standard input.
  gwtest::CommandResult Gwctl(const std::string& arguments, const std::string& input = "") {
    return RunCommand(
        fmt::format("printf '{}' | GWCTL_TOKEN={} {} {} --gateway {} --partner northwind", input,
                    Gatewayd::kOperatorToken, GWCTL_BINARY, arguments, gateway_->gatewayd().url()));
  }

  json ContinuityNow() {
    httplib::Client http(gateway_->gatewayd().url());
    auto response = http.Get(
        "/v1/continuity", {{"Authorization", std::string("Bearer ") + Gatewayd::kOperatorToken}});
    if (!response || response->status != 200) return json();
    return json::parse(response->body, nullptr, false);
  }

  // Waits until the monitor has probed `rounds` more times (one customer: one probe a
  // round), so that what a round would do has had the chance to happen.
  bool WaitForMoreProbes(long rounds) {
    const std::string url = gateway_->gatewayd().url(), series = "gatewayd_continuity_probes_total";
    double start = gwtest::MetricValue(url, series);
    return start >= 0 && gwtest::WaitForMetric(url, series, [&](double probes) {
             return probes >= start + static_cast<double>(rounds);
           });
  }

  bool WaitForContinuity(bool active, std::chrono::seconds timeout = std::chrono::seconds(15)) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      json now = ContinuityNow();
      if (now.is_object() && now["customers"].size() == (active ? 1u : 0u)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // What a mail program sees: "messages N" and "subject: ..." lines, or "login failed".
  std::string ReadMailbox(const std::string& protocol, const std::string& user,
                          const std::string& password, const std::string& source = "") {
    auto file = gateway_->postfix_dir().parent_path() / ("password-" + protocol);
    std::ofstream(file) << password << "\n";
    const auto& ports = gateway_->continuity();
    int port = protocol == "imap"    ? ports.imap
               : protocol == "pop3"  ? ports.pop3
               : protocol == "imaps" ? ports.imaps
                                     : ports.pop3s;
    return RunCommand(fmt::format("/usr/bin/python3 {}/tests/mail/read_mailbox.py --protocol {} "
                                  "--port {} --user '{}' --password-file '{}'{}",
                                  GWCTL_SOURCE_DIR, protocol, port, user, file.string(),
                                  source.empty() ? "" : " --source " + source))
        .output;
  }

  // Waits until `user`'s mailbox shows `count` messages over IMAP.
  std::string WaitForMailbox(const std::string& user, const std::string& password, int count) {
    std::string expected = fmt::format("messages {}", count), seen;
    for (auto deadline = Clock::now() + std::chrono::seconds(30); Clock::now() < deadline;) {
      seen = ReadMailbox("imap", user, password);
      if (seen.find(expected) != std::string::npos) break;
      gateway_->FlushQueue();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return seen;
  }

  std::unique_ptr<Sink> internet_, server_;
  std::unique_ptr<MailGateway> gateway_;
};

TEST_F(ContinuityMailTest, MailIsKeptWhileTheServerAnswers451AndDeliveredOnceWhenItIsBack) {
  // Up: mail goes to the server.
  ASSERT_TRUE(gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: before'")
                  .accepted());
  ASSERT_EQ(server_->WaitForMessages(1, std::chrono::seconds(20)), 1u) << gateway_->MailLog();
  EXPECT_TRUE(ContinuityNow()["customers"].empty());

  // The server starts answering 451: after two failed probe rounds, acme is in continuity.
  RestartServer("451 4.3.0 mailbox store unavailable");
  ASSERT_TRUE(WaitForContinuity(true)) << ContinuityNow().dump();
  EXPECT_THAT(ContinuityNow()["customers"][0]["reason"].get<std::string>(), HasSubstr("451"));
  auto metrics = httplib::Client(gateway_->gatewayd().url()).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gatewayd_continuity_customers 1"));
  auto status = Gwctl("continuity status");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_THAT(status.output, HasSubstr("acme  in continuity since "));
  // What the probe saw, by its codes (a partner reads this: never the server's text).
  EXPECT_THAT(status.output, HasSubstr("answered 451 4.3.0 to RCPT TO"));
  EXPECT_THAT(status.output, ::testing::Not(HasSubstr("mailbox store unavailable")));

  // New mail lands in the users' continuity mailboxes (an alias in its user's).
  ASSERT_TRUE(gateway_->Send("x@ext.example", "a.smith@acme.example", "--header 'Subject: kept 1'")
                  .accepted());
  ASSERT_TRUE(
      gateway_->Send("x@ext.example", "bob@acme.example", "--header 'Subject: kept 2'").accepted());
  // A raw Latin-1 body: Dovecot keeps it, but its API could hand it back only changed.
  auto latin1 = gateway_->postfix_dir().parent_path() / "latin1.eml";
  std::ofstream(latin1, std::ios::binary)
      << "From: x@ext.example\r\nTo: bob@acme.example\r\nSubject: 8bit\r\nContent-Type: "
         "text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nK\xe4se\r\n";
  ASSERT_TRUE(gateway_->SendFile("x@ext.example", "bob@acme.example", latin1).accepted());
  std::string alice = WaitForMailbox("alice@acme.example", kAlicePassword, 1);
  EXPECT_THAT(alice, HasSubstr("subject: kept 1")) << gateway_->MailLog() << gateway_->DovecotLog();
  EXPECT_THAT(ReadMailbox("pop3", "alice@acme.example", kAlicePassword),
              HasSubstr("messages 1\nsubject: kept 1"));
  EXPECT_THAT(ReadMailbox("imap", "a.smith@acme.example", kAlicePassword), HasSubstr("messages 1"))
      << "an alias logs in to its user's mailbox";
  // bob's mail is kept, but he is not activated: he cannot log in, even with a password.
  EXPECT_THAT(ReadMailbox("imap", "bob@acme.example", kBobPassword), HasSubstr("login failed"));
  EXPECT_THAT(ReadMailbox("pop3", "bob@acme.example", kBobPassword), HasSubstr("login failed"));
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", "wrong-password-1"),
              HasSubstr("login failed"));
  EXPECT_EQ(server_->Messages().size(), 0u);

  // Authenticated submission works during the outage, as the user's own addresses only.
  std::string auth = fmt::format("--auth PLAIN --auth-user alice@acme.example --auth-password '{}'",
                                 kAlicePassword);
  auto sent = gateway_->Send("a.smith@acme.example", "partner@ext.example",
                             auth + " --header 'Subject: from continuity'",
                             gateway_->continuity().submission);
  EXPECT_TRUE(sent.accepted()) << sent.transcript;
  ASSERT_EQ(internet_->WaitForMessages(1, std::chrono::seconds(20)), 1u) << gateway_->MailLog();
  EXPECT_THAT(internet_->Messages()[0], HasSubstr("Subject: from continuity"));
  auto spoofed = gateway_->Send("bob@acme.example", "partner@ext.example", auth,
                                gateway_->continuity().submission);
  EXPECT_FALSE(spoofed.accepted()) << spoofed.transcript;
  EXPECT_THAT(spoofed.reply, HasSubstr("not owned by user"));
  auto anonymous = gateway_->Send("alice@acme.example", "partner@ext.example", "",
                                  gateway_->continuity().submission);
  EXPECT_FALSE(anonymous.accepted()) << anonymous.transcript;

  // The server is back, now with STARTTLS: acme leaves continuity, the kept mail is
  // delivered to it once, encrypted (through the gateway's Postfix and its TLS policy),
  // and new mail goes straight to it.
  RestartServer("", "", true);
  ASSERT_TRUE(WaitForContinuity(false)) << ContinuityNow().dump();
  EXPECT_THAT(Gwctl("continuity status").output,
              HasSubstr("No customer of northwind is in continuity."));
  ASSERT_EQ(server_->WaitForMessages(3, std::chrono::seconds(20)), 3u)
      << gateway_->MailLog() << gateway_->gatewayd().process().output();
  ASSERT_TRUE(gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: after'")
                  .accepted());
  ASSERT_EQ(server_->WaitForMessages(4, std::chrono::seconds(40)), 4u) << gateway_->MailLog();
  ASSERT_TRUE(WaitForMoreProbes(4));  // rounds in which mail could go out twice
  auto messages = server_->Messages();
  ASSERT_EQ(messages.size(), 4u) << "kept mail was delivered more than once";
  std::string kept = messages[0] + messages[1] + messages[2];
  EXPECT_THAT(kept, HasSubstr("Subject: kept 1"));
  EXPECT_THAT(kept, HasSubstr("Subject: kept 2"));
  EXPECT_THAT(kept, HasSubstr("X-Sink-From: x@ext.example"));
  EXPECT_THAT(kept, HasSubstr("X-GW-Continuity: kept while the server was down"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(messages[i], ::testing::ContainsRegex("X-Sink-TLS: TLSv1\\.[23]")) << i;
  }
  // The Latin-1 body arrives with the bytes it was sent with (read over IMAP: doveadm's
  // JSON API would have replaced them).
  EXPECT_THAT(kept, HasSubstr("Subject: 8bit"));
  EXPECT_THAT(kept, HasSubstr("\r\n\r\nK\xe4se"));
  EXPECT_THAT(messages[3], HasSubstr("Subject: after"));
  // Still readable in continuity until the retention.
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", kAlicePassword), HasSubstr("messages 1"));

  // Retention (1d) as of a day and a minute later: expunged. As of now: kept.
  auto retention = [&](std::chrono::system_clock::time_point as_of) {
    httplib::Client http(gateway_->gatewayd().url());
    return http.Post("/v1/continuity/retention:run",
                     {{"Authorization", std::string("Bearer ") + Gatewayd::kOperatorToken}},
                     json{{"asOf", gw::FormatRfc3339(as_of)}}.dump(), "application/json");
  };
  auto now = retention(std::chrono::system_clock::now());
  ASSERT_TRUE(now && now->status == 200) << (now ? now->body : "no answer");
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", kAlicePassword), HasSubstr("messages 1"));
  auto later = retention(std::chrono::system_clock::now() + std::chrono::hours(24) +
                         std::chrono::minutes(1));
  ASSERT_TRUE(later && later->status == 200) << (later ? later->body : "no answer");
  EXPECT_EQ(json::parse(later->body)["mailboxes"], 3) << later->body;  // alice, bob, carol
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", kAlicePassword), HasSubstr("messages 0"));
}

TEST_F(ContinuityMailTest, OnlyUsersInScopeAreKeptAndContinuitySwitchedOffEndsAccess) {
  PutAcme({{"enabled", true}, {"scope", "selected"}, {"members", {"alice@acme.example"}}});
  ASSERT_TRUE(gateway_->WaitForLookup("continuity carol@acme.example", "NOTFOUND"));
  RestartServer("451 4.3.0 try later");
  ASSERT_TRUE(WaitForContinuity(true)) << ContinuityNow().dump();
  ASSERT_TRUE(gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: member'")
                  .accepted());
  ASSERT_TRUE(
      gateway_->Send("x@ext.example", "carol@acme.example", "--header 'Subject: not a member'")
          .accepted());
  EXPECT_THAT(WaitForMailbox("alice@acme.example", kAlicePassword, 1), HasSubstr("member"));
  // A new password through gwctl, read from standard input: the old one stops working.
  auto changed = Gwctl("continuity set-password --customer acme --user alice@acme.example",
                       "a-new-password-42\\n");
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_THAT(changed.output, Not(HasSubstr("a-new-password-42")));
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", "a-new-password-42"),
              HasSubstr("messages 1"));
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", kAlicePassword), HasSubstr("login failed"));
  auto too_short =
      Gwctl("continuity set-password --customer acme --user alice@acme.example", "short\\n");
  EXPECT_EQ(too_short.exit_code, 4);
  EXPECT_THAT(too_short.output, HasSubstr("shorter than 10 characters"));
  EXPECT_THAT(too_short.output, Not(HasSubstr("short\n")));
  // carol, activated but not a member, has no mailbox: her mail waits in the queue.
  EXPECT_THAT(gateway_->MailLog(), HasSubstr("carol@acme.example"));
  EXPECT_THAT(gateway_->Queue(), HasSubstr("carol@acme.example"));
  EXPECT_THAT(gateway_->MailLog(), Not(HasSubstr("status=bounced")));

  // Continuity switched off: alice can no longer log in.
  PutAcme({{"enabled", false}});
  ASSERT_TRUE(gateway_->WaitForLookup("continuity alice@acme.example", "NOTFOUND"));
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", "a-new-password-42"),
              HasSubstr("login failed"));
  ASSERT_TRUE(WaitForContinuity(false));

  // The server back, but refusing alice for good now: carol's queued mail reaches it (the
  // queue retries every 10 s); alice's kept message, handed back to Postfix once, is
  // refused by the server and bounced to its sender, as any mail would be.
  RestartServer("", "carol@acme.example");
  gateway_->FlushQueue();
  ASSERT_GE(server_->WaitForMessages(1, std::chrono::seconds(40)), 1u) << gateway_->MailLog();
  EXPECT_THAT(server_->Messages()[0], HasSubstr("Subject: not a member"));
  ASSERT_GE(internet_->WaitForMessages(1, std::chrono::seconds(40)), 1u) << gateway_->MailLog();
  // Continuity is off, so no probe counts the monitor's rounds: four of them (500 ms).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(server_->Messages().size(), 1u);
  ASSERT_EQ(internet_->Messages().size(), 1u) << "handed back more than once";
  EXPECT_THAT(internet_->Messages()[0], HasSubstr("X-Sink-To: x@ext.example"));
  EXPECT_THAT(internet_->Messages()[0], HasSubstr("<alice@acme.example>: host 127.0.0.1"));
}

TEST_F(ContinuityMailTest, AKilledGatewaydLosesNoMailDuringAnOutage) {
  RestartServer("451 4.3.0 try later");
  ASSERT_TRUE(WaitForContinuity(true));
  ASSERT_TRUE(gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: first'")
                  .accepted());
  EXPECT_THAT(WaitForMailbox("alice@acme.example", kAlicePassword, 1), HasSubstr("first"));

  std::string since = ContinuityNow()["customers"][0]["since"];
  gateway_->KillGatewayd();  // SIGKILL
  // Without gatewayd, Postfix refuses new mail temporarily (the sender keeps it), never
  // permanently.
  auto refused = gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: x'");
  EXPECT_EQ(refused.code / 100, 4) << refused.transcript;
  gateway_->StartGatewayd();
  ASSERT_TRUE(gateway_->WaitForLookup("recipients alice@acme.example", "OK alice@"));
  ASSERT_TRUE(WaitForContinuity(true));
  EXPECT_EQ(ContinuityNow()["customers"][0]["since"], since)
      << "the restarted gatewayd takes up the recorded outage";
  ASSERT_TRUE(gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: second'")
                  .accepted());
  EXPECT_THAT(WaitForMailbox("alice@acme.example", kAlicePassword, 2), HasSubstr("second"));

  RestartServer("");
  ASSERT_EQ(server_->WaitForMessages(2, std::chrono::seconds(20)), 2u) << gateway_->MailLog();
  ASSERT_TRUE(WaitForMoreProbes(4));  // rounds in which mail could go out twice
  auto messages = server_->Messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_THAT(messages[0] + messages[1], HasSubstr("Subject: first"));
  EXPECT_THAT(messages[0] + messages[1], HasSubstr("Subject: second"));
  EXPECT_THAT(gateway_->MailLog(), Not(HasSubstr("status=bounced")));
}

// With a certificate: IMAPS and POP3S (993 and 995 in production) take logins; the
// plain ports take none before STARTTLS.
class ContinuityTlsMailTest : public ContinuityMailTest {
 protected:
  gwtest::MailGatewayOptions Options() override {
    gwtest::MailGatewayOptions options = ContinuityMailTest::Options();
    options.dovecot_tls = true;
    return options;
  }
};

TEST_F(ContinuityTlsMailTest, MailboxesAreReadOverImapsAndPop3sAndPlainLoginsAreRefused) {
  RestartServer("451 4.3.0 try later");
  ASSERT_TRUE(WaitForContinuity(true));
  ASSERT_TRUE(
      gateway_->Send("x@ext.example", "alice@acme.example", "--header 'Subject: tls'").accepted());
  std::string seen;
  for (auto deadline = Clock::now() + std::chrono::seconds(30); Clock::now() < deadline;) {
    seen = ReadMailbox("imaps", "alice@acme.example", kAlicePassword);
    if (seen.find("messages 1") != std::string::npos) break;
    gateway_->FlushQueue();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_THAT(seen, HasSubstr("messages 1\nsubject: tls")) << gateway_->DovecotLog();
  EXPECT_THAT(ReadMailbox("pop3s", "alice@acme.example", kAlicePassword),
              HasSubstr("messages 1\nsubject: tls"));
  EXPECT_THAT(ReadMailbox("imaps", "alice@acme.example", "wrong-password-1"),
              HasSubstr("login failed"));
  // The password never crosses the network in clear: from another address than the
  // server's own, the plain ports refuse logins before STARTTLS.
  EXPECT_THAT(ReadMailbox("imap", "alice@acme.example", kAlicePassword, "127.0.0.3"),
              HasSubstr("Plaintext authentication disallowed"));
  EXPECT_THAT(ReadMailbox("pop3", "alice@acme.example", kAlicePassword, "127.0.0.3"),
              HasSubstr("Plaintext authentication disallowed"));
}

}  // namespace
