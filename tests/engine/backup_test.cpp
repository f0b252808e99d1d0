// gatewayd backup and restore: a host's state taken while gatewayd serves, the host wiped,
// the state put back from the one file, and the same customers and users served again.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/client.h"
#include "process.h"

namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class Host {
 public:
  explicit Host(const fs::path& dir) : dir_(dir) {}
  // gatewayd from the host's configuration; its admin API URL, "" if it did not start.
  std::string Start() {
    process_ = std::make_unique<gwtest::ChildProcess>(std::vector<std::string>{
        GATEWAYD_BINARY, "--config", (dir_ / "etc/gatewayd.yaml").string(), "--listen",
        "127.0.0.1:0", "--socketmap", "127.0.0.1:0", "--policy", "127.0.0.1:0", "--verify",
        "127.0.0.1:0", "--doveadm", "127.0.0.1:1", "--continuity-smtp", "127.0.0.1:1"});
    auto line = process_->WaitForLine("listening on ");
    return line ? line->substr(line->find("http")) : "";
  }
  void Stop() { process_.reset(); }
  std::unique_ptr<gw::GatewayClient> Client(const std::string& url) const {
    gw::ClientOptions options;
    options.token = gwtest::ReadWholeFile(dir_ / "etc/operator-token");
    options.token.pop_back();
    return std::move(gw::ConnectGateway(url, options)).value();
  }
  std::string Output() const { return process_ ? process_->output() : ""; }

 private:
  fs::path dir_;
  std::unique_ptr<gwtest::ChildProcess> process_;
};

