// Two gatewayd replicas on one PostgreSQL, driven by gwctl as partners' CI jobs would:
// applies through different replicas at once, and a replica killed in the middle of one.
// Needs root (PostgreSQL runs as its own user); skipped otherwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "apply_rounds.h"
#include "gatewayd_fixture.h"
#include "postgres_fixture.h"
#include "process.h"
#include "temp_repo.h"

namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::PostgresMissing(); !missing.empty()) GTEST_SKIP() << missing;
    postgres_ = std::make_unique<gwtest::Postgres>();
    ASSERT_EQ(postgres_->problem(), "");
    std::vector<std::string> args = {"--store", postgres_->url()};
    a_ = std::make_unique<gwtest::Gatewayd>(std::vector<std::string>{"northwind"}, args);
    b_ = std::make_unique<gwtest::Gatewayd>(std::vector<std::string>{"northwind"}, args);
    ASSERT_TRUE(a_->started() && b_->started());
    ASSERT_TRUE(a_->Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner("northwind").ok());
    setenv("GWCTL_TOKEN", gwtest::Gatewayd::PartnerToken("northwind").c_str(), 1);
  }

  static std::vector<std::string> Gwctl(const std::string& verb,
                                        const gwctl::testing::TempRepo& repo,
                                        const gwtest::Gatewayd& through,
                                        const std::string& holder = "") {
    std::vector<std::string> argv = {GWCTL_BINARY, verb, repo.root().string(), "--gateway",
                                     through.url()};
    if (verb == "apply")
      argv.insert(argv.end(), {"--yes", "--parallelism", "4", "--lease-holder", holder});
    return argv;
  }

  std::unique_ptr<gw::GatewayClient> Partner(const gwtest::Gatewayd& through) const {
    return through.Client(gwtest::Gatewayd::PartnerToken("northwind"));
  }

  // Every customer of `round` is on the gateway with exactly its users, as read through
  // `through`.
  void ExpectRound(const gwtest::Gatewayd& through, int round, int customers, int users) {
    auto client = Partner(through);
    auto state = client->GetState("northwind");
    ASSERT_TRUE(state.ok()) << state.status().message();
    ASSERT_EQ(state->customers.size(), static_cast<size_t>(customers));
    for (const auto& customer : state->customers) {
      EXPECT_EQ(customer.spec.value("billableUsers", 0), 500 + round) << customer.name;
      EXPECT_EQ(customer.user_count, users) << customer.name;
    }
    auto listed = gw::ListAllUsers(*client, "northwind", "c07");
    ASSERT_TRUE(listed.ok()) << listed.status().message();
    ASSERT_EQ(listed->size(), static_cast<size_t>(users));
    for (const auto& user : *listed)
      EXPECT_THAT(user.first_name, ::testing::EndsWith(fmt::format(" r{}", round))) << user.address;
  }

  std::unique_ptr<gwtest::Postgres> postgres_;
  std::unique_ptr<gwtest::Gatewayd> a_, b_;
};

