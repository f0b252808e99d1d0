// Microsoft 365 sources against a fake identity platform and Graph over TLS on loopback
// (tests/support/fake_graph.h): full and delta reads, a resync, throttling, a wrong
// secret, a token that runs out mid-read, certificate credentials, and end to end through
// the gwctl binary and a real gatewayd.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "cloud_directory.h"
#include "fake_graph.h"
#include "gatewayd_fixture.h"
#include "git_cli.h"
#include "microsoft365_users.h"
#include "process.h"
#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

json GraphUser(int n, bool enabled = true) {
  return {{"id", fmt::format("u{:06}", n)},
          {"userPrincipalName", fmt::format("user{}@contoso.example", n)},
          {"mail", fmt::format("User{}@contoso.example", n)},
          {"accountEnabled", enabled},
          {"assignedLicenses", json::array({{{"skuId", "sku"}}})},
          {"givenName", fmt::format("Given{}", n)},
          {"surname", "Family"},
          {"proxyAddresses",
           {fmt::format("SMTP:User{}@contoso.example", n),
            fmt::format("smtp:user{}@contoso.onmicrosoft.com", n), "SIP:ignored@contoso.example"}}};
}

gwtest::FakeGraph::Options GraphOptions(size_t page_size, std::string certificate = "") {
  gwtest::FakeGraph::Options options;
  options.page_size = page_size;
  options.certificate_pem = std::move(certificate);
  return options;
}

// The environment every reader in this file sees: the fake's endpoints and the test CA.
class Microsoft365Test : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("GWCTL_MICROSOFT_LOGIN_URL", graph_.url().c_str(), 1);
    setenv("GWCTL_MICROSOFT_GRAPH_URL", graph_.url().c_str(), 1);
    setenv("SSL_CERT_FILE", ca_.ca_file().c_str(), 1);
  }
  void TearDown() override {
    unsetenv("GWCTL_MICROSOFT_LOGIN_URL");
    unsetenv("GWCTL_MICROSOFT_GRAPH_URL");
    unsetenv("SSL_CERT_FILE");
  }

  static Microsoft365Source Source() {
    Microsoft365Source source;
    source.tenant = "contoso.onmicrosoft.com";
    source.client_id = "11111111-2222-3333-4444-555555555555";
    source.client_secret_ref = "env:UNUSED";
    source.timeout_seconds = 5;
    return source;
  }

  gw::Result<GraphSnapshot> Read(std::optional<GraphSnapshot> known, GraphReadStats& stats,
                                 const std::string& credential = "the-client-secret",
                                 Microsoft365Source source = Source()) {
    CloudHttpOptions options;
    options.sleep = [this](std::chrono::milliseconds pause) { pauses_.push_back(pause); };
    options.wait_budget = std::chrono::seconds(30);
    CloudHttp http(options);
    GraphReader reader(std::move(source), credential, http);
    return reader.Read(std::move(known), stats);
  }

  std::filesystem::path dir_ = gwtest::MakeTempDir("m365");
  gwtest::TestCa ca_{dir_};
  gwtest::FakeGraph graph_{ca_, GraphOptions(2)};
  std::vector<std::chrono::milliseconds> pauses_;
};

