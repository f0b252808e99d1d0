// The mail data plane end to end: a real Postfix asking a real gatewayd, aiosmtpd as the
// customers' mail servers (and as "the internet" for outbound mail), swaks as the sender.
// Each test starts its own instance on kernel-chosen loopback ports. Needs root (Postfix);
// skipped, saying why, otherwise.
#include <chrono>
#include <thread>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/notifier.h"
#include "gateway/smtp_client.h"
#include "mail_fixture.h"
#include "metrics.h"
#include "nsd_fixture.h"
#include "test_ca.h"
#include "webhook_receiver.h"

namespace {

using gwtest::Gatewayd;
using gwtest::MailGateway;
using gwtest::Sink;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

json Destination(int port, int preference) {
  return {{"host", "127.0.0.1"}, {"port", port}, {"preference", preference}};
}

class MailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
      GTEST_SKIP() << "mail data plane test skipped: " << missing;
    }
    internet_ = std::make_unique<Sink>();
    ASSERT_TRUE(internet_->ready()) << internet_->output();
    gateway_ = std::make_unique<MailGateway>(internet_->port());
    ASSERT_EQ(gateway_->problem(), "");
    ASSERT_TRUE(Client()->EnsurePartner("northwind").ok());
  }

  std::unique_ptr<gw::GatewayClient> Client() {
    return gateway_->gatewayd().Client(Gatewayd::kOperatorToken);
  }

  // A customer acme.example (alias acme.co.uk) delivering to `destinations`, with the
  // user alice@acme.example (alias a.smith@acme.example); `extra` is merged into the spec.
  void PutAcme(json destinations, json extra = json::object()) {
    json spec = {{"product", "ultimate-access"},
                 {"billableUsers", 5},
                 {"domains", {{"primary", "acme.example"}, {"aliases", {"acme.co.uk"}}}},
                 {"destinations", std::move(destinations)}};
    spec.merge_patch(extra);
    PutCustomer("acme", spec);
    gw::User alice;
    alice.address = "alice@acme.example";
    alice.aliases = {"a.smith@acme.example"};
    auto added = Client()->BatchUsers("northwind", "acme", {{alice}, {}});
    ASSERT_TRUE(added.ok()) << added.status().message();
    // The directory swaps a customer whole: its users seen, its settings are too.
    ASSERT_TRUE(gateway_->WaitForLookup("recipients a.smith@acme.example", "OK alice@"));
  }

  void PutCustomer(const std::string& name, const json& spec) {
    auto client = Client();
    auto existing = client->GetCustomer("northwind", name);
    gw::CustomerWrite write;
    write.spec = spec;
    auto put = client->PutCustomer("northwind", name, write,
                                   existing.ok() ? gw::WriteCondition::AtVersion(existing->version)
                                                 : gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(put.ok()) << put.status().message();
  }

  std::unique_ptr<Sink> internet_;
  std::unique_ptr<MailGateway> gateway_;
};

// gatewayd --verify-domains: Postfix refuses mail for a customer's domain until its claim
// is verified, then delivers it; the customer's alias domain, still pending, stays refused.
TEST(MailVerificationTest, MailToADomainIsRefusedUntilItsTxtRecordIsPublished) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) GTEST_SKIP() << missing;
  if (std::string missing = gwtest::NsdMissing(); !missing.empty()) GTEST_SKIP() << missing;
  gwtest::Nsd nsd(
      std::map<std::string, std::string>{{"acme.example", "@ IN MX 10 mx1.gw.test.\n"}});
  ASSERT_TRUE(nsd.started()) << nsd.log();
  Sink internet, destination;
  ASSERT_TRUE(internet.ready() && destination.ready());
  gwtest::MailGatewayOptions options;
  options.gatewayd_args = {"--verify-domains", "--dns-server",
                           fmt::format("127.0.0.1:{}", nsd.endpoint().port),
                           "--domain-check-interval-s", "3600"};
  MailGateway gateway(internet.port(), options);
  ASSERT_EQ(gateway.problem(), "");
  auto client = gateway.gatewayd().Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-defense"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}, {"aliases", {"acme.co.uk"}}}},
                {"destinations", json::array({Destination(destination.port(), 10)})}};
  auto acme = client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(acme.ok()) << acme.status().message();
  gw::User alice, bob;
  alice.address = "alice@acme.example";
  bob.address = "bob@acme.example";
  ASSERT_TRUE(client->BatchUsers("northwind", "acme", {{alice, bob}, {}}).ok());
  // The refusal below is the pending claim's, not a directory that has yet to load them.
  ASSERT_TRUE(gwtest::WaitForMetric(gateway.gatewayd().url(), "gatewayd_mail_directory_addresses",
                                    [](double addresses) { return addresses >= 2; }));

  // To bob: Postfix keeps its last address resolution for 30 s, so the address sent to
  // once verified is another.
  auto pending = gateway.Send("carol@ext.example", "bob@acme.example");
  EXPECT_EQ(pending.code, 554) << pending.transcript;
  EXPECT_THAT(pending.reply, HasSubstr("Relay access denied"));

  std::string record = acme->domain_claims.at(1).record();  // acme.example's (by domain)
  ASSERT_EQ(acme->domain_claims[1].domain, "acme.example");
  ASSERT_TRUE(nsd.Publish("acme.example",
                          fmt::format("@ IN MX 10 mx1.gw.test.\n@ IN TXT \"{}\"\n", record)));
  auto checked = client->CheckDomains("northwind", "acme");
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  ASSERT_TRUE(gateway.WaitForLookup("recipients alice@acme.example", "OK alice@"));

  EXPECT_TRUE(gateway.Send("bob@ext.example", "alice@acme.example").accepted());
  auto alias = gateway.Send("bob@ext.example", "alice@acme.co.uk");
  EXPECT_EQ(alias.code, 554) << alias.transcript;
  ASSERT_EQ(destination.WaitForMessages(1), 1u) << gateway.MailLog();
  EXPECT_THAT(destination.Messages()[0], HasSubstr("X-Sink-To: alice@acme.example"));
}

