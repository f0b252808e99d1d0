// kill -9 of gwctl at random points of a large apply, many times over; then one more
// apply must finish the job: every user there once, nothing left to change.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include <fmt/format.h>

#include "apply_rounds.h"
#include "process.h"
#include "temp_repo.h"
#include "test_gateway.h"

namespace {

class CrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CrashTest, KillNineDuringApplyThenApplyAgainConverges) {
  if (std::string missing = gwtest::TransportMissing(GetParam()); !missing.empty())
    GTEST_SKIP() << missing;
  gwctl::testing::TempRepo repo;
  constexpr int kCustomers = 40, kUsers = 300, kRounds = 12;

  gwtest::TestGateway gateway(GetParam(), repo.root() / "gateway.db", {"northwind"});
  ASSERT_TRUE(gateway.ready());
  const std::string& url = gateway.url();
  gateway.ExportToken("northwind");
  // The test watches the gateway while gwctl writes (over HTTP, or as a second SQLite
  // connection to the embedded store).
  auto client = gateway.Client("northwind");
  std::vector<std::string> apply = {GWCTL_BINARY,    "apply", repo.root().string(), "--yes",
                                    "--gateway",     url,     "--lease-holder",     "crash-test",
                                    "--parallelism", "4"};

  // Even rounds are killed once a random number of customers are written, so the kill
  // always lands inside the apply however fast this machine is; odd rounds after a random
  // delay, which may fall in planning, in the lease, or after the end.
  std::mt19937 random(std::random_device{}());
  int killed_mid_apply = 0;
  for (int round = 1; round <= kRounds; ++round) {
    gwtest::WriteRound(repo, round, kCustomers, kUsers);
    gwtest::ChildProcess gwctl(apply);
    if (round % 2 == 0) {
      int target = 1 + static_cast<int>(random() % (kCustomers - 10));
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!gwctl.Exited() && gwtest::CustomersAtRound(*client, round) < target &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 150));
    }
    gwctl.Signal(SIGKILL);
    int code = gwctl.Wait();
    int written = gwtest::CustomersAtRound(*client, round);
    if (code == 128 + SIGKILL && written > 0 && written < kCustomers) ++killed_mid_apply;
  }
  std::printf("killed with some customers written and some not in %d of %d runs\n",
              killed_mid_apply, kRounds);
  EXPECT_GT(killed_mid_apply, 0);

  gwtest::ChildProcess finish(apply);
  EXPECT_EQ(finish.Wait(), 0) << finish.output();
  std::vector<std::string> plan = {GWCTL_BINARY, "plan", repo.root().string(), "--gateway", url};
  gwtest::ChildProcess check(plan);
  EXPECT_EQ(check.Wait(), 0) << check.output();

  // Directly on the gateway: every customer at the last round, with exactly its users.
  auto state = client->GetState("northwind");
  ASSERT_TRUE(state.ok()) << state.status().message();
  ASSERT_EQ(state->customers.size(), static_cast<size_t>(kCustomers));
  for (const auto& customer : state->customers) {
    EXPECT_EQ(customer.user_count, kUsers) << customer.name;
    EXPECT_EQ(customer.spec.value("billableUsers", 0), 500 + kRounds) << customer.name;
  }
  auto users = gw::ListAllUsers(*client, "northwind", "c07");
  ASSERT_TRUE(users.ok()) << users.status().message();
  ASSERT_EQ(users->size(), static_cast<size_t>(kUsers));
  for (const auto& user : *users)
    EXPECT_EQ(user.first_name.substr(user.first_name.find(' ')), fmt::format(" r{}", kRounds))
        << user.address;
}

INSTANTIATE_TEST_SUITE_P(Transports, CrashTest, gwtest::TransportValues(),
                         gwtest::TransportTestName);
INSTANTIATE_TEST_SUITE_P(Postgres, CrashTest, gwtest::PostgresTransportValues(),
                         gwtest::TransportTestName);

}  // namespace
