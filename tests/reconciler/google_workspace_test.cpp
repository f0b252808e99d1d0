// Google Workspace sources against a fake token endpoint and Directory API over TLS on
// loopback (tests/support/fake_google_directory.h): paging, aliases, an empty account,
// an excluded group, a key the account does not know, and end to end through the gwctl
// binary and a real gatewayd.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cloud_directory.h"
#include "fake_google_directory.h"
#include "gatewayd_fixture.h"
#include "google_workspace_users.h"
#include "loopback.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string NewRsaKey(const std::filesystem::path& path) {
  std::string command = fmt::format("openssl genrsa -out '{}' 2048 2>/dev/null", path.string());
  if (std::system(command.c_str()) != 0) return "";
  return ReadFile(path.string());
}

json WorkspaceUser(int n) {
  return {{"id", fmt::format("1{:05}", n)},
          {"primaryEmail", fmt::format("user{}@acme.example", n)},
          {"aliases", {fmt::format("u{}@acme.example", n)}},
          {"nonEditableAliases", {fmt::format("user{}@acme.test-google-a.com", n)}},
          {"suspended", false},
          {"name", {{"givenName", fmt::format("Given{}", n)}, {"familyName", "Family"}}}};
}

class GoogleWorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(key_.empty());
    setenv("GWCTL_GOOGLE_TOKEN_URL", (google_.url() + "/token").c_str(), 1);
    setenv("GWCTL_GOOGLE_DIRECTORY_URL", google_.url().c_str(), 1);
    setenv("SSL_CERT_FILE", ca_.ca_file().c_str(), 1);
  }
  void TearDown() override {
    unsetenv("GWCTL_GOOGLE_TOKEN_URL");
    unsetenv("GWCTL_GOOGLE_DIRECTORY_URL");
    unsetenv("SSL_CERT_FILE");
  }

  static std::string KeyFile(const std::string& private_key) {
    return json{{"type", "service_account"},
                {"client_email", "gwctl@acme-project.iam.gserviceaccount.com"},
                {"private_key_id", "0123abcd"},
                {"private_key", private_key},
                {"token_uri", "https://elsewhere.example/token"}}
        .dump();
  }

  static GoogleWorkspaceSource Source() {
    GoogleWorkspaceSource source;
    source.admin_email = "admin@acme.example";
    source.service_account_ref = "env:UNUSED";
    source.timeout_seconds = 5;
    return source;
  }

  gw::Result<WorkspaceDirectory> Read(const std::string& key_file,
                                      GoogleWorkspaceSource source = Source()) {
    CloudHttp http;
    WorkspaceReader reader(std::move(source), key_file, http);
    return reader.Read();
  }

  std::filesystem::path dir_ = gwtest::MakeTempDir("google");
  gwtest::TestCa ca_{dir_};
  std::string key_ = NewRsaKey(dir_ / "service-account.key");
  gwtest::FakeGoogleDirectory google_{ca_, key_, "admin@acme.example", 2};
};

TEST_F(GoogleWorkspaceTest, EveryPageIsReadAndAliasesInTheCustomersDomainsKept) {
  for (int n = 1; n <= 5; ++n) google_.AddUser(WorkspaceUser(n));
  google_.AddGroup({{"id", "g1"}, {"email", "sales@acme.example"}});
  auto read = Read(KeyFile(key_));
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->users.size(), 5u);
  EXPECT_THAT(google_.requests(), ElementsAre("token", "users", "users", "users", "groups"));
  std::map<std::string, size_t> left_out;
  auto mapping = MapDirectoryObjects(WorkspaceRecipients(*read, Source(), left_out),
                                     "googleWorkspace", {"acme.example"}, {});
  ASSERT_EQ(mapping.users.size(), 6u);
  EXPECT_EQ(mapping.users[0].address, "sales@acme.example");
  EXPECT_EQ(mapping.users[1].address, "user1@acme.example");
  EXPECT_THAT(mapping.users[1].aliases, ElementsAre("u1@acme.example"));
  EXPECT_EQ(mapping.users[1].last_name, "Family");
  EXPECT_EQ(mapping.foreign, 5u);  // the test-google-a.com aliases
}

TEST_F(GoogleWorkspaceTest, AnEmptyAccountIsAnEmptyListAndFailsMinUsers) {
  auto read = Read(KeyFile(key_));
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_TRUE(read->users.empty());
  DirectoryRequest request;
  request.domains = {"acme.example"};
  auto users =
      UsersOfCloudRead({"googleWorkspace", "googleWorkspace admin@acme.example", {}, {}, ""},
                       request, {}, std::nullopt);
  ASSERT_FALSE(users.ok());
  EXPECT_THAT(users.status().message(),
              HasSubstr("0 users from 0 directory objects, fewer than minUsers 1 (the default)"));
}

TEST_F(GoogleWorkspaceTest, AnExcludedGroupsMembersAreLeftOut) {
  for (int n = 1; n <= 3; ++n) google_.AddUser(WorkspaceUser(n));
  google_.AddGroup({{"id", "g-board"}, {"email", "board@acme.example"}}, {"100002"});
  GoogleWorkspaceSource source = Source();
  source.exclude.groups = {"board@acme.example"};
  auto read = Read(KeyFile(key_), source);
  ASSERT_TRUE(read.ok()) << read.status().message();
  std::map<std::string, size_t> left_out;
  auto mapping = MapDirectoryObjects(WorkspaceRecipients(*read, source, left_out),
                                     "googleWorkspace", {"acme.example"}, {});
  ASSERT_EQ(mapping.users.size(), 2u);
  EXPECT_EQ(left_out["members of excluded groups"], 1u);
  EXPECT_EQ(left_out["excluded groups"], 1u);
}

