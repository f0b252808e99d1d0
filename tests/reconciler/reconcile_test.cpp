// Reconcile (gwctl/reconcile.h) in-process, on an embedded gateway: every outcome of a
// pass, and that nothing contacts the gateway before the manifests are valid.
#include "gwctl/reconcile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "temp_repo.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;

std::string Customer(const std::string& name) {
  return fmt::format(
      "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {0}}}\nspec:\n"
      "  product: ultimate-access\n  billableUsers: 5\n  domains: {{primary: {0}.example}}\n"
      "  destinations: mx.{0}.example\n  users: {{mailboxes: [{{address: a@{0}.example}}]}}\n",
      name);
}

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.WriteRepository("northwind");
    for (const char* name : {"acme", "globex"})
      repo_.Write(fmt::format("customers/{}.yaml", name), Customer(name));
  }

  // One pass over the repository as it is now; `apply` applies an allowed plan.
  gw::Result<PassOutcome> Pass(bool apply, ReconcileTarget target = {}) {
    OpenedSource source;
    auto tree = OpenDirectoryTree(repo_.root());
    EXPECT_TRUE(tree.ok());
    source.tree = std::move(*tree);
    source.local_root = repo_.root();
    ReconcileDeps deps;
    deps.source = &source;
    deps.gateway = &gateway_;
    deps.connect = [this](const RepositoryGateway&) {
      ++connects_;
      return gw::ConnectGateway(gateway_url_);
    };
    if (apply) {
      ApplyOptions options;
      options.lease_holder = "reconcile-test";
      deps.apply = options;
    }
    return Reconcile(target, deps);
  }

  testing::TempRepo repo_;
  std::string gateway_url_ = "embedded:" + (repo_.root() / "gateway.db").string();
  std::unique_ptr<gw::GatewayClient> gateway_;
  int connects_ = 0;
};

TEST_F(ReconcileTest, InvalidManifestsAreAnOutcomeAndNoGatewayIsContacted) {
  repo_.Write("customers/broken.yaml",
              "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {name: broken}\nspec: {}\n");
  auto pass = Pass(true);
  ASSERT_TRUE(pass.ok()) << pass.status().message();
  EXPECT_EQ(pass->result, PassResult::kInvalid);
  EXPECT_TRUE(pass->validation.diagnostics.has_errors());
  EXPECT_EQ(connects_, 0);
  EXPECT_EQ(gateway_, nullptr);
}

TEST_F(ReconcileTest, APlanIsChangesThenAppliedThenNoChanges) {
  auto planned = Pass(false);
  ASSERT_TRUE(planned.ok()) << planned.status().message();
  EXPECT_EQ(planned->result, PassResult::kChanges);
  EXPECT_EQ(planned->plan.changes.size(), 2u);
  EXPECT_FALSE(planned->applied);

  ASSERT_EQ(planned->customers.size(), 2u);
  EXPECT_EQ(planned->customers[0].state, CustomerResult::State::kPending);

  auto applied = Pass(true);
  ASSERT_TRUE(applied.ok()) << applied.status().message();
  EXPECT_EQ(applied->result, PassResult::kApplied);
  ASSERT_EQ(applied->customers.size(), 2u);
  EXPECT_EQ(applied->customers[0].name, "acme");
  EXPECT_EQ(applied->customers[0].state, CustomerResult::State::kInSync);
  ASSERT_TRUE(applied->applied);
  EXPECT_EQ(applied->applied->customers_written, 2);
  EXPECT_EQ(connects_, 1) << "the client made once is kept from pass to pass";

  auto again = Pass(true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->result, PassResult::kNoChanges);
  EXPECT_EQ(again->customers.size(), 2u);

  std::filesystem::remove(repo_.root() / "customers" / "globex.yaml");
  auto deleted = Pass(true);
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  ASSERT_EQ(deleted->customers.size(), 2u);
  EXPECT_EQ(deleted->customers[1].name, "globex");
  EXPECT_EQ(deleted->customers[1].state, CustomerResult::State::kDeleted);
}

