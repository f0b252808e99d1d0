// gwctl export and apply --adopt, through the gwctl binary, on both transports: the
// examples survive apply -> export -> plan unchanged, and a customer made through the API
// is exported and adopted with nothing but its ownership changing.
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gwctl/export.h"
#include "temp_repo.h"
#include "test_gateway.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPartner = "northwind-msp";  // the examples' partner

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class ExportTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::TransportMissing(GetParam()); !missing.empty()) {
      GTEST_SKIP() << GetParam() << " transport skipped: " << missing;
    }
    setenv("GWCTL_SECRET_ACME_PANEL_PASSWORD", "the-panel-password", 1);
    gateway_ = std::make_unique<gwtest::TestGateway>(GetParam(), work_.root() / "gateway.db",
                                                     std::vector<std::string>{kPartner});
    ASSERT_TRUE(gateway_->ready());
    gateway_url_ = gateway_->url();
    gateway_->ExportToken(kPartner);
  }
  void TearDown() override { unsetenv("GWCTL_TOKEN"); }

  // A short-lived client: the embedded store is also opened by the gwctl processes.
  std::unique_ptr<gw::GatewayClient> Client() { return gateway_->Client(kPartner); }

  int Gwctl(const std::string& arguments, std::string& output) {
    auto out = work_.root() / "out.txt";
    std::string command = fmt::format("'{}' {} > '{}' 2>&1", GWCTL_BINARY, arguments, out.string());
    int status = std::system(command.c_str());
    output = ReadFile(out);
    return WEXITSTATUS(status);
  }

  std::string Export(const std::filesystem::path& dir, const std::string& extra) {
    std::string output;
    EXPECT_EQ(Gwctl(fmt::format("export --out '{}' --partner {} --gateway '{}' {}", dir.string(),
                                kPartner, gateway_url_, extra),
                    output),
              0)
        << output;
    return output;
  }

  testing::TempRepo work_;
  std::unique_ptr<gwtest::TestGateway> gateway_;
  std::string gateway_url_;
};

TEST_P(ExportTest, EveryExampleSurvivesApplyExportAndPlan) {
  std::string output;
  ASSERT_EQ(
      Gwctl(fmt::format("apply --yes '{}/examples' --gateway '{}'", GWCTL_SOURCE_DIR, gateway_url_),
            output),
      0)
      << output;
  // As they are; against the examples' defaults; and with users moved to CSV files.
  struct Variant {
    std::string dir, flags;
  } variants[] = {{"plain", "--all"},
                  {"with-defaults",
                   fmt::format("--all --defaults '{}/examples/defaults.yaml'", GWCTL_SOURCE_DIR)},
                  {"csv", "--all --inline-users 2"}};
  for (const auto& variant : variants) {
    auto dir = work_.root() / variant.dir;
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(std::string(GWCTL_SOURCE_DIR) + "/examples/gwctl.yaml",
                               dir / "gwctl.yaml");
    if (variant.dir == "with-defaults") {
      std::filesystem::copy_file(std::string(GWCTL_SOURCE_DIR) + "/examples/defaults.yaml",
                                 dir / "defaults.yaml");
    }
    Export(dir, variant.flags);
    EXPECT_EQ(Gwctl(fmt::format("validate '{}'", dir.string()), output), 0) << variant.dir << "\n"
                                                                            << output;
    EXPECT_EQ(Gwctl(fmt::format("plan '{}' --gateway '{}'", dir.string(), gateway_url_), output), 0)
        << variant.dir << "\n"
        << output;
    EXPECT_THAT(output, HasSubstr("No changes. The gateway matches the repository."))
        << variant.dir;
  }
  // The defaults were left out where they are the same.
  std::string acme = ReadFile(work_.root() / "with-defaults/customers/acme.yaml");
  EXPECT_THAT(acme, Not(HasSubstr("timezone: Europe/London")));
  EXPECT_THAT(ReadFile(work_.root() / "plain/customers/acme.yaml"),
              HasSubstr("timezone: Europe/London"));
  EXPECT_TRUE(std::filesystem::exists(work_.root() / "csv/customers/acme.users.csv"));
}

