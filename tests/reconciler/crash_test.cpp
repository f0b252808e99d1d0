// kill -9 of gwctl at random points of a large apply, many times over; then one more
// apply must finish the job: every user there once, nothing left to change.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include <fmt/format.h>

#include "gatewayd_fixture.h"
#include "process.h"
#include "temp_repo.h"

namespace {

class CrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CrashTest, KillNineDuringApplyThenApplyAgainConverges) {
  gwctl::testing::TempRepo repo;
  repo.WriteRepository("northwind");
  constexpr int kCustomers = 40, kUsers = 300;
  for (int c = 0; c < kCustomers; ++c) {
    std::string name = fmt::format("c{:02d}", c);
    repo.Write("customers/" + name + ".yaml",
               fmt::format("apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {0}}}\nspec:\n"
                           "  product: ultimate-defense\n  billableUsers: 500\n  domains: "
                           "{{primary: {0}.example}}\n"
                           "  destinations: mx.{0}.example\n  users: {{csv: [{0}.csv]}}\n",
                           name));
    std::string csv = "email,first_name\n";
    for (int u = 0; u < kUsers; ++u) csv += fmt::format("u{}@{}.example,U{}\n", u, name, u);
    repo.Write("customers/" + name + ".csv", csv);
  }

  std::unique_ptr<gwtest::Gatewayd> gatewayd;
  std::string url;
  if (GetParam() == "http") {
    gatewayd = std::make_unique<gwtest::Gatewayd>(std::vector<std::string>{"northwind"});
    ASSERT_TRUE(gatewayd->started());
    ASSERT_TRUE(
        gatewayd->Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    url = gatewayd->url();
    setenv("GWCTL_TOKEN", gwtest::Gatewayd::PartnerToken("northwind").c_str(), 1);
  } else {
    url = "embedded:" + (repo.root() / "gateway.db").string();
  }
  std::vector<std::string> apply = {GWCTL_BINARY,    "apply", repo.root().string(), "--yes",
                                    "--gateway",     url,     "--lease-holder",     "crash-test",
                                    "--parallelism", "4"};

  std::mt19937 random(std::random_device{}());
  int killed_mid_apply = 0;
  for (int i = 0; i < 12; ++i) {
    gwtest::ChildProcess gwctl(apply);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 250));
    gwctl.Signal(SIGKILL);
    if (gwctl.Wait() == 128 + SIGKILL) ++killed_mid_apply;
  }
  EXPECT_GT(killed_mid_apply, 0);
  std::printf("killed mid-apply in %d of 12 runs\n", killed_mid_apply);

  gwtest::ChildProcess finish(apply);
  EXPECT_EQ(finish.Wait(), 0) << finish.output();
  std::vector<std::string> plan = {GWCTL_BINARY, "plan", repo.root().string(), "--gateway", url};
  gwtest::ChildProcess check(plan);
  EXPECT_EQ(check.Wait(), 0) << check.output();

  // Directly on the gateway: every customer with exactly its users.
  gw::ClientOptions options;
  options.token = gwtest::Gatewayd::PartnerToken("northwind");
  auto client = std::move(gw::ConnectGateway(url, options)).value();
  auto state = client->GetState("northwind");
  ASSERT_TRUE(state.ok()) << state.status().message();
  ASSERT_EQ(state->customers.size(), static_cast<size_t>(kCustomers));
  for (const auto& customer : state->customers)
    EXPECT_EQ(customer.user_count, kUsers) << customer.name;
}

INSTANTIATE_TEST_SUITE_P(Transports, CrashTest, ::testing::Values("embedded", "http"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