TEST_F(ReconcileTest, ATargetLimitsThePassAndAnUnknownNameIsAWarning) {
  ReconcileTarget target;
  target.customers = {"acme", "nobody"};
  auto pass = Pass(true, target);
  ASSERT_TRUE(pass.ok()) << pass.status().message();
  EXPECT_EQ(pass->result, PassResult::kApplied);
  EXPECT_EQ(pass->applied->customers_written, 1);
  ASSERT_EQ(pass->customers.size(), 1u) << "only the target's customers are reported";
  EXPECT_EQ(pass->customers[0].name, "acme");
  ASSERT_EQ(pass->warnings.size(), 1u);
  EXPECT_EQ(pass->warnings[0], "--customer nobody is not in the manifests");
}

TEST_F(ReconcileTest, ASafetyLimitRefusesThePlanAndNothingIsWritten) {
  repo_.Write("gwctl.yaml",
              "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\n"
              "spec: {safety: {maxDeletePercent: 30, minExisting: 1}}\n");
  ASSERT_EQ(Pass(true)->result, PassResult::kApplied);
  // Deleting every customer is over the limit.
  std::filesystem::remove(repo_.root() / "customers" / "acme.yaml");
  std::filesystem::remove(repo_.root() / "customers" / "globex.yaml");
  repo_.Write("customers/initech.yaml", Customer("initech"));
  auto pass = Pass(true);
  ASSERT_TRUE(pass.ok()) << pass.status().message();
  EXPECT_EQ(pass->result, PassResult::kRefused);
  EXPECT_FALSE(pass->plan.refusals.empty());
  EXPECT_FALSE(pass->applied);
  EXPECT_TRUE(gateway_->GetCustomer("northwind", "acme").ok());
}

TEST_F(ReconcileTest, AFailedCustomerMakesThePassPartialWithAWaitBeforeTheNext) {
  // Another partner holds globex.example: globex fails, acme is written.
  auto other = gw::ConnectGateway(gateway_url_);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->EnsurePartner("contoso").ok());
  gw::CustomerWrite squatter;
  squatter.spec = {{"product", "ultimate-defense"},
                   {"billableUsers", 1},
                   {"domains", {{"primary", "globex.example"}}},
                   {"destinations", "mx.globex.example"}};
  ASSERT_TRUE((*other)
                  ->PutCustomer("contoso", "squatter", squatter, gw::WriteCondition::CreateOnly())
                  .ok());

  auto pass = Pass(true);
  ASSERT_TRUE(pass.ok()) << pass.status().message();
  EXPECT_EQ(pass->result, PassResult::kPartial);
  ASSERT_TRUE(pass->requeue_after);
  EXPECT_EQ(*pass->requeue_after, std::chrono::seconds(2));
  ASSERT_EQ(pass->customers.size(), 2u);
  EXPECT_EQ(pass->customers[0].state, CustomerResult::State::kInSync);
  EXPECT_EQ(pass->customers[1].state, CustomerResult::State::kFailed);
  EXPECT_THAT(pass->customers[1].error, HasSubstr("globex.example"));

  // Once the domain is free the next pass converges and asks for nothing more.
  auto held = (*other)->GetCustomer("contoso", "squatter");
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE((*other)->DeleteCustomer("contoso", "squatter", held->version).ok());
  auto again = Pass(true);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->result, PassResult::kApplied);
  EXPECT_FALSE(again->requeue_after);
}

TEST_F(ReconcileTest, AGatewayThatCannotBeReachedFailsThePass) {
  gateway_url_ = "http://127.0.0.1:9";
  auto pass = Pass(false);
  ASSERT_FALSE(pass.ok());
  EXPECT_THAT(pass.status().message(), HasSubstr("127.0.0.1:9"));
}

TEST_F(ReconcileTest, SinceNeedsAGitSource) {
  ReconcileTarget target;
  target.since = "HEAD~1";
  auto pass = Pass(false, target);
  ASSERT_FALSE(pass.ok());
  EXPECT_EQ(pass.status().message(), "--since needs --repo");
}

}  // namespace
}  // namespace gwctl