TEST_F(Microsoft365Test, AFullReadFollowsEveryPageThenADeltaReadAsksOnlyForChanges) {
  for (int n = 1; n <= 5; ++n) graph_.PutUser(GraphUser(n));
  graph_.PutGroup({{"id", "g1"},
                   {"displayName", "Sales"},
                   {"mail", "sales@contoso.example"},
                   {"mailEnabled", true},
                   {"proxyAddresses", {"SMTP:sales@contoso.example"}}});
  GraphReadStats stats;
  auto first = Read(std::nullopt, stats);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(stats.full);
  EXPECT_EQ(stats.why_full, "no earlier read");
  EXPECT_EQ(first->users.size(), 5u);
  EXPECT_EQ(first->groups.size(), 1u);
  EXPECT_THAT(graph_.requests(),
              ElementsAre("token", "users full", "users page", "users page", "groups full"));

  // One user joins, one leaves, one loses an alias.
  graph_.PutUser(GraphUser(6));
  graph_.Remove("u000002");
  json changed = GraphUser(3);
  changed["proxyAddresses"] = {"SMTP:User3@contoso.example"};
  graph_.PutUser(changed);
  graph_.ClearRequests();
  GraphReadStats delta;
  auto second = Read(*first, delta);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_FALSE(delta.full);
  EXPECT_EQ(delta.changes, 3u);
  EXPECT_THAT(graph_.requests(), ElementsAre("token", "users delta", "users page", "groups delta"));
  EXPECT_EQ(second->users.size(), 5u);
  EXPECT_FALSE(second->users.count("u000002"));
  EXPECT_EQ(second->users.at("u000003").proxy_addresses.size(), 1u);

  std::map<std::string, size_t> left_out;
  auto mapping = MapDirectoryObjects(GraphRecipients(*second, Source(), left_out), "microsoft365",
                                     {"contoso.example"}, {});
  ASSERT_EQ(mapping.users.size(), 6u);  // five users and the group
  EXPECT_EQ(mapping.users[0].address, "sales@contoso.example");
  EXPECT_EQ(mapping.users[0].type, "alias");
  EXPECT_EQ(mapping.users[1].address, "user1@contoso.example");
  EXPECT_EQ(mapping.users[1].source, "microsoft365");
  EXPECT_EQ(mapping.users[1].first_name, "Given1");
  EXPECT_GT(mapping.foreign, 0u);  // the onmicrosoft.com aliases
}

TEST_F(Microsoft365Test, A410MeansAFullReadAndOldDeltaLinksAreNotTried) {
  for (int n = 1; n <= 3; ++n) graph_.PutUser(GraphUser(n));
  GraphReadStats stats;
  auto first = Read(std::nullopt, stats);
  ASSERT_TRUE(first.ok()) << first.status().message();
  graph_.ForgetDeltaLinks();
  graph_.Remove("u000001");
  graph_.ClearRequests();
  auto second = Read(*first, stats);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_TRUE(stats.full);
  EXPECT_EQ(stats.why_full, "Graph asked for a full read (410)");
  EXPECT_EQ(second->users.size(), 2u);
  // The delta link refused, then a full read: two users now fit one page.
  EXPECT_THAT(graph_.requests(), ElementsAre("token", "users delta", "users full", "groups full"));

  GraphSnapshot stale = *second;
  stale.read_at = "2020-01-01T00:00:00.000Z";
  graph_.ClearRequests();
  ASSERT_TRUE(Read(stale, stats).ok());
  EXPECT_EQ(stats.why_full, "the last read's delta links are older than 7 days");
  EXPECT_EQ(graph_.requests().at(1), "users full");
}

TEST_F(Microsoft365Test, ThrottlingIsWaitedOutAsAskedAndAnExpiredTokenIsRenewedOnce) {
  for (int n = 1; n <= 3; ++n) graph_.PutUser(GraphUser(n));
  graph_.Throttle(2, 3);
  GraphReadStats stats;
  auto read = Read(std::nullopt, stats);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_THAT(pauses_, ElementsAre(std::chrono::seconds(3), std::chrono::seconds(3)));
  EXPECT_EQ(read->users.size(), 3u);

  graph_.ExpireTokens();
  graph_.PutUser(GraphUser(4));
  graph_.ClearRequests();
  CloudHttp http;
  GraphReader reader(Source(), "the-client-secret", http);
  ASSERT_TRUE(reader.Read(std::nullopt, stats).ok());  // a first token
  graph_.ExpireTokens();
  auto again = reader.Read(*read, stats);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->users.size(), 4u);

  graph_.Throttle(100, 20);
  auto gave_up = Read(std::nullopt, stats);
  ASSERT_FALSE(gave_up.ok());
  EXPECT_THAT(gave_up.status().message(), HasSubstr("answered 429 (gave up after waiting 20 s"));
}

TEST_F(Microsoft365Test, AWrongSecretIsRefusedWithoutShowingIt) {
  graph_.PutUser(GraphUser(1));
  GraphReadStats stats;
  auto read = Read(std::nullopt, stats, "not-the-secret");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), gw::StatusCode::kPermissionDenied);
  EXPECT_THAT(read.status().message(),
              HasSubstr("microsoft365 contoso.onmicrosoft.com: the token request was "
                        "refused (401 invalid_client) AADSTS7000215"));
  EXPECT_THAT(read.status().message(), Not(HasSubstr("not-the-secret")));
}

