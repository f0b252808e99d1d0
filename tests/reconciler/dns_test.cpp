// gwctl and DNS, against a real nsd and a real gatewayd that verifies domains: plan
// --check-dns warns where a customer's live DNS does not reach the gateway and stops once
// it does; plan and apply show the domains waiting for their TXT record; gwctl dns lists
// the records to publish; a DNS server that never answers is reported as such, in time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gatewayd_fixture.h"
#include "nsd_fixture.h"
#include "process.h"
#include "temp_repo.h"

namespace {

using gwtest::Gatewayd;
using ::testing::HasSubstr;
using ::testing::Not;

class GwctlDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::NsdMissing(); !missing.empty()) GTEST_SKIP() << missing;
    // acme's MX still points at its old provider, and its SPF policy lacks the gateway.
    nsd_ = std::make_unique<gwtest::Nsd>(std::map<std::string, std::string>{
        {"acme.example", "@ IN MX 10 mx.old-provider.example.\n@ IN TXT \"v=spf1 -all\"\n"}});
    ASSERT_TRUE(nsd_->started()) << nsd_->log();
    gatewayd_ = std::make_unique<Gatewayd>(
        std::vector<std::string>{"northwind"},
        std::vector<std::string>{"--verify-domains", "--dns-server", Dns(), "--hostname",
                                 "mx1.gw.test", "--spf-include", "spf.gw.test",
                                 "--domain-check-interval-s", "3600"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    ASSERT_TRUE(gatewayd_->Client(Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    repo_.WriteRepository("northwind");
    repo_.Write("customers/acme.yaml",
                "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {name: acme}\nspec:\n"
                "  product: ultimate-defense\n  billableUsers: 5\n"
                "  domains: {primary: acme.example}\n  destinations: mx.acme.example\n"
                "  outboundRelay: {enabled: true, sources: [203.0.113.10]}\n"
                "  users: {mailboxes: [{address: alice@acme.example}]}\n");
  }

  std::string Dns() const { return fmt::format("127.0.0.1:{}", nsd_->endpoint().port); }

  gwtest::CommandResult Gwctl(const std::string& arguments) {
    return gwtest::RunCommand(fmt::format("GWCTL_TOKEN={} {} {} --gateway {}",
                                          Gatewayd::PartnerToken("northwind"), GWCTL_BINARY,
                                          arguments, gatewayd_->url()));
  }

  gwctl::testing::TempRepo repo_;
  std::unique_ptr<gwtest::Nsd> nsd_;
  std::unique_ptr<Gatewayd> gatewayd_;
};

TEST_F(GwctlDnsTest, WarningsAppearWhereDnsMissesTheGatewayAndClearOnceItReachesIt) {
  std::string plan =
      fmt::format("plan {} --check-dns --dns-server {}", repo_.root().string(), Dns());
  auto before = Gwctl(plan);
  EXPECT_EQ(before.exit_code, 2) << before.output;  // changes: the plan's exit code, not DNS's
  EXPECT_THAT(before.output,
              HasSubstr("warning: acme.example (customer acme): MX points to "
                        "mx.old-provider.example, not only the gateway (mx1.gw.test)"));
  EXPECT_THAT(before.output, HasSubstr("warning: acme.example (customer acme): the SPF policy "
                                       "does not include:spf.gw.test"));
  auto no_dns = Gwctl(plan + " --no-dns");
  EXPECT_THAT(no_dns.output, Not(HasSubstr("warning:")));

  auto applied = Gwctl(fmt::format("apply --yes {}", repo_.root().string()));
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  EXPECT_THAT(applied.output, HasSubstr("acme.example: waiting for TXT gwctl-verify="));
  // The live trace decides as Postfix does: a pending domain takes no mail yet.
  std::string trace =
      fmt::format("trace --from x@ext.example --to alice@acme.example {}", repo_.root().string());
  auto pending = Gwctl(trace);
  EXPECT_EQ(pending.exit_code, 2) << pending.output;
  EXPECT_THAT(pending.output, HasSubstr("[unknown-domain]"));
  auto listed = Gwctl(fmt::format("dns --dir {} --format json", repo_.root().string()));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  auto records = nlohmann::json::parse(listed.output);
  const auto& domain = records["customers"][0]["domains"][0];
  EXPECT_EQ(domain["state"], "pending");
  std::string record = domain["record"];
  std::vector<std::string> values;
  for (const auto& r : domain["records"])
    values.push_back(r["type"].get<std::string>() + " " + r["value"].get<std::string>());
  EXPECT_THAT(values, ::testing::ElementsAre("MX 10 mx1.gw.test.",
                                             "TXT \"v=spf1 include:spf.gw.test ~all\"",
                                             "TXT \"" + record + "\""));

  // The customer publishes what gwctl dns said; checked at once on demand.
  ASSERT_TRUE(nsd_->Publish("acme.example",
                            fmt::format("@ IN MX 10 mx1.gw.test.\n@ IN TXT \"v=spf1 include:"
                                        "spf.gw.test ~all\"\n@ IN TXT \"{}\"\n",
                                        record)));
  auto zone = Gwctl(fmt::format("dns --dir {} --check-now", repo_.root().string()));
  ASSERT_EQ(zone.exit_code, 0) << zone.output;
  EXPECT_THAT(zone.output, HasSubstr("; acme.example: verified"));
  EXPECT_THAT(zone.output, HasSubstr("acme.example.\t3600\tIN\tMX\t10 mx1.gw.test."));
  EXPECT_THAT(zone.output, Not(HasSubstr("gwctl-verify")));
  auto verified = Gwctl(trace);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  auto after = Gwctl(plan);
  EXPECT_EQ(after.exit_code, 0) << after.output;
  EXPECT_THAT(after.output, Not(HasSubstr("warning:")));
  EXPECT_THAT(after.output, Not(HasSubstr("waiting for TXT")));
}

// gwctl run's /status and page show each customer's domains waiting for DNS.
TEST_F(GwctlDnsTest, TheLoopsStatusListsTheDomainsWaitingForTheirRecord) {
  ASSERT_EQ(Gwctl(fmt::format("apply --yes {}", repo_.root().string())).exit_code, 0);
  setenv("GWCTL_TOKEN", Gatewayd::PartnerToken("northwind").c_str(), 1);
  gwtest::ChildProcess loop({GWCTL_BINARY, "run", repo_.root().string(), "--gateway",
                             gatewayd_->url(), "--listen", "127.0.0.1:0", "--interval", "1s"});
  unsetenv("GWCTL_TOKEN");
  auto line = loop.WaitForLine("listening on ");
  ASSERT_TRUE(line) << loop.output();
  size_t start = line->find("http://");
  httplib::Client status(line->substr(start, line->find_first_of(" \"", start) - start));
  nlohmann::json seen = nlohmann::json::object();
  for (int i = 0; i < 100 && seen.value("passes", 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto res = status.Get("/status");
    if (res && res->status == 200) seen = nlohmann::json::parse(res->body);
  }
  ASSERT_GT(seen.value("passes", 0), 0) << loop.output();
  EXPECT_EQ(seen["pendingDomains"], 1);
  EXPECT_EQ(seen["customers"][0]["pendingDomains"], nlohmann::json::array({"acme.example"}));
  auto page = status.Get("/");
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("<th>waiting for DNS</th>"));
  EXPECT_THAT(page->body, HasSubstr("<td>acme.example</td>"));
  auto metrics = status.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("\ngwctl_domains_pending 1\n"));
}

TEST_F(GwctlDnsTest, ADnsServerThatNeverAnswersIsReportedWithinTheBound) {
  gwtest::SilentListener silent(SOCK_DGRAM);
  ASSERT_NE(silent.port(), 0);
  auto started = std::chrono::steady_clock::now();
  auto plan =
      Gwctl(fmt::format("plan {} --check-dns --dns-server 127.0.0.1:{} --dns-timeout-ms 200",
                        repo_.root().string(), silent.port()));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(plan.exit_code, 2) << plan.output;
  EXPECT_THAT(plan.output, HasSubstr(fmt::format(
                               "warning: acme.example (customer acme): DNS could not be checked: "
                               "MX: no answer from 127.0.0.1:{} in 2 tries",
                               silent.port())));
  EXPECT_THAT(plan.output, Not(HasSubstr("publishes no")));  // never read as absent
  // 200 ms, then 400 ms; the rest is gwctl itself.
  EXPECT_LT(took, std::chrono::seconds(3));
  std::printf(
      "plan --check-dns against a silent server: %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
}

}  // namespace