TEST_F(MailTest, InboundMailToACustomersDomainsIsDeliveredAndAnythingElseRefused) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}));

  EXPECT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.example").accepted());
  EXPECT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.co.uk").accepted()) << "alias domain";
  EXPECT_TRUE(gateway_->Send("bob@ext.example", "a.smith@acme.example").accepted()) << "user alias";
  EXPECT_TRUE(gateway_->Send("bob@ext.example", "alice+news@acme.example").accepted())
      << "+extension";

  auto unknown_domain = gateway_->Send("bob@ext.example", "x@unknown.example");
  EXPECT_EQ(unknown_domain.code, 554) << unknown_domain.transcript;
  EXPECT_THAT(unknown_domain.reply, HasSubstr("Relay access denied"));
  auto unknown_user = gateway_->Send("bob@ext.example", "zed@acme.example");
  EXPECT_EQ(unknown_user.code, 550) << unknown_user.transcript;
  EXPECT_THAT(unknown_user.reply, HasSubstr("User unknown"));
  auto subdomain = gateway_->Send("bob@ext.example", "x@sub.acme.example");
  EXPECT_EQ(subdomain.code, 554) << subdomain.transcript;

  ASSERT_EQ(destination.WaitForMessages(4), 4u) << gateway_->MailLog();
  auto messages = destination.Messages();
  EXPECT_THAT(messages[0], HasSubstr("X-Sink-To: alice@acme.example"));
  EXPECT_THAT(messages[1], HasSubstr("X-Sink-To: alice@acme.co.uk"));
}

// Mail leaves the gateway encrypted wherever the other side offers STARTTLS, with no
// certificate of the gateway's own (postfix-config writes outbound TLS always); a server
// without STARTTLS still gets its mail (opportunistic), unless its customer requires TLS
// (tls.delivery: required, the encrypting transport): then the mail waits. That
// requirement is its customer's own: another customer's mail to the same server goes.
TEST_F(MailTest, MailGoesOutOverStartTlsWhereverOfferedAndWaitsWhereRequiredAndNot) {
  auto dir = gwtest::MakeTempDir("tls-sink");
  auto issued = gwtest::TestCa(dir).SelfSigned("sink", "mx.acme.example");
  Sink encrypted(0, gwtest::SinkOptions::StartTls(issued.cert, issued.key));
  ASSERT_TRUE(encrypted.ready()) << encrypted.output();
  Sink cleartext;
  ASSERT_TRUE(cleartext.ready()) << cleartext.output();
  PutAcme(json::array({Destination(encrypted.port(), 10)}), {{"tls", {{"delivery", "required"}}}});
  PutCustomer("globex", {{"product", "ultimate-access"},
                         {"billableUsers", 5},
                         {"domains", {{"primary", "globex.example"}}},
                         {"destinations", json::array({Destination(cleartext.port(), 10)})},
                         {"users", {{"addressDiscovery", false}}},
                         {"lists", {{"recipientAllow", {"postmaster"}}}}});
  // A customer that requires TLS, on globex's server, which does not offer it.
  PutCustomer("initech", {{"product", "ultimate-access"},
                          {"billableUsers", 5},
                          {"domains", {{"primary", "initech.example"}}},
                          {"destinations", json::array({Destination(cleartext.port(), 10)})},
                          {"tls", {{"delivery", "required"}}}});
  gw::User bill;
  bill.address = "bill@initech.example";
  ASSERT_TRUE(Client()->BatchUsers("northwind", "initech", {{bill}, {}}).ok());
  ASSERT_TRUE(gateway_->WaitForLookup("recipients bill@initech.example", "OK"));
  gw::User postmaster;
  postmaster.address = "postmaster@globex.example";
  ASSERT_TRUE(Client()->BatchUsers("northwind", "globex", {{postmaster}, {}}).ok());
  ASSERT_TRUE(gateway_->WaitForLookup("recipients postmaster@globex.example", "OK"));

  EXPECT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.example").accepted());
  EXPECT_TRUE(gateway_->Send("bob@ext.example", "postmaster@globex.example").accepted());
  ASSERT_EQ(encrypted.WaitForMessages(1), 1u) << gateway_->MailLog();
  EXPECT_THAT(encrypted.Messages()[0], ::testing::ContainsRegex("X-Sink-TLS: TLSv1\\.[23]"))
      << gateway_->MailLog();
  ASSERT_EQ(cleartext.WaitForMessages(1), 1u) << gateway_->MailLog();
  EXPECT_THAT(gateway_->MailLog(), HasSubstr("TLS connection established to 127.0.0.1"));

  // Required, and not offered: the mail waits in the queue, never sent in clear.
  EXPECT_TRUE(gateway_->Send("bob@ext.example", "bill@initech.example").accepted());
  EXPECT_TRUE(gateway_->WaitForMailLog("TLS is required, but was not offered"))
      << gateway_->MailLog();
  EXPECT_EQ(cleartext.Messages().size(), 1u) << "only globex's";
  EXPECT_THAT(gateway_->Queue(), HasSubstr("bill@initech.example"));
  std::filesystem::remove_all(dir);
}

