// gwctl validate and gatewayd give one verdict: every customer of the invalid example
// repositories is PUT straight to a real gatewayd over HTTP, as a panel or a script
// would, and what gatewayd refuses (rule id at the place its pointer names) is exactly
// what gwctl validate reports for the rules that concern customers.
#include <algorithm>
#include <set>
#include <string>
#include <tuple>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gatewayd_fixture.h"
#include "gwctl/validate.h"

namespace gwctl {
namespace {

// The rules gwctl runs but the engine cannot in a PUT: users (inline, CSV) and
// continuity members never reach the settings document.
bool OnlyGwctlKnows(const Diagnostic& d) {
  static const std::set<std::string> kRepositoryRules = {
      "schema",           "yaml-syntax",    "name-duplicate",
      "repository-count", "defaults-count", "csv",
      "csv-path",         "path-escape",    "utf8",
      "user-invalid",     "user-domain",    "user-duplicate",
      "billable-users",   "file-size",      "yaml",
      "secret-ref"};  // the gateway gets secrets, never their references
  if (kRepositoryRules.count(d.rule)) return true;
  return d.rule == "continuity" &&
         d.message.find("is not one of this customer's users") != std::string::npos;
}

// The host of gwctl.yaml's gateway URL, which gatewayd is told with --hostname.
std::string GatewayHost(const Manifests& manifests) {
  std::string url = manifests.repository->value()["spec"]["gateway"].value("url", "");
  std::string authority = url.substr(url.find("://") + 3);
  return authority.substr(0, authority.find_first_of(":/"));
}

using Finding = std::tuple<std::string, int, int, std::string>;  // file, line, column, rule

std::string Show(const std::set<Finding>& findings) {
  std::string out;
  for (const auto& [file, line, column, rule] : findings)
    out += fmt::format("  {}:{}:{} [{}]\n", file, line, column, rule);
  return out;
}

class EngineVerdictTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineVerdictTest, GatewaydRefusesWhatValidateRefusesWithTheSameRuleAtTheSamePlace) {
  auto root = std::filesystem::path(GWCTL_SOURCE_DIR) / "examples" / "invalid" / GetParam();
  auto tree = OpenDirectoryTree(root);
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  auto report = ValidateRepository(**tree, {});
  ASSERT_TRUE(report.ok()) << report.status().message();
  const Manifests& manifests = report->manifests;
  ASSERT_FALSE(manifests.customers.empty());

  std::string partner = manifests.partner();
  gwtest::Gatewayd gatewayd({partner}, {"--hostname", GatewayHost(manifests)});
  ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
  ASSERT_TRUE(gatewayd.Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner(partner).ok());
  auto client = gatewayd.Client(gwtest::Gatewayd::PartnerToken(partner));

  // In repository order, so that of two customers claiming one thing the second is the
  // one refused, as validate reports it.
  std::vector<const CustomerManifest*> order;
  for (const auto& c : manifests.customers) order.push_back(&c);
  std::sort(order.begin(), order.end(), [](const CustomerManifest* a, const CustomerManifest* b) {
    Location la = a->document.LocationOf(""), lb = b->document.LocationOf("");
    return std::tie(la.file, la.line) < std::tie(lb.file, lb.line);
  });

  std::set<Finding> refused;
  std::set<std::string> refused_customers;
  for (const CustomerManifest* customer : order) {
    gw::CustomerWrite write;
    write.spec = customer->effective.value()["spec"];
    if (write.spec.contains("users")) {
      write.spec["users"].erase("mailboxes");
      write.spec["users"].erase("csv");
    }
    auto put =
        client->PutCustomer(partner, customer->name, write, gw::WriteCondition::CreateOnly());
    if (put.ok()) continue;
    ASSERT_EQ(put.status().code(), gw::StatusCode::kInvalidArgument)
        << customer->name << ": " << put.status().message();
    ASSERT_FALSE(put.status().details().empty()) << put.status().message();
    refused_customers.insert(customer->name);
    for (const auto& detail : put.status().details()) {
      if (detail.rule == "schema") continue;  // the shapes are compared by ValidateRepository
      Location at = customer->effective.LocationOf(detail.field);
      refused.emplace(at.file, at.line, at.column, detail.rule);
    }
  }

  std::set<Finding> expected;
  std::set<std::string> customers_with_errors;
  for (const Diagnostic& d : report->diagnostics.items()) {
    if (d.severity != Severity::kError || OnlyGwctlKnows(d)) continue;
    // A claim is refused only while its first holder is stored.
    bool holder_refused = std::any_of(
        refused_customers.begin(), refused_customers.end(), [&](const std::string& name) {
          return d.message.find(fmt::format("customer '{}'", name)) != std::string::npos;
        });
    if (holder_refused) continue;
    // PartnerDefaults is not a customer: its mistake reaches the gateway only through a
    // customer that inherits it (and is then at the same place).
    if (d.location.file == "defaults.yaml" &&
        !refused.count({d.location.file, d.location.line, d.location.column, d.rule}))
      continue;
    expected.emplace(d.location.file, d.location.line, d.location.column, d.rule);
  }
  ASSERT_FALSE(expected.empty()) << "this example shows no rule the engine runs";
  EXPECT_EQ(refused, expected) << "gatewayd refused:\n"
                               << Show(refused) << "gwctl validate reported:\n"
                               << Show(expected);
}

INSTANTIATE_TEST_SUITE_P(InvalidExamples, EngineVerdictTest,
                         ::testing::Values("03-domains", "04-destinations", "05-outbound-relay",
                                           "07-ldap", "08-content-filter", "09-lists",
                                           "10-spam-report", "11-continuity"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace gwctl
