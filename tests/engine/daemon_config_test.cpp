// gatewayd.yaml: located errors, the schema's defaults, flags over the file, and
// `gatewayd setup` writing the instances from it.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/config_flags.h"
#include "gateway/daemon_config.h"
#include "gateway/tokens.h"
#include "gatewayd_fixture.h"
#include "process.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(DaemonConfigTest, EveryProblemIsLocatedAtItsLine) {
  auto config = gw::DaemonConfig::Parse("gatewayd.yaml",
                                        "hostname: mx.gateway.example\n"
                                        "admin:\n"
                                        "  listen: 8025\n"
                                        "mail:\n"
                                        "  inbond: 0.0.0.0:25\n"
                                        "  internal: {socketmap: 192.0.2.1:10041}\n"
                                        "filtering:\n"
                                        "  clamd: yes\n");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), gw::StatusCode::kInvalidArgument);
  const std::string& message = config.status().message();
  EXPECT_THAT(message, HasSubstr("gatewayd.yaml:3:11: admin/listen: must be HOST:PORT"));
  EXPECT_THAT(message, HasSubstr("gatewayd.yaml:5:11: mail/inbond"));
  EXPECT_THAT(message,
              HasSubstr("gatewayd.yaml:6:25: mail/internal/socketmap: must be a loopback"));
  EXPECT_THAT(message, HasSubstr("gatewayd.yaml:8:10: filtering/clamd: must be HOST:PORT, or off"));
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 3) << message;

  auto broken = gw::DaemonConfig::Parse("gatewayd.yaml", "hostname: [unclosed\n");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("gatewayd.yaml:2:1: "));
  auto missing = gw::DaemonConfig::Parse("gatewayd.yaml", "admin: {listen: 127.0.0.1:1}\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("hostname"));
}