// tls.delivery: verify over real Postfix: a certificate a trusted CA signed for the
// expected name delivers, one for another name leaves the mail waiting (while another
// customer's mail to that server, which verifies nothing, goes), and a pinned self-signed
// one delivers with no CA at all.
TEST(MailTlsTest, VerifiedDeliveryChecksTheCertificatesNameOrItsPin) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
    GTEST_SKIP() << "mail data plane test skipped: " << missing;
  }
  auto dir = gwtest::MakeTempDir("tls-verify");
  gwtest::TestCa ca(dir);
  auto sink_with = [](const gwtest::TestCa::Issued& issued) {
    return std::make_unique<Sink>(0, gwtest::SinkOptions::StartTls(issued.cert, issued.key));
  };
  auto right = sink_with(ca.Issue("right", {"mx.acme.example"}));
  auto wrong = sink_with(ca.Issue("wrong", {"mx.elsewhere.example"}));
  auto self_signed = ca.SelfSigned("pinned", "mx.initech.example");
  auto pinned = sink_with(self_signed);
  for (auto* sink : {right.get(), wrong.get(), pinned.get()}) {
    ASSERT_TRUE(sink->ready()) << sink->output();
  }
  Sink internet;
  ASSERT_TRUE(internet.ready()) << internet.output();
  gwtest::MailGatewayOptions options;
  options.postfix_ca_file = ca.ca_file();
  MailGateway gateway(internet.port(), options);
  ASSERT_EQ(gateway.problem(), "");
  auto client = gateway.gatewayd().Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  auto put = [&](const std::string& name, const Sink& sink, json tls) {
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-access"},
                  {"billableUsers", 5},
                  {"domains", {{"primary", name + ".example"}}},
                  {"destinations", json::array({Destination(sink.port(), 10)})},
                  {"tls", tls}};
    auto made = client->PutCustomer("northwind", name, write, gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(made.ok()) << made.status().message();
    gw::User user;
    user.address = "user@" + name + ".example";
    ASSERT_TRUE(client->BatchUsers("northwind", name, {{user}, {}}).ok());
    ASSERT_TRUE(gateway.WaitForLookup("recipients " + user.address, "OK"));
  };
  put("acme", *right, {{"delivery", "verify"}, {"serverNames", {"mx.acme.example"}}});
  put("globex", *wrong, {{"delivery", "verify"}, {"serverNames", {"mx.globex.example"}}});
  put("initech", *pinned,
      {{"delivery", "verify"}, {"fingerprints", {gwtest::TestCa::Fingerprint(self_signed.cert)}}});
  put("hooli", *wrong, {{"delivery", "opportunistic"}});

  for (const char* to :
       {"user@acme.example", "user@globex.example", "user@initech.example", "user@hooli.example"}) {
    EXPECT_TRUE(gateway.Send("bob@ext.example", to).accepted()) << to;
  }
  ASSERT_EQ(right->WaitForMessages(1), 1u) << gateway.MailLog();
  EXPECT_THAT(right->Messages()[0], ::testing::ContainsRegex("X-Sink-TLS: TLSv1\\.[23]"));
  ASSERT_EQ(pinned->WaitForMessages(1), 1u) << gateway.MailLog();
  EXPECT_TRUE(gateway.WaitForMailLog("Server certificate not verified")) << gateway.MailLog();
  ASSERT_EQ(wrong->WaitForMessages(1), 1u) << gateway.MailLog();
  EXPECT_THAT(wrong->Messages()[0], HasSubstr("X-Sink-To: user@hooli.example"));
  EXPECT_THAT(gateway.Queue(), HasSubstr("user@globex.example"));
  EXPECT_THAT(gateway.MailLog(), HasSubstr("Verified TLS connection established"));
  std::filesystem::remove_all(dir);
}