TEST_F(Microsoft365Test, ALinkToAnotherHostIsNotFollowed) {
  for (int n = 1; n <= 3; ++n) graph_.PutUser(GraphUser(n));
  graph_.LinkElsewhere(true);
  GraphReadStats stats;
  auto read = Read(std::nullopt, stats);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(),
              HasSubstr("Graph sent a link to another host (https://elsewhere.example)"));
}

TEST_F(Microsoft365Test, ACertificateSignsTheTokenRequestInsteadOfASecret) {
  // The app's certificate and its RSA key (RS256), as an admin registers them.
  std::string base = (dir_ / "rsa").string();
  ASSERT_EQ(std::system(fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -keyout {0}.key "
                                    "-out {0}.pem -days 2 -subj /CN=gwctl-app 2>/dev/null",
                                    base)
                            .c_str()),
            0);
  std::ifstream rsa_cert(base + ".pem"), rsa_key(base + ".key");
  std::string certificate((std::istreambuf_iterator<char>(rsa_cert)), {});
  std::string private_key((std::istreambuf_iterator<char>(rsa_key)), {});
  gwtest::FakeGraph graph(ca_, GraphOptions(999, certificate));
  setenv("GWCTL_MICROSOFT_LOGIN_URL", graph.url().c_str(), 1);
  setenv("GWCTL_MICROSOFT_GRAPH_URL", graph.url().c_str(), 1);
  graph.PutUser(GraphUser(1));
  Microsoft365Source source = Source();
  source.client_secret_ref.clear();
  source.certificate_ref = "env:UNUSED";
  GraphReadStats stats;
  auto read = Read(std::nullopt, stats, private_key + certificate, source);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->users.size(), 1u);
  // Made for two days: the plan says so well before it stops working.
  auto warning =
      CredentialExpiryWarning(source, private_key + certificate, std::chrono::system_clock::now());
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(*warning, HasSubstr("the app's certificate (certificateRef) expires on "));
  EXPECT_FALSE(
      CredentialExpiryWarning(source, private_key + certificate,
                              std::chrono::system_clock::now() - std::chrono::hours(24 * 60))
          .has_value());
  Microsoft365Source with_secret = Source();
  with_secret.client_secret_expires = "2020-01-31";
  EXPECT_EQ(CredentialExpiryWarning(with_secret, "secret", std::chrono::system_clock::now()),
            "the client secret (clientSecretExpires) expired on 2020-01-31: add a new one to the "
            "app registration and update the reference");

  // Another key with the same certificate does not pass.
  ASSERT_EQ(
      std::system(fmt::format("openssl genrsa -out {0}.other 2048 2>/dev/null", base).c_str()), 0);
  std::ifstream other_in(base + ".other");
  std::string other((std::istreambuf_iterator<char>(other_in)), {});
  auto refused = Read(std::nullopt, stats, other + certificate, source);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("AADSTS700027"));
}

