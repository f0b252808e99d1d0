// A gateway host from its one configuration file, as a mail admin brings it up: gatewayd.yaml,
// `gatewayd setup`, then gatewayd and gw-milter reading the same file and the Postfix
// instance setup wrote (what the units start), and mail through it to a customer's
// server. Needs root (Postfix) and rspamd; skipped, saying why, otherwise.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/client.h"
#include "mail_fixture.h"
#include "process.h"
#include "rspamd_fixture.h"

namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(InstallMailTest, AHostFromOneConfigFileCarriesMail) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) {
    GTEST_SKIP() << "mail data plane test skipped: " << missing;
  }
  gwtest::Rspamd rspamd;
  ASSERT_TRUE(rspamd.ready()) << rspamd.Log();
  gwtest::Sink server, internet;
  ASSERT_TRUE(server.ready() && internet.ready());
  fs::path dir = gwtest::MakeTempDir("install");
  ::chmod(dir.c_str(), 0755);
  fs::create_directories(dir / "etc");
  auto port = [] { return fmt::format("127.0.0.1:{}", gwtest::PickFreePort()); };
  std::string admin = port(), inbound = port();
  fs::path config = dir / "etc" / "gatewayd.yaml";
  std::ofstream(config) << fmt::format(
      "hostname: gw.install.example\n"
      "dataDirectory: {0}/data\n"
      "instanceDirectory: {0}/mail\n"
      "admin: {{listen: {1}, tokens: {0}/etc/tokens.yaml}}\n"
      "mail:\n"
      "  inbound: {2}\n"
      "  smarthost: 127.0.0.1:{3}\n"
      "  internal: {{socketmap: {4}, policy: {5}, verify: {6}, release: {7}, milter: {8}}}\n"
      "filtering: {{rspamd: 127.0.0.1:{9}, clamd: off, tokenFile: {0}/etc/filter-token}}\n",
      dir.string(), admin, inbound, internet.port(), port(), port(), port(), port(), port(),
      rspamd.port());

  // The one command: the instance, the filter's token, the operator's.
  auto setup =
      gwtest::RunCommand(fmt::format("{} setup --config {}", GATEWAYD_BINARY, config.string()));
  ASSERT_EQ(setup.exit_code, 0) << setup.output;
  fs::path postfix_etc = dir / "mail/postfix/etc";

  // What the units run. The customers' server is on loopback, which gatewayd refuses as a
  // destination unless told (a flag over the file).
  gwtest::ChildProcess gatewayd(
      {GATEWAYD_BINARY, "--config", config.string(), "--allow-destination-network", "127.0.0.0/8"});
  ASSERT_TRUE(gatewayd.WaitForLine("listening on ").has_value()) << gatewayd.output();
  gwtest::ChildProcess milter({GW_MILTER_BINARY, "--config", config.string()});
  ASSERT_TRUE(milter.WaitForLine("serving on", std::chrono::seconds(10)).has_value())
      << milter.output();
  auto started = gwtest::RunCommand("/usr/sbin/postfix -c " + postfix_etc.string() + " start");
  ASSERT_EQ(started.exit_code, 0) << started.output;
  struct StopPostfix {
    fs::path etc;
    ~StopPostfix() { gwtest::RunCommand("/usr/sbin/postfix -c " + etc.string() + " stop"); }
  } stop_postfix{postfix_etc};

  // The partner's first customer, with the operator token setup made.
  std::string operator_token = gwtest::ReadWholeFile(dir / "etc/operator-token");
  operator_token.pop_back();
  gw::ClientOptions options;
  options.token = operator_token;
  auto client = std::move(gw::ConnectGateway("http://" + admin, options)).value();
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-access"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", {{{"host", "127.0.0.1"}, {"port", server.port()}}}}};
  auto put = client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(put.ok()) << put.status().message();
  gw::User alice;
  alice.address = "alice@acme.example";
  ASSERT_TRUE(client->BatchUsers("northwind", "acme", {{alice}, {}}).ok());

  int smtp_port = std::stoi(inbound.substr(inbound.rfind(':') + 1));
  std::string sent;
  for (int attempt = 0; attempt < 50; ++attempt) {  // the lookups see the new customer
    sent = gwtest::RunCommand(
               fmt::format("/usr/bin/swaks --server 127.0.0.1:{} --from bob@ext.example --to "
                           "alice@acme.example --body 'hello from the installed gateway'",
                           smtp_port))
               .output;
    if (sent.find("queued as") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_THAT(sent, HasSubstr("queued as"));
  ASSERT_EQ(server.WaitForMessages(1, std::chrono::seconds(30)), 1u)
      << gwtest::ReadWholeFile(dir / "mail/postfix/maillog") << milter.output();
  EXPECT_THAT(server.Messages()[0], HasSubstr("hello from the installed gateway"));
  // It passed gw-milter (which logs each message by Postfix's queue id) and so rspamd.
  std::string queue_id = sent.substr(sent.find("queued as ") + 10);
  queue_id = queue_id.substr(0, queue_id.find_first_of(" \r\n"));
  EXPECT_THAT(milter.output(), HasSubstr(queue_id + " "));
  fs::remove_all(dir);
}

}  // namespace