// The continuity probe, gatewayd's one SMTP hop of its own to customers' servers, uses
// STARTTLS where offered, and finds a server that does not offer it down when the
// customer requires TLS (its mail could not be delivered there).
TEST(MailTlsTest, TheProbeUsesStartTlsWhereOfferedAndNeedsItWhereRequired) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
    GTEST_SKIP() << "mail data plane test skipped: " << missing;
  }
  auto dir = gwtest::MakeTempDir("tls-probe");
  auto issued = gwtest::TestCa(dir).SelfSigned("probe", "mx.acme.example");
  Sink encrypted(0, gwtest::SinkOptions::StartTls(issued.cert, issued.key));
  Sink plain;
  ASSERT_TRUE(encrypted.ready()) << encrypted.output();
  ASSERT_TRUE(plain.ready()) << plain.output();
  const auto timeout = std::chrono::seconds(10);
  gw::Status over_tls = gw::ProbeMail({"127.0.0.1", encrypted.port()}, "postmaster@acme.example",
                                      timeout, nullptr, true);
  EXPECT_TRUE(over_tls.ok()) << over_tls.message();
  EXPECT_THAT(encrypted.output(),
              ::testing::ContainsRegex("sink rcpt <postmaster@acme.example> over TLSv1\\.[23]"));
  EXPECT_TRUE(gw::ProbeMail({"127.0.0.1", plain.port()}, "postmaster@acme.example", timeout).ok());
  gw::Status required =
      gw::ProbeMail({"127.0.0.1", plain.port()}, "postmaster@acme.example", timeout, nullptr, true);
  EXPECT_EQ(required.code(), gw::StatusCode::kUnavailable);
  EXPECT_THAT(required.message(), HasSubstr("does not offer STARTTLS"));
  std::filesystem::remove_all(dir);
}

// With a certificate, senders can encrypt what they send the gateway, and a customer
// can require its relays to.
TEST(MailTlsTest, WithACertificateSendersGetStartTls) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
    GTEST_SKIP() << "mail data plane test skipped: " << missing;
  }
  Sink internet;
  ASSERT_TRUE(internet.ready()) << internet.output();
  gwtest::MailGatewayOptions options;
  options.postfix_tls = true;
  MailGateway gateway(internet.port(), options);
  ASSERT_EQ(gateway.problem(), "");
  auto client = gateway.gatewayd().Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-access"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", json::array({Destination(destination.port(), 10)})},
                {"outboundRelay", {{"sources", {"127.0.0.5"}}, {"requireTls", true}}}};
  ASSERT_TRUE(
      client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly()).ok());
  gw::User alice;
  alice.address = "alice@acme.example";
  ASSERT_TRUE(client->BatchUsers("northwind", "acme", {{alice}, {}}).ok());
  ASSERT_TRUE(gateway.WaitForLookup("recipients alice@acme.example", "OK"));
  auto dir = gwtest::MakeTempDir("tls-send");
  std::ofstream(dir / "m.eml") << "From: bob@ext.example\r\nSubject: over TLS\r\n\r\nHi.\r\n";
  auto sent =
      gateway.SendFile("bob@ext.example", "alice@acme.example", dir / "m.eml", 0, "", "--starttls");
  EXPECT_TRUE(sent.accepted()) << sent.transcript;
  EXPECT_THAT(sent.transcript, ::testing::ContainsRegex("over TLSv1\\.[23]"));
  ASSERT_EQ(destination.WaitForMessages(1), 1u) << gateway.MailLog();
  EXPECT_THAT(destination.Messages()[0], ::testing::ContainsRegex("using TLSv1\\.[23]"))
      << "the Received header says the hop was encrypted";

  // acme's server must relay over STARTTLS (outboundRelay.requireTls).
  std::ofstream(dir / "out.eml") << "From: alice@acme.example\r\nSubject: out\r\n\r\nHi.\r\n";
  auto clear = gateway.SendFile("alice@acme.example", "carol@ext.example", dir / "out.eml",
                                gateway.relay_port(), "127.0.0.5");
  EXPECT_EQ(clear.code, 530) << clear.transcript;
  EXPECT_THAT(clear.reply, HasSubstr("Must issue a STARTTLS command first"));
  auto encrypted = gateway.SendFile("alice@acme.example", "carol@ext.example", dir / "out.eml",
                                    gateway.relay_port(), "127.0.0.5", "--starttls");
  EXPECT_TRUE(encrypted.accepted()) << encrypted.transcript;
  ASSERT_EQ(internet.WaitForMessages(1), 1u) << gateway.MailLog();
  EXPECT_THAT(internet.Messages()[0], HasSubstr("X-Sink-To: carol@ext.example"));
  EXPECT_TRUE(gateway.Send("bob@ext.example", "alice@acme.example").accepted()) << "in clear";

  // The TLS report: recipients accepted per customer, by direction and client TLS (the
  // refused cleartext relay is not among them).
  auto metrics = httplib::Client(gateway.gatewayd().url()).Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string series = "gatewayd_mail_recipients_total{customer=\"northwind/acme\",";
  EXPECT_THAT(metrics->body, HasSubstr(series + "direction=\"inbound\",tls=\"yes\"} 1\n"));
  EXPECT_THAT(metrics->body, HasSubstr(series + "direction=\"inbound\",tls=\"no\"} 1\n"));
  EXPECT_THAT(metrics->body, HasSubstr(series + "direction=\"relayed\",tls=\"yes\"} 1\n"));
  EXPECT_THAT(metrics->body, Not(HasSubstr(series + "direction=\"relayed\",tls=\"no\"}")));
  std::filesystem::remove_all(dir);
}