// Two CI jobs plan, then want the partner's lease at once; the test holds it until both
// are waiting, so they truly overlap. One applies while the other waits, and the second
// re-plans the customers the first changed under it. The gateway ends holding the second
// job's repository, whole.
TEST_F(ReplicasTest, TwoAppliesThroughDifferentReplicasAtOnceTakeTurns) {
  constexpr int kCustomers = 30, kUsers = 400;
  gwctl::testing::TempRepo first, second;
  gwtest::WriteRound(first, 1, kCustomers, kUsers);
  gwtest::WriteRound(second, 2, kCustomers, kUsers);
  auto gate = Partner(*a_);
  ASSERT_TRUE(gate->TakeLease("northwind", "gate", 60).ok());
  gwtest::ChildProcess through_a(Gwctl("apply", first, *a_, "job-one"));
  gwtest::ChildProcess through_b(Gwctl("apply", second, *b_, "job-two"));
  // Each says whom it waits for.
  for (auto* job : {&through_a, &through_b})
    ASSERT_TRUE(job->WaitForLine("lease of partner 'northwind' is held by 'gate'",
                                 std::chrono::seconds(60)))
        << job->output();
  EXPECT_THAT(through_a.output(), HasSubstr("; waiting up to 60 s"));
  ASSERT_TRUE(gate->TakeLease("northwind", "gate", 0).ok());
  EXPECT_EQ(through_a.Wait(), 0) << through_a.output();
  EXPECT_EQ(through_b.Wait(), 0) << through_b.output();

  auto audit = Partner(*b_)->ListAudit("northwind", 0, 100000);
  ASSERT_TRUE(audit.ok()) << audit.status().message();
  auto history = gwtest::ReadLeaseHistory(*audit);
  EXPECT_THAT(history.problems, IsEmpty());
  ASSERT_EQ(history.terms.size(), 3u);
  EXPECT_EQ(history.terms[0].holder, "gate");
  EXPECT_THAT(history.terms[0].writes, IsEmpty());
  ASSERT_NE(history.terms[1].holder, history.terms[2].holder);
  // Nothing lost: the first job wrote every customer and all their users; the second
  // changed every customer and every user again.
  EXPECT_EQ(history.terms[1].writes["customer.create"], static_cast<size_t>(kCustomers));
  EXPECT_EQ(history.terms[2].writes["customer.update"], static_cast<size_t>(kCustomers));
  EXPECT_EQ(history.terms[1].writes["users.batch"], static_cast<size_t>(kCustomers));
  EXPECT_EQ(history.terms[2].writes["users.batch"], static_cast<size_t>(kCustomers));

  bool second_was_two = history.terms[2].holder == "job-two";
  const auto& last = second_was_two ? second : first;
  const auto& earlier = second_was_two ? first : second;
  ExpectRound(*a_, second_was_two ? 2 : 1, kCustomers, kUsers);
  ExpectRound(*b_, second_was_two ? 2 : 1, kCustomers, kUsers);
  gwtest::ChildProcess no_changes(Gwctl("plan", last, *a_));
  EXPECT_EQ(no_changes.Wait(), 0) << no_changes.output();
  gwtest::ChildProcess changes(Gwctl("plan", earlier, *b_));
  EXPECT_EQ(changes.Wait(), 2) << changes.output();
}

// A replica dies with an apply half done: gwctl, which talked to it, fails without
// claiming success; the other replica serves, and the same job run again through it
// takes over its own lease at once and finishes.
TEST_F(ReplicasTest, AReplicaKilledMidApplyLeavesTheOtherServingAndTheRerunConverges) {
  constexpr int kCustomers = 40, kUsers = 300;
  gwctl::testing::TempRepo repo;
  gwtest::WriteRound(repo, 1, kCustomers, kUsers);
  auto watcher = Partner(*b_);
  gwtest::ChildProcess through_a(Gwctl("apply", repo, *a_, "ci"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!through_a.Exited() && gwtest::CustomersAtRound(*watcher, 1) < 5 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  a_->Kill();
  int written = gwtest::CustomersAtRound(*watcher, 1);
  ASSERT_GT(written, 0);
  ASSERT_LT(written, kCustomers) << "the apply finished before the replica was killed";
  auto killed_at = std::chrono::steady_clock::now();
  EXPECT_EQ(through_a.Wait(), 4) << through_a.output();  // 4: failed, safe to re-run
  // It stops starting customers once the gateway is gone, rather than waiting out every
  // customer's retries.
  EXPECT_THAT(through_a.output(), HasSubstr("customers not started"));
  std::printf("gwctl gave up %.1f s after the replica died (%d of %d customers written)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count(),
              written, kCustomers);

  gwtest::ChildProcess rerun(Gwctl("apply", repo, *b_, "ci"));
  EXPECT_EQ(rerun.Wait(), 0) << rerun.output();  // 0: converged
  ExpectRound(*b_, 1, kCustomers, kUsers);
  gwtest::ChildProcess plan(Gwctl("plan", repo, *b_));
  EXPECT_EQ(plan.Wait(), 0) << plan.output();
}

}  // namespace