TEST_P(ExportTest, ACustomerMadeThroughTheApiIsAdoptedWithOnlyItsOwnerChanging) {
  gw::CustomerWrite write;  // no owner: as the panel or a script would make it
  write.spec = {
      {"product", "ultimate-defense"},
      {"billableUsers", 12},
      {"domains", {{"primary", "panel-made.example"}}},
      {"destinations", {{{"host", "mx.panel-made.example"}, {"port", 25}, {"preference", 10}}}},
      {"panelLogin", {{"email", "admin@panel-made.example"}}}};
  write.labels = {{"source", "panel"}};
  write.secrets["/panelLogin/password"] = "the-api-secret-value";
  gw::UserBatch users;
  for (int i = 0; i < 60; ++i) {
    gw::User u;
    u.address = fmt::format("user{:02}@panel-made.example", i);
    u.first_name = "First, \"quoted\"";
    u.last_name = fmt::format("Last{}", i);
    if (i == 0) u.aliases = {"info@panel-made.example", "sales@panel-made.example"};
    users.upsert.push_back(u);
  }
  int64_t version_before = 0;
  std::string digest_before;
  {
    auto client = Client();
    auto made =
        client->PutCustomer(kPartner, "panel-made", write, gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(made.ok()) << made.status().message();
    ASSERT_TRUE(client->BatchUsers(kPartner, "panel-made", users).ok());
    auto now = client->GetCustomer(kPartner, "panel-made");
    version_before = now->version;
    digest_before = now->users_digest;
  }

  auto dir = work_.root() / "adopt";
  Export(dir, "--customer panel-made");
  std::string manifest = ReadFile(dir / "customers/panel-made.yaml");
  std::string csv = ReadFile(dir / "customers/panel-made.users.csv");  // 60 > 50 inline
  // A reference to fill in, never the value.
  EXPECT_THAT(manifest,
              HasSubstr("passwordRef: \"env:GWCTL_SECRET_PANEL_MADE_PANEL_PASSWORD\"  # fill in"));
  for (const auto& file : {manifest, csv, ReadFile(dir / "gwctl.yaml")}) {
    EXPECT_THAT(file, Not(HasSubstr("the-api-secret-value")));
  }
  EXPECT_THAT(csv, HasSubstr("user00@panel-made.example,\"First, \"\"quoted\"\"\",Last0,,"
                             "info@panel-made.example;sales@panel-made.example"));

  std::string output;
  // Without the secret the plan cannot be made; with it, the customer is someone else's.
  EXPECT_EQ(Gwctl(fmt::format("plan '{}' --gateway '{}'", dir.string(), gateway_url_), output), 4)
      << output;
  EXPECT_THAT(output, HasSubstr("GWCTL_SECRET_PANEL_MADE_PANEL_PASSWORD"));
  setenv("GWCTL_SECRET_PANEL_MADE_PANEL_PASSWORD", "the-api-secret-value", 1);
  EXPECT_EQ(Gwctl(fmt::format("plan '{}' --gateway '{}'", dir.string(), gateway_url_), output), 3)
      << output;
  EXPECT_THAT(output, HasSubstr("was made by hand (no owner); not changed (--adopt takes it"));

  // A manifest that differs is not adopted, and nothing changes.
  std::string edited = manifest;
  edited.replace(edited.find("billableUsers: 12"), 17, "billableUsers: 13");
  work_.Write("adopt/customers/panel-made.yaml", edited);
  EXPECT_EQ(
      Gwctl(fmt::format("apply --adopt --yes '{}' --gateway '{}'", dir.string(), gateway_url_),
            output),
      3)
      << output;
  EXPECT_THAT(output, HasSubstr("differs from its manifest (1 field, users +0 ~0 -0)"));
  EXPECT_EQ(Client()->GetCustomer(kPartner, "panel-made")->version, version_before);

  work_.Write("adopt/customers/panel-made.yaml", manifest);
  EXPECT_EQ(
      Gwctl(fmt::format("apply --adopt --yes '{}' --gateway '{}'", dir.string(), gateway_url_),
            output),
      0)
      << output;
  EXPECT_THAT(output, HasSubstr("+ owner: gwctl:northwind-msp"));
  EXPECT_THAT(output, HasSubstr("users +0 ~0 -0"));
  auto client = Client();
  auto adopted = client->GetCustomer(kPartner, "panel-made");
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(adopted->owner, "gwctl:northwind-msp");
  EXPECT_EQ(adopted->version, version_before + 1);
  EXPECT_EQ(adopted->spec, write.spec);  // only ownership changed
  EXPECT_EQ(adopted->labels, write.labels);
  EXPECT_EQ(adopted->users_digest, digest_before);
  EXPECT_EQ(adopted->user_count, 60);
  auto audit = client->ListAudit(kPartner, 0, 1000);
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> writes;
  for (const auto& entry : *audit) {
    if (entry.target == "panel-made") writes.push_back(entry.action);
  }
  EXPECT_EQ(writes,
            (std::vector<std::string>{"customer.create", "users.batch", "customer.update"}));
  client.reset();
  EXPECT_EQ(Gwctl(fmt::format("plan '{}' --gateway '{}'", dir.string(), gateway_url_), output), 0)
      << output;
  unsetenv("GWCTL_SECRET_PANEL_MADE_PANEL_PASSWORD");
}

TEST_P(ExportTest, NothingIsOverwrittenWithoutForce) {
  {
    auto client = Client();
    gw::CustomerWrite write;
    write.spec = {
        {"product", "ultimate-defense"},
        {"billableUsers", 1},
        {"domains", {{"primary", "one.example"}}},
        {"destinations", {{{"host", "mx.one.example"}, {"port", 25}, {"preference", 10}}}}};
    ASSERT_TRUE(client->PutCustomer(kPartner, "one", write, gw::WriteCondition::CreateOnly()).ok());
  }
  auto dir = work_.root() / "existing";
  work_.Write("existing/customers/one.yaml", "# hand-written\n");
  std::string output;
  EXPECT_EQ(Gwctl(fmt::format("export --out '{}' --partner {} --gateway '{}' --all", dir.string(),
                              kPartner, gateway_url_),
                  output),
            4);
  EXPECT_THAT(output, HasSubstr("one.yaml exists; nothing was written (--force overwrites)"));
  EXPECT_EQ(ReadFile(dir / "customers/one.yaml"), "# hand-written\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "gwctl.yaml"));
  EXPECT_EQ(Gwctl(fmt::format("export --out '{}' --partner {} --gateway '{}' --customer nobody",
                              dir.string(), kPartner, gateway_url_),
                  output),
            4);
  EXPECT_THAT(output, HasSubstr("has no customer nobody"));
}

TEST(ExportYaml, StringsThatWouldReadBackAsSomethingElseAreQuoted) {
  nlohmann::json value = {{"a", "yes"},
                          {"b", "08:00"},
                          {"c", "1e3"},
                          {"d", "plain text"},
                          {"e", "#tag"},
                          {"f", ""},
                          {"g", "null"},
                          {"h", "x: y"},
                          {"i", "Jr. (3)"},
                          {"j", {1, "two"}},
                          {"k", nlohmann::json::object()}};
  EXPECT_EQ(ToYaml(value),
            "a: \"yes\"\nb: \"08:00\"\nc: \"1e3\"\nd: plain text\ne: \"#tag\"\nf: \"\"\n"
            "g: \"null\"\nh: \"x: y\"\ni: Jr. (3)\nj:\n  - 1\n  - two\nk: {}\n");
}

INSTANTIATE_TEST_SUITE_P(Transports, ExportTest, gwtest::TransportValues(),
                         gwtest::TransportTestName);
INSTANTIATE_TEST_SUITE_P(Postgres, ExportTest, gwtest::PostgresTransportValues(),
                         gwtest::TransportTestName);

}  // namespace
}  // namespace gwctl