TEST_F(MailTest, DestinationsAreTriedInPreferenceOrderPastRefusingBusyAndSilentServers) {
  int closed = gwtest::PickFreePort();
  gwtest::SinkOptions greeting_421;
  greeting_421.greeting_421 = true;
  Sink busy(0, greeting_421);
  gwtest::SilentListener silent;
  Sink good;
  ASSERT_TRUE(busy.ready() && good.ready());
  // Written out of order: the preference decides.
  PutAcme(json::array({Destination(good.port(), 40), Destination(busy.port(), 20),
                       Destination(closed, 10), Destination(silent.port(), 30)}));

  auto started = Clock::now();
  ASSERT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.example").accepted());
  ASSERT_EQ(good.WaitForMessages(1, std::chrono::seconds(30)), 1u) << gateway_->MailLog();
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::string log = gateway_->MailLog();
  size_t refused = log.find(fmt::format(":{}: Connection refused", closed));
  size_t turned_away = log.find("refused to talk to me: 421");
  size_t timed_out = log.find(fmt::format(":{}: Connection timed out", silent.port()));
  if (timed_out == std::string::npos)
    timed_out = log.find("timed out while receiving the initial server greeting");
  ASSERT_NE(refused, std::string::npos) << log;
  ASSERT_NE(turned_away, std::string::npos) << log;
  ASSERT_NE(timed_out, std::string::npos) << log;
  EXPECT_LT(refused, turned_away);
  EXPECT_LT(turned_away, timed_out);
  RecordProperty("failover_seconds", fmt::format("{:.1f}", seconds));
}

TEST_F(MailTest, WhenEveryDestinationIsDownMailWaitsInTheQueueUntilOneReturns) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}));
  destination.Stop();

  ASSERT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.example").accepted());
  EXPECT_TRUE(gateway_->WaitForMailLog("status=deferred")) << gateway_->MailLog();
  EXPECT_THAT(gateway_->Queue(), HasSubstr("alice@acme.example")) << gateway_->MailLog();

  auto back = Clock::now();
  destination.Start();
  ASSERT_TRUE(destination.ready()) << destination.output();
  // Postfix retries on its own (--fast-retry: every 10-20 s); no flush.
  ASSERT_EQ(destination.WaitForMessages(1, std::chrono::seconds(45)), 1u) << gateway_->MailLog();
  RecordProperty("retry_seconds",
                 fmt::format("{:.1f}", std::chrono::duration<double>(Clock::now() - back).count()));
  EXPECT_THAT(gateway_->MailLog(), Not(HasSubstr("status=bounced")));
}