TEST_F(Microsoft365Test, SharedMailboxesStayUnlessAskedAndExclusionsLeaveOut) {
  graph_.PutUser(GraphUser(1));
  json shared = GraphUser(2, /*enabled=*/false);
  shared["assignedLicenses"] = json::array();
  graph_.PutUser(shared);
  graph_.PutUser(GraphUser(3));
  graph_.PutGroup({{"id", "g-exempt"},
                   {"displayName", "Exempt"},
                   {"mail", "exempt@contoso.example"},
                   {"mailEnabled", false},
                   {"members", {"u000003"}}});
  Microsoft365Source source = Source();
  source.exclude.groups = {"exempt@contoso.example"};
  GraphReadStats stats;
  auto read = Read(std::nullopt, stats, "the-client-secret", source);
  ASSERT_TRUE(read.ok()) << read.status().message();
  std::map<std::string, size_t> left_out;
  auto mapping = MapDirectoryObjects(GraphRecipients(*read, source, left_out), "microsoft365",
                                     {"contoso.example"}, {});
  ASSERT_EQ(mapping.users.size(), 2u);  // the shared mailbox is a recipient
  EXPECT_EQ(mapping.users[1].address, "user2@contoso.example");
  EXPECT_EQ(left_out["members of excluded groups"], 1u);

  source.skip_disabled = true;
  left_out.clear();
  mapping = MapDirectoryObjects(GraphRecipients(*read, source, left_out), "microsoft365",
                                {"contoso.example"}, {"user1@contoso.example"});
  EXPECT_TRUE(mapping.users.empty());
  EXPECT_EQ(left_out["accounts with sign-in blocked (skipDisabled)"], 1u);
  EXPECT_EQ(mapping.left_out["excluded"], 1u);

  // The shared mailbox has no licence either.
  source.skip_disabled = false;
  source.skip_unlicensed = true;
  left_out.clear();
  mapping = MapDirectoryObjects(GraphRecipients(*read, source, left_out), "microsoft365",
                                {"contoso.example"}, {});
  ASSERT_EQ(mapping.users.size(), 1u);
  EXPECT_EQ(mapping.users[0].address, "user1@contoso.example");
  EXPECT_EQ(left_out["accounts without a licence (skipUnlicensed)"], 1u);
}

TEST(GraphEndpointsTest, EachNationalCloudHasItsOwnLoginAndGraphHosts) {
  // The tests point every cloud at the fake through these; the hosts are the defaults'.
  std::map<std::string, std::string> saved;
  for (const char* name : {"GWCTL_MICROSOFT_LOGIN_URL", "GWCTL_MICROSOFT_GRAPH_URL"}) {
    if (const char* value = std::getenv(name)) saved[name] = value;
    unsetenv(name);
  }
  EXPECT_EQ(GraphEndpoints::For("global").graph, "https://graph.microsoft.com");
  EXPECT_EQ(GraphEndpoints::For("global").login, "https://login.microsoftonline.com");
  EXPECT_EQ(GraphEndpoints::For("usgov").graph, "https://graph.microsoft.us");
  EXPECT_EQ(GraphEndpoints::For("usgov-dod").graph, "https://dod-graph.microsoft.us");
  EXPECT_EQ(GraphEndpoints::For("china").login, "https://login.chinacloudapi.cn");
  EXPECT_EQ(GraphEndpoints::For("china").graph, "https://microsoftgraph.chinacloudapi.cn");
  for (const auto& [name, value] : saved) setenv(name.c_str(), value.c_str(), 1);
}

