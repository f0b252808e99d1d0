// DANE over real Postfix: a zone signed in the test, served by nsd and validated by
// unbound, publishes TLSA records for two customers' servers. The instance
// `postfix-config` writes (smtp_tls_security_level = dane) delivers to the server whose
// certificate the record names, and keeps the mail for the one whose certificate it does
// not, with no TLS setting in either manifest.
#include <chrono>
#include <memory>
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
    gwtest::SinkOptions options;
    options.tls_cert = issued.cert;
    options.tls_key = issued.key;
    return std::make_unique<Sink>(0, options);
  };
  auto good = sink_with(named), bad = sink_with(other);
  ASSERT_TRUE(good->ready()) << good->output();
  ASSERT_TRUE(bad->ready()) << bad->output();

  gwtest::ZoneKey key(dir, "dane.example");
  // bad's record names good's key: the server at bad presents another.
  gwtest::Nsd nsd({{"dane.example",
                    fmt::format("mx IN A 127.0.0.1\n_{0}._tcp.mx IN TLSA {1}\n"
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
  for (int i = 0; i < 100 && gateway.MailLog().find("Server certificate not verified") ==
                                 std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(gateway.MailLog(), HasSubstr("Server certificate not verified"));
  EXPECT_EQ(bad->Messages().size(), 0u);
  EXPECT_THAT(gateway.Queue(), HasSubstr("user@globex.example"));
  std::filesystem::remove_all(dir);
}

}  // namespace