// gatewayd watches its Postfix instance's queue: a customer's server that stops taking
// mail grows its destination's queue past the threshold, and a signed webhook says so
// once; when the server is back and the queue drains, once more that it recovered.
TEST(MailAlertTest, ADestinationsGrowingQueueIsAlertedOnceAndItsRecoveryOnce) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
    GTEST_SKIP() << "mail data plane test skipped: " << missing;
  }
  gwtest::WebhookReceiver receiver;
  auto dir = gwtest::MakeTempDir("alerts");
  std::ofstream(dir / "webhooks") << "generic=" << receiver.Url("/alerts") << "\n";
  std::ofstream(dir / "secret") << "alert-secret\n";
  Sink internet;
  ASSERT_TRUE(internet.ready()) << internet.output();
  gwtest::MailGatewayOptions options;
  options.watch_queue = true;
  options.gatewayd_args = {
      "--notify-file",           (dir / "webhooks").string(),     "--notify-secret-file",
      (dir / "secret").string(), "--alert-queue-per-destination", "2"};
  MailGateway gateway(internet.port(), options);
  ASSERT_EQ(gateway.problem(), "");
  auto client = gateway.gatewayd().Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  Sink server;
  ASSERT_TRUE(server.ready()) << server.output();
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-access"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", json::array({Destination(server.port(), 10)})}};
  ASSERT_TRUE(
      client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly()).ok());
  gw::User alice, bob;
  alice.address = "alice@acme.example";
  bob.address = "bob@acme.example";
  ASSERT_TRUE(client->BatchUsers("northwind", "acme", {{alice, bob}, {}}).ok());
  ASSERT_TRUE(gateway.WaitForLookup("recipients bob@acme.example", "OK"));
  server.Stop();

  ASSERT_TRUE(gateway.Send("x@ext.example", "alice@acme.example").accepted());
  ASSERT_TRUE(gateway.Send("x@ext.example", "bob@acme.example").accepted());
  auto notices_for = [&](const std::string& key) {
    std::vector<json> found;
    for (const auto& request : receiver.Take()) {
      json notice = json::parse(request.body);
      EXPECT_EQ(
          request.signature,
          gw::SignNotice("alert-secret", request.body,
                         std::stoll(request.signature.substr(2, request.signature.find(',') - 2))));
      if (notice["key"] == key) found.push_back(notice);
    }
    return found;
  };
  std::vector<json> seen;
  for (int i = 0; i < 300 && seen.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = notices_for("queue/acme.example");
  }
  ASSERT_EQ(seen.size(), 1u) << gateway.gatewayd().process().output();
  EXPECT_EQ(seen[0]["state"], "firing");
  EXPECT_THAT(seen[0]["detail"].get<std::string>(),
              HasSubstr("2 recipient(s) at acme.example waiting"));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_TRUE(notices_for("queue/acme.example").empty()) << "told once";

  server.Start();
  ASSERT_TRUE(server.ready()) << server.output();
  gateway.FlushQueue();
  ASSERT_EQ(server.WaitForMessages(2, std::chrono::seconds(45)), 2u) << gateway.MailLog();
  seen.clear();
  for (int i = 0; i < 300 && seen.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = notices_for("queue/acme.example");
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["state"], "resolved");
  // /readyz: the store answers; a destination's queue warns but leaves the host ready.
  httplib::Client admin(gateway.gatewayd().url());
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_EQ(json::parse(ready->body)["checks"]["store"]["ok"], true);
  std::filesystem::remove_all(dir);
}

TEST_F(MailTest, TheCustomersSizeLimitRefusesAtSizeWhenAnnouncedAndAtEndOfDataOtherwise) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}),
          {{"filtering", {{"contentFilter", {{"maxMessageSize", "4KiB"}}}}}});

  std::string big = gateway_->postfix_dir().string() + "/big.txt";
  std::ofstream(big) << std::string(8000, 'x');
  auto at_end = gateway_->Send("bob@ext.example", "alice@acme.example", "--attach-body @" + big);
  EXPECT_EQ(at_end.code, 552) << at_end.transcript;
  EXPECT_THAT(at_end.reply, HasSubstr("End-of-data rejected"));
  EXPECT_THAT(at_end.reply, HasSubstr("exceeds the limit of acme.example (4096 bytes)"));

  // swaks cannot announce SIZE=; Python's smtplib is the client for that.
  auto announced = gwtest::RunCommand(fmt::format(
      "/usr/bin/python3 -c \"import smtplib; s = smtplib.SMTP('127.0.0.1', {}); s.ehlo('c.test'); "
      "s.mail('bob@ext.example', ['SIZE=50000']); print(s.rcpt('alice@acme.example'))\"",
      gateway_->smtp_port()));
  EXPECT_THAT(announced.output, HasSubstr("552"));
  EXPECT_THAT(announced.output, HasSubstr("Recipient address rejected: message size 50000"));

  EXPECT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.example").accepted());
  EXPECT_EQ(destination.WaitForMessages(1), 1u);
}