TEST(DaemonConfigTest, UnsetValuesAreTheSchemasDefaults) {
  auto config = gw::DaemonConfig::Parse("g.yaml",
                                        "hostname: mx.gateway.example\n"
                                        "mail: {relay: 0.0.0.0:587}\n"
                                        "quarantine: {retentionDays: 14}\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->String("/admin/listen"), "127.0.0.1:8025");
  EXPECT_FALSE(config->Has("/admin/listen"));
  EXPECT_EQ(config->Where("/admin/listen"), "g.yaml:1:1") << "unset: where its nearest parent is";
  EXPECT_EQ(config->String("/mail/relay"), "0.0.0.0:587");
  EXPECT_EQ(config->Where("/mail/relay"), "g.yaml:2:15");
  EXPECT_EQ(config->String("/quarantine/retentionDays"), "14");
  EXPECT_EQ(config->String("/portal/listen"), "");
  EXPECT_TRUE(config->Flag("/reports/scheduled"));
  EXPECT_FALSE(config->Flag("/continuity/enabled"));

  std::vector<gw::ConfigArg> args = gw::GatewaydArgs(*config);
  auto find = [&](const std::string& flag) -> std::vector<std::string> {
    for (const auto& arg : args) {
      if (arg.flag == flag) return arg.values;
    }
    return {"(absent)"};
  };
  EXPECT_EQ(find("--smtp"), (std::vector<std::string>{"0.0.0.0:25", "0.0.0.0:587"}));
  EXPECT_EQ(find("--data"), std::vector<std::string>{"/var/lib/gatewayd"});
  EXPECT_EQ(find("--quarantine-retention-days"), std::vector<std::string>{"14"});
  EXPECT_EQ(find("--continuity-smtp"), std::vector<std::string>{"(absent)"});
  std::vector<gw::ConfigArg> milter = gw::MilterArgs(*config);
  ASSERT_FALSE(milter.empty());
  EXPECT_EQ(milter[0].flag, "--listen");
  bool reaches_admin = false;
  for (const auto& arg : milter) {
    reaches_admin =
        reaches_admin || (arg.flag == "--gateway" && arg.values[0] == "http://127.0.0.1:8025");
  }
  EXPECT_TRUE(reaches_admin);
}

// A flag on the command line wins over the file; the file's values pass the flags' own
// checks, and a value they refuse is named at its line.
TEST(DaemonConfigTest, TheCommandLineWinsAndTheFilesValuesAreChecked) {
  auto config = gw::DaemonConfig::Parse("g.yaml",
                                        "hostname: mx.gateway.example\n"
                                        "admin: {listen: 127.0.0.1:9000}\n"
                                        "domains: {verify: true}\n"
                                        "quarantine: {retentionDays: 30}\n");
  ASSERT_TRUE(config.ok()) << config.status().message();
  CLI::App app;
  std::string listen, hostname;
  bool verify = false;
  int days = 0;
  app.add_option("--listen", listen);
  app.add_option("--hostname", hostname);
  app.add_flag("--verify-domains", verify);
  app.add_option("--quarantine-retention-days", days)->check(CLI::Range(1, 20));
  std::vector<const char*> argv = {"gatewayd", "--listen", "127.0.0.1:1"};
  app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  std::vector<gw::ConfigArg> args = {{"--listen", {"127.0.0.1:9000"}, "/admin/listen"},
                                     {"--hostname", {"mx.gateway.example"}, "/hostname"},
                                     {"--verify-domains", {}, "/domains/verify"}};
  ASSERT_TRUE(gw::ApplyConfigArgs(app, *config, args).ok());
  EXPECT_EQ(listen, "127.0.0.1:1");
  EXPECT_EQ(hostname, "mx.gateway.example");
  EXPECT_TRUE(verify);
  EXPECT_TRUE(gw::RequireFlags(app, {"--listen", "--hostname"}).ok());
  EXPECT_EQ(gw::RequireFlags(app, {"--quarantine-retention-days"}).message(),
            "--quarantine-retention-days is required (or give --config FILE)");

  gw::Status refused = gw::ApplyConfigArgs(
      app, *config, {{"--quarantine-retention-days", {"30"}, "/quarantine/retentionDays"}});
  EXPECT_EQ(refused.code(), gw::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(),
              HasSubstr("g.yaml:4:29: quarantine/retentionDays (as --quarantine-retention-days)"));
}

// gatewayd serves from its configuration file, a flag overriding it; a broken file stops
// it before anything is opened, with the line named.
TEST(DaemonConfigTest, GatewaydServesFromItsConfigFile) {
  fs::path dir = gwtest::MakeTempDir("gatewayd-config");
  Write(dir / "tokens.yaml", "tokens:\n  - {name: ops, role: operator, sha256: \"" +
                                 gw::HashToken("operator-token") + "\"}\n");
  Write(dir / "gatewayd.yaml",
        fmt::format("hostname: mx.gateway.example\n"
                    "dataDirectory: {0}/data\n"
                    "admin: {{listen: 127.0.0.1:1, tokens: {0}/tokens.yaml}}\n"
                    "mail:\n"
                    "  inbound: 127.0.0.1:2525\n"
                    "  internal: {{socketmap: 127.0.0.1:0, policy: "
                    "127.0.0.1:0, verify: 127.0.0.1:0}}\n",
                    dir.string()));
  fs::create_directories(dir / "data");
  gwtest::ChildProcess gatewayd(
      {GATEWAYD_BINARY, "--config", (dir / "gatewayd.yaml").string(), "--listen", "127.0.0.1:0"});
  auto line = gatewayd.WaitForLine("listening on ");
  ASSERT_TRUE(line.has_value()) << gatewayd.output();
  EXPECT_THAT(gatewayd.output(), HasSubstr("opened store " + (dir / "data/gateway.db").string()));
  EXPECT_THAT(gatewayd.output(), HasSubstr("socketmap on 127.0.0.1:"));

  Write(dir / "broken.yaml", "hostname: mx.gateway.example\nadmin:\n  listen: nowhere\n");
  auto refused =
      gwtest::RunCommand(fmt::format("{} --config {}/broken.yaml", GATEWAYD_BINARY, dir.string()));
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output,
              HasSubstr(dir.string() + "/broken.yaml:3:11: admin/listen: must be HOST:PORT"));
  fs::remove_all(dir);
}

