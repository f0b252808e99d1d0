// Users from a cloud directory carry mail: a customer's Microsoft 365 tenant (the fake
// Graph over TLS) is synced by the gwctl binary into a real gatewayd, and a real Postfix
// delivers to an alias only once the directory has it and a sync has run. Needs root
// (Postfix); skipped, saying why, otherwise.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fake_graph.h"
#include "mail_fixture.h"
#include "test_ca.h"

namespace {

using gwtest::Gatewayd;
using nlohmann::json;

json GraphUser(const std::string& id, const std::string& local,
               std::vector<std::string> aliases = {}) {
  json proxies = {fmt::format("SMTP:{}@acme.example", local)};
  for (const auto& alias : aliases) proxies.push_back("smtp:" + alias);
  return {{"id", id},
          {"userPrincipalName", local + "@acme.example"},
          {"accountEnabled", true},
          {"proxyAddresses", proxies}};
}

TEST(DirectoryMailTest, AnAliasAddedInMicrosoft365TakesMailAfterTheNextSync) {
  if (std::string missing = gwtest::MailPlaneMissing(); !missing.empty()) GTEST_SKIP() << missing;
  std::filesystem::path dir = gwtest::MakeTempDir("directory-mail");
  gwtest::TestCa ca(dir);
  gwtest::FakeGraph graph(ca, gwtest::FakeGraph::Options());
  graph.PutUser(GraphUser("u1", "alice"));
  graph.PutUser(GraphUser("u2", "bob"));

  gwtest::Sink internet, destination;
  ASSERT_TRUE(internet.ready() && destination.ready());
  gwtest::MailGateway gateway(internet.port());
  ASSERT_EQ(gateway.problem(), "");
  ASSERT_TRUE(gateway.gatewayd().Client(Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
  std::filesystem::path repo = dir / "repo";
  std::filesystem::create_directories(repo / "customers");
  std::ofstream(repo / "gwctl.yaml")
      << "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\nspec: {}\n";
  std::ofstream(repo / "customers" / "acme.yaml")
      << fmt::format(R"(apiVersion: gwctl/v1
kind: Customer
metadata: {{name: acme}}
spec:
  product: ultimate-defense
  billableUsers: 10
  domains: {{primary: acme.example}}
  destinations: [{{host: 127.0.0.1, port: {}}}]
  users:
    microsoft365:
      - tenant: contoso.onmicrosoft.com
        clientId: {}
        clientSecretRef: env:GWCTL_SECRET_ACME_GRAPH
        minUsers: 2
)",
                     destination.port(), gwtest::FakeGraph::Options().client_id);
  // Only gwctl is pointed at the fakes: gatewayd and Postfix keep the system's CAs.
  auto sync = [&] {
    return gwtest::RunCommand(fmt::format(
        "GWCTL_MICROSOFT_LOGIN_URL={0} GWCTL_MICROSOFT_GRAPH_URL={0} SSL_CERT_FILE={1} "
        "GWCTL_SECRET_ACME_GRAPH={2} GWCTL_TOKEN={3} {4} apply --yes --gateway {5} "
        "--directory-cache {6} {7}",
        graph.url(), ca.ca_file(), gwtest::FakeGraph::Options().secret, Gatewayd::kOperatorToken,
        GWCTL_BINARY, gateway.gatewayd().url(), (dir / "cache").string(), repo.string()));
  };
  auto first = sync();
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_TRUE(gateway.WaitForLookup("recipients alice@acme.example", "OK"));
  ASSERT_TRUE(gateway.Send("carol@ext.example", "alice@acme.example").accepted());
  EXPECT_EQ(gateway.Send("carol@ext.example", "a.smith@acme.example").code, 550);

  graph.PutUser(GraphUser("u1", "alice", {"a.smith@acme.example"}));
  EXPECT_EQ(gateway.Send("carol@ext.example", "a.smith@acme.example").code, 550)
      << "the alias took mail before a sync";
  auto second = sync();
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, ::testing::HasSubstr("delta read: 1 changes"));
  ASSERT_TRUE(gateway.WaitForLookup("recipients a.smith@acme.example", "OK alice@acme.example"));
  auto outcome = gateway.Send("carol@ext.example", "a.smith@acme.example");
  EXPECT_TRUE(outcome.accepted()) << outcome.transcript;
  EXPECT_EQ(destination.WaitForMessages(2), 2u);
  std::filesystem::remove_all(dir);
}

}  // namespace