TEST(BackupTest, AHostWipedAndRestoredFromOneFileServesTheSameState) {
  fs::path dir = gwtest::MakeTempDir("backup");
  ::chmod(dir.c_str(), 0755);
  fs::create_directories(dir / "etc");
  std::ofstream(dir / "etc/gatewayd.yaml") << fmt::format(
      "hostname: mx.gateway.example\n"
      "dataDirectory: {0}/data\n"
      "instanceDirectory: {0}/mail\n"
      "admin: {{tokens: {0}/etc/tokens.yaml}}\n"
      "mail: {{inbound: 127.0.0.1:2525}}\n"
      "filtering: {{tokenFile: {0}/etc/filter-token}}\n"
      "continuity: {{enabled: true, imap: 127.0.0.1:1143}}\n",
      dir.string());
  std::ofstream(dir / "etc/main.cf.local") << "smtpd_banner = $myhostname ESMTP local\n";
  std::string config = (dir / "etc/gatewayd.yaml").string();
  auto setup = gwtest::RunCommand(fmt::format("{} setup --config {}", GATEWAYD_BINARY, config));
  ASSERT_EQ(setup.exit_code, 0) << setup.output;

  Host host(dir);
  std::string url = host.Start();
  ASSERT_FALSE(url.empty()) << host.Output();
  auto client = host.Client(url);
  ASSERT_TRUE(client->EnsurePartner("northwind").ok());
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-access"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", "mx.acme.example"}};
  ASSERT_TRUE(
      client->PutCustomer("northwind", "acme", write, gw::WriteCondition::CreateOnly()).ok());
  gw::UserBatch users;
  for (int i = 0; i < 50; ++i) {
    users.upsert.emplace_back().address = fmt::format("user{}@acme.example", i);
  }
  ASSERT_TRUE(client->BatchUsers("northwind", "acme", users).ok());
  auto before = client->GetState("northwind");
  ASSERT_TRUE(before.ok());

  // Taken while gatewayd serves.
  fs::path backup = dir / "host.tar.gz";
  auto backed_up = gwtest::RunCommand(
      fmt::format("{} backup --config {} --out {}", GATEWAYD_BINARY, config, backup.string()));
  ASSERT_EQ(backed_up.exit_code, 0) << backed_up.output;
  struct stat info {};
  ASSERT_EQ(::stat(backup.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600) << "it holds tokens and keys";
  std::string doveadm_key = gwtest::ReadWholeFile(dir / "data/continuity/doveadm-key");
  host.Stop();

  // The host loses its store, keys and configuration.
  fs::remove_all(dir / "data");
  fs::remove_all(dir / "etc");
  auto elsewhere =
      gwtest::RunCommand(fmt::format("{} restore --from {}", GATEWAYD_BINARY, backup.string()));
  EXPECT_EQ(elsewhere.exit_code, 2) << "the default --config is not this host's";
  EXPECT_THAT(elsewhere.output, HasSubstr("give --config " + config));
  auto restored = gwtest::RunCommand(
      fmt::format("{} restore --config {} --from {}", GATEWAYD_BINARY, config, backup.string()));
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  EXPECT_THAT(gwtest::ReadWholeFile(dir / "etc/main.cf.local"), HasSubstr("ESMTP local"));
  EXPECT_EQ(gwtest::ReadWholeFile(dir / "data/continuity/doveadm-key"), doveadm_key);
  ASSERT_EQ(::stat((dir / "etc/operator-token").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  auto again = gwtest::RunCommand(
      fmt::format("{} restore --config {} --from {}", GATEWAYD_BINARY, config, backup.string()));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.output, HasSubstr("exists; stop gatewayd and give --force"));

  url = host.Start();
  ASSERT_FALSE(url.empty()) << host.Output();
  auto after = host.Client(url)->GetState("northwind");
  ASSERT_TRUE(after.ok()) << after.status().message();
  ASSERT_EQ(after->customers.size(), 1u);
  EXPECT_EQ(after->customers[0].name, "acme");
  EXPECT_EQ(after->customers[0].version, before->customers[0].version);
  EXPECT_EQ(after->customers[0].user_count, 50);
  EXPECT_EQ(after->customers[0].users_digest, before->customers[0].users_digest);
  host.Stop();

  // A backup whose manifest points outside the data and configuration directories is
  // refused before anything is written.
  auto crafted = gwtest::RunCommand(fmt::format(
      R"(cd {0} && mkdir -p crafted/config && cp etc/gatewayd.yaml crafted/config/ && )"
      R"(echo owned > crafted/config/evil && )"
      R"(printf '{{"format": 1, "config": "{0}/etc/gatewayd.yaml", "files": [)"
      R"({{"name": "config/gatewayd.yaml", "path": "{0}/etc/gatewayd.yaml", "mode": 420}}, )"
      R"({{"name": "config/evil", "path": "{0}/etc/../outside/evil", "mode": 420}}]}}' )"
      R"(> crafted/backup.json && tar -czf crafted.tar.gz -C crafted backup.json config)",
      dir.string()));
  ASSERT_EQ(crafted.exit_code, 0) << crafted.output;
  fs::remove(dir / "etc/gatewayd.yaml");
  auto outside =
      gwtest::RunCommand(fmt::format("{} restore --force --config {} --from {}/crafted.tar.gz",
                                     GATEWAYD_BINARY, config, dir.string()));
  EXPECT_EQ(outside.exit_code, 2) << outside.output;
  EXPECT_THAT(outside.output, HasSubstr("not under"));
  EXPECT_FALSE(fs::exists(dir / "outside/evil"));
  EXPECT_FALSE(fs::exists(dir / "etc/gatewayd.yaml")) << "nothing written";

  // A damaged backup changes nothing.
  std::string bytes = gwtest::ReadWholeFile(backup);
  std::ofstream(dir / "damaged.tar.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto damaged =
      gwtest::RunCommand(fmt::format("{} restore --force --config {} --from {}/damaged.tar.gz",
                                     GATEWAYD_BINARY, config, dir.string()));
  EXPECT_EQ(damaged.exit_code, 2) << damaged.output;
  EXPECT_THAT(damaged.output, HasSubstr("damaged or not a gatewayd backup"));
  fs::remove_all(dir);
}

}  // namespace