TEST_F(GoogleWorkspaceTest, SuspendedAndArchivedAccountsGoOnlyWhenAskedAndAnAccountIsNamedById) {
  google_.SetCustomerId("C03abc123");
  for (int n = 1; n <= 4; ++n) {
    json user = WorkspaceUser(n);
    if (n == 2) user["suspended"] = true;
    if (n == 3) user["archived"] = true;
    google_.AddUser(user);
  }
  GoogleWorkspaceSource source = Source();
  source.customer_id = "C03abc123";
  auto read = Read(KeyFile(key_), source);
  ASSERT_TRUE(read.ok()) << read.status().message();
  auto users = [&](std::map<std::string, size_t>& left_out) {
    return MapDirectoryObjects(WorkspaceRecipients(*read, source, left_out), "googleWorkspace",
                               {"acme.example"}, {})
        .users.size();
  };
  std::map<std::string, size_t> none;
  EXPECT_EQ(users(none), 4u) << "kept unless asked";
  source.skip_suspended = source.skip_archived = true;
  std::map<std::string, size_t> left_out;
  EXPECT_EQ(users(left_out), 2u);
  EXPECT_EQ(left_out["suspended users (skipSuspended)"], 1u);
  EXPECT_EQ(left_out["archived users (skipArchived)"], 1u);
  source.customer_id = "C0another";
  EXPECT_FALSE(Read(KeyFile(key_), source).ok()) << "an account the key does not reach";
}

TEST_F(GoogleWorkspaceTest, AServiceThatNeverAnswersTimesOutAtTheSourcesTimeout) {
  gwtest::SilentListener silent;  // accepts connections, never answers (not even TLS)
  ASSERT_NE(silent.port(), 0);
  setenv("GWCTL_GOOGLE_TOKEN_URL", fmt::format("https://127.0.0.1:{}/token", silent.port()).c_str(),
         1);
  // As the user source resolver reads it: timeoutSeconds bounds each request.
  GoogleWorkspaceSource source =
      GoogleWorkspaceSource::FromJson({{"adminEmail", "admin@acme.example"},
                                       {"serviceAccountRef", "env:UNUSED"},
                                       {"timeoutSeconds", 1}});
  ASSERT_EQ(source.timeout_seconds, 1);
  CloudHttpOptions options;
  options.timeout = std::chrono::seconds(source.timeout_seconds);
  options.wait_budget = std::chrono::seconds(0);  // no second try
  CloudHttp http(options);
  WorkspaceReader reader(source, KeyFile(key_), http);
  auto started = std::chrono::steady_clock::now();
  auto read = reader.Read();
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), gw::StatusCode::kUnavailable) << read.status().message();
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_GE(took, std::chrono::milliseconds(900)) << "it waited for its timeout";
}

TEST_F(GoogleWorkspaceTest, AKeyTheAccountDoesNotKnowIsRefusedWithoutShowingIt) {
  std::string other = NewRsaKey(dir_ / "other.key");
  auto read = Read(KeyFile(other));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), gw::StatusCode::kPermissionDenied);
  EXPECT_THAT(read.status().message(),
              HasSubstr("googleWorkspace admin@acme.example: the token request was refused (401 "
                        "unauthorized_client)"));
  EXPECT_THAT(read.status().message(), HasSubstr("domain-wide delegation"));
  EXPECT_THAT(read.status().message(), Not(HasSubstr("PRIVATE KEY")));
  auto broken = Read("{\"type\": \"service_account\"}");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("is not a service account's JSON key"));
}

TEST_F(GoogleWorkspaceTest, TheGatewayGetsTheWorkspacesUsersThroughGwctl) {
  for (int n = 1; n <= 12; ++n) google_.AddUser(WorkspaceUser(n));
  setenv("GWCTL_SECRET_ACME_GOOGLE", KeyFile(key_).c_str(), 1);
  gwtest::Gatewayd gatewayd({"northwind"});
  ASSERT_TRUE(gatewayd.started());
  ASSERT_TRUE(gatewayd.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
  testing::TempRepo repo;
  repo.Write("gwctl.yaml",
             "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\nspec: {}\n");
  repo.Write("customers/acme.yaml", R"(apiVersion: gwctl/v1
kind: Customer
metadata: {name: acme}
spec:
  product: ultimate-defense
  billableUsers: 100
  domains: {primary: acme.example}
  destinations: [{host: mail.acme.example}]
  users:
    googleWorkspace:
      - serviceAccountRef: env:GWCTL_SECRET_ACME_GOOGLE
        adminEmail: admin@acme.example
        groups: false
        minUsers: 10
)");
  auto out = repo.root() / "out.txt";
  std::string command =
      fmt::format("GWCTL_TOKEN='{}' '{}' apply --yes '{}' --gateway '{}' > '{}' 2>&1",
                  gwtest::Gatewayd::PartnerToken("northwind"), GWCTL_BINARY, repo.root().string(),
                  gatewayd.url(), out.string());
  int status = std::system(command.c_str());
  std::string output = ReadFile(out.string());
  ASSERT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_THAT(output, HasSubstr("googleWorkspace admin@acme.example: 12 users"));
  auto customer = gatewayd.Client(gwtest::Gatewayd::PartnerToken("northwind"))
                      ->GetCustomer("northwind", "acme");
  ASSERT_TRUE(customer.ok()) << customer.status().message();
  EXPECT_EQ(customer->user_count, 12);
  unsetenv("GWCTL_SECRET_ACME_GOOGLE");
}

}  // namespace
}  // namespace gwctl