TEST_F(MailTest, AllowBlockAndRecipientListsDecideAtRcpt) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}),
          {{"lists",
            {{"allow", {{{"sender", "friend@spam.example"}}}},
             {"block", {{{"senderDomain", "spam.example"}}}},
             {"recipientAllow", {"postmaster"}},
             {"recipientBlock", {"former"}}}}});
  gw::User postmaster, former;
  postmaster.address = "postmaster@acme.example";
  former.address = "former@acme.example";
  ASSERT_TRUE(Client()->BatchUsers("northwind", "acme", {{postmaster, former}, {}}).ok());
  ASSERT_TRUE(gateway_->WaitForLookup("recipients former@acme.example", "OK"));

  auto blocked = gateway_->Send("x@spam.example", "alice@acme.example");
  EXPECT_EQ(blocked.code, 550) << blocked.transcript;
  EXPECT_THAT(blocked.reply, HasSubstr("sender is blocked by acme.example"));
  auto subdomain = gateway_->Send("x@mx.spam.example", "alice@acme.example");
  EXPECT_EQ(subdomain.code, 550) << "a domain entry covers its subdomains";
  EXPECT_TRUE(gateway_->Send("friend@spam.example", "alice@acme.example").accepted())
      << "the allow list beats the block list";
  EXPECT_TRUE(gateway_->Send("x@spam.example", "postmaster@acme.example").accepted())
      << "recipientAllow takes mail from anyone";
  auto former_employee = gateway_->Send("bob@ext.example", "former@acme.example");
  EXPECT_EQ(former_employee.code, 550) << former_employee.transcript;
  EXPECT_THAT(former_employee.reply, HasSubstr("recipient blocked"));
  EXPECT_EQ(destination.WaitForMessages(2), 2u);
}

TEST_F(MailTest, OutboundRelayIsForTheCustomersServersAndDomainsOnly) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}),
          {{"outboundRelay", {{"sources", {"127.0.0.5"}}}},
           {"lists", {{"outboundBlock", {{{"recipientDomain", "competitor.example"}}}}}}});
  int relay = gateway_->relay_port();
  std::string from_relay_ip = "--local-interface 127.0.0.5";

  EXPECT_TRUE(gateway_->Send("bob@acme.example", "someone@external.example", from_relay_ip, relay)
                  .accepted());
  EXPECT_TRUE(
      gateway_->Send("bob@acme.co.uk", "someone@external.example", from_relay_ip, relay).accepted())
      << "any of the customer's domains";
  auto other_client = gateway_->Send("bob@acme.example", "someone@external.example", "", relay);
  EXPECT_EQ(other_client.code, 554) << other_client.transcript;
  EXPECT_THAT(other_client.reply, HasSubstr("relay not permitted for acme.example from 127.0.0.1"));
  auto other_sender =
      gateway_->Send("x@other.example", "someone@external.example", from_relay_ip, relay);
  EXPECT_EQ(other_sender.code, 554) << other_sender.transcript;
  auto blocked = gateway_->Send("bob@acme.example", "ceo@competitor.example", from_relay_ip, relay);
  EXPECT_EQ(blocked.code, 550) << blocked.transcript;
  auto inbound_port = gateway_->Send("bob@acme.example", "someone@external.example", from_relay_ip);
  EXPECT_EQ(inbound_port.code, 554) << "the inbound listener relays for no one";

  ASSERT_EQ(internet_->WaitForMessages(2), 2u) << gateway_->MailLog();
  EXPECT_THAT(internet_->Messages()[0], HasSubstr("X-Sink-To: someone@external.example"));
}

