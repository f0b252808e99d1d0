// DANE and MTA-STS over real Postfix, on DNS the test owns: a zone signed in the test,
// served by nsd and validated by unbound, which Postfix (and the MTA-STS resolver) see as
// their /etc/resolv.conf's in a mount namespace of their own.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dnssec_fixture.h"
#include "mail_fixture.h"
#include "test_ca.h"

namespace {

using gwtest::Gatewayd;
using gwtest::MailGateway;
using gwtest::Sink;
using nlohmann::json;
using ::testing::HasSubstr;

// "3 1 1 <hex>": DANE-EE, the certificate's public key, SHA-256.
std::string TlsaOf(const std::string& cert) {
  auto digest = gwtest::RunCommand(fmt::format(
      "openssl x509 -in {} -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum", cert));
  return "3 1 1 " + digest.output.substr(0, 64);
}

// TLSA records for two customers' servers: the instance `postfix-config` writes
// (smtp_tls_security_level = dane) delivers to the server whose certificate the record
// names, and keeps the mail for the one whose certificate it does not, with no TLS
// setting in either manifest.
TEST(DaneMailTest, TlsaRecordsDecideWhichServerGetsTheMail) {
  for (const std::string& missing : {gwtest::MailPlaneMissing(), gwtest::DnssecMissing()}) {
    if (!missing.empty()) GTEST_SKIP() << "DANE test skipped: " << missing;
  }
  auto dir = gwtest::MakeTempDir("dane");
  gwtest::TestCa ca(dir);
  // Self-signed, as DANE-EE allows: the record, not a CA, vouches for the key.
  auto named = ca.SelfSigned("named", "mx.dane.example");
  auto other = ca.SelfSigned("other", "bad.dane.example");
  auto sink_with = [](const gwtest::TestCa::Issued& issued) {
    return std::make_unique<Sink>(0, gwtest::SinkOptions::StartTls(issued.cert, issued.key));
  };
  auto good = sink_with(named), bad = sink_with(other);
  ASSERT_TRUE(good->ready()) << good->output();
  ASSERT_TRUE(bad->ready()) << bad->output();

  gwtest::ZoneKey key(dir, "dane.example");
  // bad's record names good's key: the server at bad presents another.
  gwtest::Nsd nsd({{"dane.example", fmt::format("mx IN A 127.0.0.1\n_{0}._tcp.mx IN TLSA {1}\n"
                                                "bad IN A 127.0.0.1\n_{2}._tcp.bad IN TLSA {1}\n",
                                                good->port(), TlsaOf(named.cert), bad->port())}},
                  [&](const std::string&, const std::filesystem::path& file) { key.Sign(file); });
  ASSERT_TRUE(nsd.started()) << nsd.log();
  gwtest::ValidatingResolver resolver("dane.example", nsd.endpoint(), key.ds());
  ASSERT_TRUE(resolver.ready()) << resolver.log();

  Sink internet;
  ASSERT_TRUE(internet.ready()) << internet.output();
  gwtest::MailGatewayOptions options;
  options.resolv_conf = resolver.resolv_conf().string();
  MailGateway gateway(internet.port(), options);
  ASSERT_EQ(gateway.problem(), "");
  auto client = gateway.gatewayd().Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  auto put = [&](const std::string& name, const std::string& host, int port) {
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-access"},
                  {"billableUsers", 5},
                  {"domains", {{"primary", name + ".example"}}},
                  {"destinations", json::array({{{"host", host}, {"port", port}}})}};
    auto made = client->PutCustomer("northwind", name, write, gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(made.ok()) << made.status().message();
    gw::User user;
    user.address = "user@" + name + ".example";
    ASSERT_TRUE(client->BatchUsers("northwind", name, {{user}, {}}).ok());
    ASSERT_TRUE(gateway.WaitForLookup("recipients " + user.address, "OK"));
  };
  put("acme", "mx.dane.example", good->port());
  put("globex", "bad.dane.example", bad->port());

  EXPECT_TRUE(gateway.Send("bob@ext.example", "user@acme.example").accepted());
  EXPECT_TRUE(gateway.Send("bob@ext.example", "user@globex.example").accepted());
  ASSERT_EQ(good->WaitForMessages(1), 1u) << gateway.MailLog() << resolver.log();
  EXPECT_THAT(good->Messages()[0], ::testing::ContainsRegex("X-Sink-TLS: TLSv1\\.[23]"));
  EXPECT_THAT(gateway.MailLog(), HasSubstr("Verified TLS connection established to "
                                           "mx.dane.example"));
  EXPECT_TRUE(gateway.WaitForMailLog("Server certificate not verified")) << gateway.MailLog();
  EXPECT_EQ(bad->Messages().size(), 0u);
  EXPECT_THAT(gateway.Queue(), HasSubstr("user@globex.example"));
  std::filesystem::remove_all(dir);
}

// Two internet domains publish MTA-STS policies (mode enforce) naming their MX hosts;
// one domain's MX record points elsewhere (a hijacked MX). Debian's mta-sts-daemon
// fetches the policies over HTTPS and answers Postfix after gatewayd's tls-policy map:
// relayed mail reaches the listed MX over verified TLS, and never the other.
TEST(MtaStsMailTest, APublishedPolicyKeepsMailFromAnMxItDoesNotName) {
  for (const std::string& missing : {gwtest::MailPlaneMissing(), gwtest::DnssecMissing()}) {
    if (!missing.empty()) GTEST_SKIP() << "MTA-STS test skipped: " << missing;
  }
  if (access("/usr/bin/mta-sts-daemon", X_OK) != 0) {
    GTEST_SKIP() << "MTA-STS test skipped: needs postfix-mta-sts-resolver (ci/setup --tests)";
  }
  auto dir = gwtest::MakeTempDir("mta-sts");
  gwtest::TestCa ca(dir);
  std::mt19937 random(std::random_device{}());
  const std::string net = fmt::format("127.54.{}", random() % 250 + 1);
  const std::string listed = net + ".1", rogue = net + ".2", web = net + ".3";
  auto sink_at = [&](const std::string& host, const gwtest::TestCa::Issued& issued) {
    auto options = gwtest::SinkOptions::StartTls(issued.cert, issued.key);
    options.host = host;
    return std::make_unique<Sink>(25, options);
  };
  auto good = sink_at(listed, ca.Issue("mx", {"mx.sts.example"}));
  auto hijacked = sink_at(rogue, ca.Issue("rogue", {"rogue.other.sts.example"}));
  ASSERT_TRUE(good->ready()) << good->output();
  ASSERT_TRUE(hijacked->ready()) << hijacked->output();

  // The policies, over HTTPS with a certificate of the test CA (which the resolver and
  // Postfix trust).
  auto policy = [&](const std::string& host, const std::string& mx) {
    std::filesystem::create_directories(dir / "web" / host / ".well-known");
    std::ofstream(dir / "web" / host / ".well-known" / "mta-sts.txt")
        << fmt::format("version: STSv1\nmode: enforce\nmx: {}\nmax_age: 86400\n", mx);
  };
  policy("mta-sts.sts.example", "mx.sts.example");
  policy("mta-sts.other.sts.example", "mx.other.sts.example");
  auto web_cert = ca.Issue("web", {"mta-sts.sts.example", "mta-sts.other.sts.example"});
  gwtest::ChildProcess https({"/usr/bin/python3", GWCTL_SOURCE_DIR "/tests/mail/https_server.py",
                              "--host", web, "--cert", web_cert.cert, "--key", web_cert.key,
                              "--dir", (dir / "web").string()});
  ASSERT_TRUE(https.WaitForLine("https ready", std::chrono::seconds(10))) << https.output();

  gwtest::ZoneKey key(dir, "sts.example");
  gwtest::Nsd nsd(
      {{"sts.example",
        fmt::format("@ IN MX 10 mx\nmx IN A {0}\n_mta-sts IN TXT \"v=STSv1; id=1\"\n"
                    "mta-sts IN A {2}\nother IN MX 10 rogue.other\nrogue.other IN A {1}\n"
                    "_mta-sts.other IN TXT \"v=STSv1; id=1\"\nmta-sts.other IN A {2}\n",
                    listed, rogue, web)}},
      [&](const std::string&, const std::filesystem::path& file) { key.Sign(file); });
  ASSERT_TRUE(nsd.started()) << nsd.log();
  gwtest::ValidatingResolver resolver("sts.example", nsd.endpoint(), key.ds());
  ASSERT_TRUE(resolver.ready()) << resolver.log();

  int sts_port = gwtest::PickFreePort();
  std::ofstream(dir / "mta-sts.yml") << fmt::format(
      "host: 127.0.0.1\nport: {}\ncache:\n  type: internal\n  options:\n    cache_size: 100\n"
      "default_zone:\n  strict_testing: false\n  timeout: 4\n",
      sts_port);
  gwtest::ChildProcess sts_daemon(
      {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
       fmt::format("mount --bind {} /etc/resolv.conf && SSL_CERT_FILE={} exec "
                   "/usr/bin/mta-sts-daemon -c {} -v debug",
                   resolver.resolv_conf().string(), ca.ca_file(), (dir / "mta-sts.yml").string())});
  for (int i = 0; i < 200 && !gwtest::CanConnect(sts_port); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(gwtest::CanConnect(sts_port)) << sts_daemon.output();

  gwtest::MailGatewayOptions options;
  options.resolv_conf = resolver.resolv_conf().string();
  options.mta_sts_port = sts_port;
  options.postfix_ca_file = ca.ca_file();
  MailGateway gateway(0, options);  // no smarthost: the recipient domains' MX hosts
  ASSERT_EQ(gateway.problem(), "");
  auto client = gateway.gatewayd().Client(Gatewayd::kOperatorToken);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-access"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", json::array({{{"host", "127.0.0.1"}, {"port", 2525}}})},
                {"outboundRelay", {{"sources", {"127.0.0.5"}}}}};
  ASSERT_TRUE(
      client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly()).ok());
  ASSERT_TRUE(gateway.WaitForLookup("domains acme.example", "OK"));

  const std::string from_relay = "--local-interface 127.0.0.5";
  EXPECT_TRUE(
      gateway.Send("alice@acme.example", "carol@sts.example", from_relay, gateway.relay_port())
          .accepted());
  EXPECT_TRUE(
      gateway.Send("alice@acme.example", "dave@other.sts.example", from_relay, gateway.relay_port())
          .accepted());
  ASSERT_EQ(good->WaitForMessages(1), 1u) << gateway.MailLog() << sts_daemon.output();
  EXPECT_THAT(good->Messages()[0], ::testing::ContainsRegex("X-Sink-TLS: TLSv1\\.[23]"));
  EXPECT_THAT(gateway.MailLog(), HasSubstr("Verified TLS connection established to "
                                           "mx.sts.example"));
  EXPECT_TRUE(gateway.WaitForMailLog("Server certificate not verified"))
      << gateway.MailLog() << sts_daemon.output();
  EXPECT_EQ(hijacked->Messages().size(), 0u);
  EXPECT_THAT(gateway.Queue(), HasSubstr("dave@other.sts.example"));
  std::filesystem::remove_all(dir);
}

}  // namespace