// `gatewayd setup`: the instances from the file, the host's own lines kept at the end,
// the keys and tokens the daemons share made once, and what changed said.
TEST(DaemonConfigTest, SetupWritesTheInstancesKeepsLocalLinesAndSaysWhatChanged) {
  fs::path dir = gwtest::MakeTempDir("gatewayd-setup");
  ::chmod(dir.c_str(), 0755);
  fs::path etc = dir / "etc";
  fs::create_directories(etc);
  auto config = [&](int size_limit) {
    Write(etc / "gatewayd.yaml",
          fmt::format("hostname: mx.gateway.example\n"
                      "dataDirectory: {0}/data\n"
                      "instanceDirectory: {0}/mail\n"
                      "admin: {{tokens: {1}/tokens.yaml}}\n"
                      "mail: {{inbound: 127.0.0.1:2525, relay: 127.0.0.1:2587, "
                      "messageSizeLimit: {2}}}\n"
                      "filtering: {{tokenFile: {1}/filter-token}}\n"
                      "continuity: {{enabled: true, imap: 127.0.0.1:1143}}\n",
                      dir.string(), etc.string(), size_limit));
  };
  config(10485760);
  Write(etc / "main.cf.local", "smtpd_banner = $myhostname ESMTP local");
  std::string setup =
      fmt::format("{} setup --config {}/gatewayd.yaml", GATEWAYD_BINARY, etc.string());

  auto first = gwtest::RunCommand(setup);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("new      " + (dir / "mail/postfix/etc/main.cf").string()));
  EXPECT_THAT(first.output, HasSubstr("new      " + (dir / "mail/dovecot/dovecot.conf").string()));
  EXPECT_THAT(
      first.output,
      HasSubstr("systemctl enable --now gatewayd gw-milter gateway-postfix gateway-dovecot"));
  std::string main_cf = gwtest::ReadWholeFile(dir / "mail/postfix/etc/main.cf");
  EXPECT_THAT(main_cf, HasSubstr("message_size_limit = 10485760"));
  EXPECT_THAT(gwtest::ReadWholeFile(dir / "mail/postfix/etc/master.cf"),
              HasSubstr("smtpd_milters=inet:127.0.0.1:10044"));
  // The host's line replaces the generated one.
  EXPECT_THAT(main_cf, HasSubstr("smtpd_banner = $myhostname ESMTP local"));
  EXPECT_THAT(main_cf, Not(HasSubstr("smtpd_banner = $myhostname ESMTP\n")));
  // gw-milter's token and the operator's are made with the tokens file, which names them.
  std::string tokens = gwtest::ReadWholeFile(etc / "tokens.yaml");
  std::string filter = gwtest::ReadWholeFile(etc / "filter-token");
  filter.pop_back();
  EXPECT_THAT(tokens,
              HasSubstr("{name: gw-milter, role: filter, sha256: \"" + gw::HashToken(filter)));
  EXPECT_THAT(tokens, Not(HasSubstr(filter)));
  struct stat info {};
  ASSERT_EQ(::stat((etc / "operator-token").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  EXPECT_THAT(first.output, Not(HasSubstr(filter)));
  std::string key = gwtest::ReadWholeFile(dir / "data/continuity/doveadm-key");
  EXPECT_EQ(key.size(), 65u);
  EXPECT_THAT(gwtest::ReadWholeFile(dir / "mail/dovecot/doveadm-api.conf"),
              HasSubstr(key.substr(0, 64)));

  auto again = gwtest::RunCommand(setup);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, Not(HasSubstr("changed  ")));
  EXPECT_THAT(again.output, Not(HasSubstr("new ")));
  EXPECT_THAT(again.output, Not(HasSubstr("made ")));
  EXPECT_EQ(gwtest::ReadWholeFile(etc / "filter-token"), filter + "\n") << "made once";

  config(20971520);
  auto changed = gwtest::RunCommand(setup);
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_THAT(changed.output, HasSubstr("changed  " + (dir / "mail/postfix/etc/main.cf").string()));
  EXPECT_THAT(changed.output, Not(HasSubstr("dovecot.conf")));
  EXPECT_THAT(gwtest::ReadWholeFile(dir / "mail/postfix/etc/main.cf"),
              HasSubstr("smtpd_banner = $myhostname ESMTP local"));
  if (fs::exists("/usr/sbin/postconf")) {
    auto size = gwtest::RunCommand(
        fmt::format("/usr/sbin/postconf -c {}/mail/postfix/etc -h message_size_limit smtpd_banner",
                    dir.string()));
    EXPECT_EQ(size.output, "20971520\n$myhostname ESMTP local\n");
  }

  // gatewayd takes the same file: its store in dataDirectory, the continuity socket where
  // Dovecot is told to ask.
  gwtest::ChildProcess gatewayd({GATEWAYD_BINARY, "--config", (etc / "gatewayd.yaml").string(),
                                 "--listen", "127.0.0.1:0", "--socketmap", "127.0.0.1:0",
                                 "--policy", "127.0.0.1:0", "--verify", "127.0.0.1:0", "--doveadm",
                                 "127.0.0.1:1", "--continuity-smtp", "127.0.0.1:1"});
  ASSERT_TRUE(gatewayd.WaitForLine("listening on ").has_value()) << gatewayd.output();
  EXPECT_TRUE(fs::exists(dir / "data/continuity/auth")) << gatewayd.output();

  Write(etc / "gatewayd.yaml", "hostname: mx.gateway.example\nmail: {inbound: 25}\n");
  auto refused = gwtest::RunCommand(setup);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output,
              HasSubstr(etc.string() + "/gatewayd.yaml:2:17: mail/inbound: must be HOST:PORT"));
  fs::remove_all(dir);
}

}  // namespace