// End to end: the gwctl binary, a real gatewayd and the fake Graph.
class Microsoft365SyncTest : public Microsoft365Test {
 protected:
  void SetUp() override {
    Microsoft365Test::SetUp();
    setenv("GWCTL_SECRET_CONTOSO_GRAPH", "the-client-secret", 1);
    ASSERT_TRUE(gatewayd_.started());
    ASSERT_TRUE(
        gatewayd_.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    repo_.Write("gwctl.yaml",
                "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\nspec: {}\n");
    repo_.Write("customers/contoso.yaml", R"(apiVersion: gwctl/v1
kind: Customer
metadata: {name: contoso}
spec:
  product: ultimate-defense
  billableUsers: 5000
  domains: {primary: contoso.example}
  destinations: [{host: mail.contoso.example}]
  users:
    microsoft365:
      - tenant: contoso.onmicrosoft.com
        clientId: 11111111-2222-3333-4444-555555555555
        clientSecretRef: env:GWCTL_SECRET_CONTOSO_GRAPH
        minUsers: 10
        timeoutSeconds: 5
)");
  }

  int Gwctl(const std::string& arguments, std::string& output) {
    auto out = repo_.root() / "out.txt";
    std::string command = fmt::format(
        "GWCTL_TOKEN='{}' '{}' {} '{}' --gateway '{}' --directory-cache '{}' > '{}' 2>&1",
        gwtest::Gatewayd::PartnerToken("northwind"), GWCTL_BINARY, arguments, repo_.root().string(),
        gatewayd_.url(), (dir_ / "cache").string(), out.string());
    int status = std::system(command.c_str());
    std::ifstream in(out);
    output.assign(std::istreambuf_iterator<char>(in), {});
    return WEXITSTATUS(status);
  }

  gwtest::Gatewayd gatewayd_{{"northwind"}};
  testing::TempRepo repo_;
};

// The issue's case: a tenant of 50,000 users, read in pages of 999 (and pages of none),
// then one user added and one alias removed: the next sync asks only for the delta and
// the plan shows exactly those two changes.
TEST_F(Microsoft365SyncTest, TheGatewayFollowsTheTenantAndASecondSyncAsksOnlyForChanges) {
  graph_.SetPageSize(999);
  graph_.EmptyFirstPages(true);
  for (int n = 1; n <= 50'000; ++n) {
    json user = GraphUser(n);
    if (n == 7) user["proxyAddresses"].push_back("smtp:seven@contoso.example");
    graph_.PutUser(user);
  }
  std::string output;
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("microsoft365 contoso.onmicrosoft.com: 50000 users"));
  EXPECT_THAT(output, HasSubstr("full read (no earlier read)"));
  // A token, the empty first page, 51 pages of 999 (the last of 50), and the groups.
  EXPECT_EQ(graph_.requests().size(), 1u + 1u + 51u + 2u);
  auto client = gatewayd_.Client(gwtest::Gatewayd::PartnerToken("northwind"));
  EXPECT_EQ(client->GetCustomer("northwind", "contoso")->user_count, 50'000);

  graph_.PutUser(GraphUser(50'001));
  graph_.PutUser(GraphUser(7));  // without seven@
  graph_.ClearRequests();
  ASSERT_EQ(Gwctl("plan", output), 2) << output;
  EXPECT_THAT(output, HasSubstr("delta read: 2 changes"));
  EXPECT_THAT(output, HasSubstr("users: +1 ~1 -0"));
  for (const std::string& request : graph_.requests()) {
    EXPECT_THAT(request, Not(HasSubstr("full"))) << "a second sync read the tenant in full";
  }
}

TEST_F(Microsoft365SyncTest, AWrongSecretOrATenantThatLostUsersChangesNothing) {
  for (int n = 1; n <= 20; ++n) graph_.PutUser(GraphUser(n));
  std::string output;
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  for (int n = 1; n <= 15; ++n) graph_.Remove(fmt::format("u{:06}", n));
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("5 users from 5 directory objects, fewer than minUsers 10"));
  auto client = gatewayd_.Client(gwtest::Gatewayd::PartnerToken("northwind"));
  EXPECT_EQ(client->GetCustomer("northwind", "contoso")->user_count, 20);

  setenv("GWCTL_SECRET_CONTOSO_GRAPH", "a-wrong-secret", 1);
  ASSERT_EQ(Gwctl("apply --yes", output), 0) << output;
  EXPECT_THAT(output, HasSubstr("AADSTS7000215"));
  EXPECT_THAT(output, Not(HasSubstr("a-wrong-secret")));
  EXPECT_EQ(client->GetCustomer("northwind", "contoso")->user_count, 20);
}

// A pull request's plan (untrusted) reads a tenant only as the default branch has it: a
// source whose settings the pull request changes (here, the tenant the client secret is
// sent for) is not contacted and gets no secret; its users stay as they are.
TEST_F(Microsoft365SyncTest, APullRequestCannotPointTheCredentialsAtAnotherTenant) {
  for (int n = 1; n <= 12; ++n) graph_.PutUser(GraphUser(n));
  gwtest::Git(repo_.root(), "init -q");
  gwtest::Git(repo_.root(), "add -A");
  gwtest::Git(repo_.root(), "commit -q -m base");
  auto gwctl = [&](const std::string& arguments) {
    return gwtest::RunCommand(fmt::format(
        "cd '{}' && GWCTL_TOKEN='{}' '{}' {} --gateway '{}'", repo_.root().string(),
        gwtest::Gatewayd::PartnerToken("northwind"), GWCTL_BINARY, arguments, gatewayd_.url()));
  };
  auto applied = gwctl("apply --yes --repo . --ref main");
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  gwtest::Git(repo_.root(), "checkout -q -b pr");

  // A change elsewhere in the manifest: the unchanged source is read.
  std::ifstream in(repo_.root() / "customers" / "contoso.yaml");
  std::string manifest((std::istreambuf_iterator<char>(in)), {});
  std::string bigger = manifest;
  bigger.replace(bigger.find("billableUsers: 5000"), 19, "billableUsers: 6000");
  repo_.Write("customers/contoso.yaml", bigger);
  gwtest::Git(repo_.root(), "commit -q -am bigger");
  graph_.ClearRequests();
  auto plan = gwctl("plan --repo . --ref pr --since main");
  EXPECT_EQ(plan.exit_code, 2) << plan.output;
  EXPECT_THAT(plan.output, HasSubstr("as an untrusted revision"));
  EXPECT_THAT(plan.output, HasSubstr("microsoft365 contoso.onmicrosoft.com: 12 users"));
  EXPECT_FALSE(graph_.requests().empty());

  std::string moved = bigger;
  moved.replace(moved.find("tenant: contoso.onmicrosoft.com"), 31,
                "tenant: attacker.onmicrosoft.com");
  repo_.Write("customers/contoso.yaml", moved);
  gwtest::Git(repo_.root(), "commit -q -am 'another tenant'");
  graph_.ClearRequests();
  plan = gwctl("plan --repo . --ref pr --since main");
  EXPECT_EQ(plan.exit_code, 2) << plan.output;
  EXPECT_THAT(plan.output, HasSubstr("microsoft365 source attacker.onmicrosoft.com was not read"));
  EXPECT_THAT(plan.output, HasSubstr("its settings are new in this revision"));
  EXPECT_TRUE(graph_.requests().empty()) << "the pull request's tenant was contacted";
  EXPECT_THAT(plan.output, Not(HasSubstr("the-client-secret")));
}

// gwctl run reads the tenant once per syncInterval, not on every pass, and says how it
// went on /status and /metrics.
TEST_F(Microsoft365SyncTest, TheLoopReadsEachSourceOnItsOwnIntervalAndShowsIt) {
  for (int n = 1; n <= 12; ++n) graph_.PutUser(GraphUser(n));
  setenv("GWCTL_TOKEN", gwtest::Gatewayd::PartnerToken("northwind").c_str(), 1);
  gwtest::ChildProcess loop({GWCTL_BINARY, "run", repo_.root().string(), "--gateway",
                             gatewayd_.url(), "--directory-cache", (dir_ / "cache").string(),
                             "--interval", "300ms", "--drift-interval", "300ms", "--listen",
                             "127.0.0.1:0"});
  unsetenv("GWCTL_TOKEN");
  auto line = loop.WaitForLine("listening on ");
  ASSERT_TRUE(line) << loop.output();
  size_t start = line->find("http://");
  std::string url = line->substr(start, line->find_first_of(" \"", start) - start);
  auto client = gatewayd_.Client(gwtest::Gatewayd::PartnerToken("northwind"));
  auto users = [&] {
    auto customer = client->GetCustomer("northwind", "contoso");
    return customer.ok() ? customer->user_count : -1;
  };
  for (int i = 0; i < 100 && users() != 12; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(users(), 12) << loop.output();
  // Several drift passes later, the tenant has been read once.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  size_t reads = 0;
  for (const std::string& request : graph_.requests())
    reads += request == "users full" || request == "users delta";
  EXPECT_EQ(reads, 1u) << loop.output();
  graph_.PutUser(GraphUser(13));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(users(), 12) << "the tenant was read before its next read was due";

  auto status = httplib::Client(url).Get("/status");
  ASSERT_TRUE(status && status->status == 200);
  json sources = json::parse(status->body)["directorySources"];
  ASSERT_EQ(sources.size(), 1u) << status->body;
  EXPECT_EQ(sources[0]["kind"], "microsoft365");
  EXPECT_EQ(sources[0]["name"], "contoso.onmicrosoft.com");
  EXPECT_EQ(sources[0]["ok"], true);
  EXPECT_EQ(sources[0]["users"], 12);
  EXPECT_FALSE(sources[0]["nextRead"].is_null());
  auto metrics = httplib::Client(url).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("gwctl_directory_source_up{customer=\"contoso\",kind=\"microsoft365\","
                        "source=\"contoso.onmicrosoft.com\"} 1"));
  loop.Signal(SIGTERM);
  EXPECT_EQ(loop.Wait(), 0) << loop.output();
}

}  // namespace
}  // namespace gwctl