TEST_F(MailTest, AnAppliedChangeIsInForceForTheNextMessageAndADeletedCustomersMailIsRefused) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  // gwctl apply, through the admin API, of a repository that then adds a user.
  std::filesystem::path repo = gwtest::MakeTempDir("mail-repo");
  std::filesystem::create_directories(repo / "customers");
  std::ofstream(repo / "gwctl.yaml") << "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: "
                                        "northwind}\nspec: {}\n";
  auto write_acme = [&](const std::string& mailboxes) {
    std::ofstream(repo / "customers" / "acme.yaml") << fmt::format(
        R"(apiVersion: gwctl/v1
kind: Customer
metadata: {{name: acme}}
spec:
  product: ultimate-access
  billableUsers: 5
  domains: {{primary: acme.example}}
  destinations: [{{host: 127.0.0.1, port: {}}}]
  users:
    mailboxes: [{}]
)",
        destination.port(), mailboxes);
  };
  auto apply = [&] {
    return gwtest::RunCommand(fmt::format("GWCTL_TOKEN={} {} apply --yes --gateway {} {}",
                                          Gatewayd::kOperatorToken, GWCTL_BINARY,
                                          gateway_->gatewayd().url(), repo.string()));
  };
  write_acme("{address: alice@acme.example}");
  auto first = apply();
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_TRUE(gateway_->WaitForLookup("recipients alice@acme.example", "OK"));
  ASSERT_TRUE(gateway_->Send("bob@ext.example", "alice@acme.example").accepted());
  ASSERT_EQ(gateway_->Send("bob@ext.example", "newhire@acme.example").code, 550);

  write_acme("{address: alice@acme.example}, {address: newhire@acme.example}");
  auto second = apply();
  ASSERT_EQ(second.exit_code, 0) << second.output;
  auto applied_at = Clock::now();
  gwtest::SmtpOutcome outcome;
  while ((outcome = gateway_->Send("bob@ext.example", "newhire@acme.example")).code == 550 &&
         Clock::now() - applied_at < std::chrono::seconds(5)) {
  }
  EXPECT_TRUE(outcome.accepted()) << outcome.transcript;
  RecordProperty("apply_to_mail_ms",
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                                      applied_at)
                                    .count()));

  auto acme = Client()->GetCustomer("northwind", "acme");
  ASSERT_TRUE(acme.ok());
  ASSERT_TRUE(Client()->DeleteCustomer("northwind", "acme", acme->version).ok());
  ASSERT_TRUE(gateway_->WaitForLookup("domains acme.example", "NOTFOUND"));
  auto refused = gateway_->Send("bob@ext.example", "alice@acme.example");
  EXPECT_GE(refused.code, 550) << refused.transcript;
  auto refused_new = gateway_->Send("carol@ext.example", "newhire@acme.example");
  EXPECT_GE(refused_new.code, 550) << refused_new.transcript;
  EXPECT_EQ(destination.WaitForMessages(2), 2u);
  std::filesystem::remove_all(repo);
}

TEST_F(MailTest, WhileGatewaydIsDownMailIsDeferredNeverBouncedAndItRecovers) {
  Sink destination;
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}));
  gateway_->KillGatewayd();

  auto down = gateway_->Send("bob@ext.example", "alice@acme.example");
  EXPECT_GE(down.code, 400) << down.transcript;
  EXPECT_LT(down.code, 500) << down.transcript;
  auto unknown = gateway_->Send("bob@ext.example", "x@unknown.example");
  EXPECT_GE(unknown.code, 400) << "not even an unknown domain is refused for good";
  EXPECT_LT(unknown.code, 500) << unknown.transcript;

  gateway_->StartGatewayd();
  ASSERT_TRUE(gateway_->gatewayd().started()) << gateway_->gatewayd().process().output();
  // Each smtpd process keeps a lookup failure for its life, which ends after 10 sessions
  // or 30 s idle (postfix-config's max_use and max_idle); there may be several of them.
  auto back = Clock::now();
  gwtest::SmtpOutcome outcome;
  int attempts = 0;
  while (!(outcome = gateway_->Send("bob@ext.example", "alice@acme.example")).accepted() &&
         Clock::now() - back < std::chrono::seconds(60)) {
    ++attempts;
  }
  EXPECT_TRUE(outcome.accepted()) << outcome.transcript << gateway_->MailLog();
  RecordProperty("recovery_attempts", attempts + 1);
  RecordProperty(
      "recovery_ms",
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - back).count()));
  EXPECT_EQ(destination.WaitForMessages(1), 1u);
  EXPECT_THAT(gateway_->MailLog(), Not(HasSubstr("status=bounced")));
}

TEST_F(MailTest, AddressDiscoveryKeepsWhatTheDestinationAcceptsAndRefusesWhatItDoesNot) {
  gwtest::SinkOptions knows;
  knows.known = "newguy@acme.example,alice@acme.example";
  Sink destination(0, knows);
  ASSERT_TRUE(destination.ready()) << destination.output();
  PutAcme(json::array({Destination(destination.port(), 10)}),
          {{"users", {{"addressDiscovery", true}}}});

  auto accepted = gateway_->Send("bob@ext.example", "newguy@acme.example");
  EXPECT_TRUE(accepted.accepted()) << accepted.transcript << gateway_->MailLog();
  auto refused = gateway_->Send("bob@ext.example", "ghost@acme.example");
  EXPECT_EQ(refused.code, 550) << refused.transcript;
  EXPECT_THAT(refused.reply, HasSubstr("user unknown at destination"));

  gw::UserPage page;
  for (int i = 0; i < 50; ++i) {
    auto listed = Client()->ListUsers("northwind", "acme", "", 100);
    ASSERT_TRUE(listed.ok());
    page = *listed;
    if (page.users.size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(page.users.size(), 2u);
  EXPECT_EQ(page.users[1].address, "newguy@acme.example");
  EXPECT_EQ(page.users[1].source, "discovered");
  EXPECT_EQ(destination.WaitForMessages(1), 1u);
}

}  // namespace
