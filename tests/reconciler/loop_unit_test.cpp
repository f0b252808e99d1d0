// The reconcile loop in-process, on a clock the test moves by hand: backoff of passes that
// cannot run and of failed customers, requests merging into one pass, and the lease,
// without a wall-clock wait. (loop_test.cpp runs `gwctl run` as a process.)
#include "loop.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "temp_repo.h"

namespace gwctl {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::system_clock;

std::string Customer(const std::string& name, const std::string& domain) {
  return fmt::format(
      "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {}}}\nspec:\n"
      "  product: ultimate-access\n  billableUsers: 5\n  domains: {{primary: {}}}\n"
      "  destinations: mx.{}\n",
      name, domain, domain);
}

class LoopUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.WriteRepository("northwind");
    repo_.Write("customers/a.yaml", Customer("a", "a.example"));
    repo_.Write("customers/b.yaml", Customer("b", "b.example"));
  }

  std::unique_ptr<ReconcileLoop> MakeLoop(const std::string& gateway) {
    LoopOptions options;
    options.pass.directory = repo_.root().string();
    options.pass.gateway = gateway;
    options.pass.no_ldap = true;
    options.lease_holder = "loop-unit-test";
    options.lease_wait_seconds = 0;
    options.now = [this] { return now_; };
    return std::make_unique<ReconcileLoop>(options, log_, metrics_);
  }

  // One pass for `reason`, run here and now.
  static void Pass(ReconcileLoop& loop, ReconcileLoop::Reason reason) {
    loop.Request(reason);
    loop.RunPending();
  }

  std::unique_ptr<gw::GatewayClient> Gateway() {
    return std::move(gw::ConnectGateway(store_url_)).value();
  }

  testing::TempRepo repo_;
  std::string store_url_ = "embedded:" + (repo_.root() / "gateway.db").string();
  Clock::time_point now_ = Clock::time_point(std::chrono::hours(24 * 365 * 56));
  std::ostringstream log_text_;
  LoopLog log_{false, log_text_};
  LoopMetrics metrics_;
};

TEST_F(LoopUnitTest, APassThatCannotRunIsRetriedWithDoublingBackoffAndOthersWait) {
  auto loop = MakeLoop("http://127.0.0.1:9");  // nothing listens there
  Pass(*loop, ReconcileLoop::kSync);
  EXPECT_EQ(loop->Status().last_result, "failed");
  EXPECT_EQ(loop->NextRetry(), now_ + 1s);

  // A poll inside the backoff does not start a pass.
  now_ += 500ms;
  Pass(*loop, ReconcileLoop::kSync);
  EXPECT_EQ(loop->Status().passes, 1u);

  now_ += 500ms;
  Pass(*loop, ReconcileLoop::kRetry);
  EXPECT_EQ(loop->Status().passes, 2u);
  EXPECT_EQ(loop->NextRetry(), now_ + 2s);
  now_ += 2s;
  Pass(*loop, ReconcileLoop::kRetry);
  EXPECT_EQ(loop->NextRetry(), now_ + 4s);
  EXPECT_FALSE(loop->Ready());
}

TEST_F(LoopUnitTest, RequestsQueuedTogetherMergeIntoOnePass) {
  auto loop = MakeLoop(store_url_);
  loop->Request(ReconcileLoop::kSync);
  loop->Request(ReconcileLoop::kDrift);
  loop->Request(ReconcileLoop::kSync);
  loop->RunPending();
  LoopStatus status = loop->Status();
  EXPECT_EQ(status.passes, 1u);
  EXPECT_EQ(status.last_result, "ok");
  EXPECT_TRUE(loop->Ready());
  EXPECT_EQ(status.customers.at("a").state, "in-sync");
  EXPECT_FALSE(loop->NextRetry());
}

TEST_F(LoopUnitTest, AFailedCustomerIsRetriedAtItsBackoffAloneUntilItConverges) {
  // Another partner holds b.example: b fails, a converges.
  auto gateway = Gateway();
  ASSERT_TRUE(gateway->EnsurePartner("contoso").ok());
  gw::CustomerWrite squatter;
  squatter.spec = {{"product", "ultimate-defense"},
                   {"billableUsers", 1},
                   {"domains", {{"primary", "b.example"}}},
                   {"destinations", "mx.b.example"}};
  auto held =
      gateway->PutCustomer("contoso", "squatter", squatter, gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(held.ok()) << held.status().message();

  auto loop = MakeLoop(store_url_);
  Pass(*loop, ReconcileLoop::kSync);
  LoopStatus status = loop->Status();
  EXPECT_EQ(status.last_result, "partial");
  EXPECT_EQ(status.customers.at("a").state, "in-sync");
  EXPECT_EQ(status.customers.at("b").state, "failed");
  EXPECT_THAT(status.customers.at("b").last_error, HasSubstr("b.example"));
  EXPECT_EQ(loop->NextRetry(), now_ + 2s);

  // Not due yet: the retry timer's pass does nothing.
  now_ += 1s;
  Pass(*loop, ReconcileLoop::kRetry);
  EXPECT_EQ(loop->Status().last_result, "unchanged");
  EXPECT_EQ(loop->Status().customers.at("b").failures, 1);

  now_ += 1s;
  Pass(*loop, ReconcileLoop::kRetry);
  EXPECT_EQ(loop->Status().customers.at("b").failures, 2);
  EXPECT_EQ(loop->NextRetry(), now_ + 4s);
  EXPECT_THAT(log_text_.str(), HasSubstr("reason=retry commit=\"\" customers=\"[\\\"b\\\"]\""))
      << "the retry pass covers the failed customer alone";

  ASSERT_TRUE(gateway->DeleteCustomer("contoso", "squatter", held->version).ok());
  now_ += 4s;
  Pass(*loop, ReconcileLoop::kRetry);
  EXPECT_EQ(loop->Status().customers.at("b").state, "in-sync");
  EXPECT_FALSE(loop->NextRetry());
}

TEST_F(LoopUnitTest, ALeaseHeldByAnotherFailsThePassUntilItIsReleased) {
  auto gateway = Gateway();
  ASSERT_TRUE(gateway->EnsurePartner("northwind").ok());
  ASSERT_TRUE(gateway->TakeLease("northwind", "ci-apply", 60).ok());
  auto loop = MakeLoop(store_url_);
  Pass(*loop, ReconcileLoop::kSync);
  EXPECT_EQ(loop->Status().last_result, "failed");
  EXPECT_THAT(loop->Status().last_error, HasSubstr("ci-apply"));
  EXPECT_EQ(loop->NextRetry(), now_ + 1s);

  ASSERT_TRUE(gateway->TakeLease("northwind", "ci-apply", 0).ok());
  now_ += 1s;
  Pass(*loop, ReconcileLoop::kRetry);
  EXPECT_EQ(loop->Status().last_result, "ok");
  EXPECT_TRUE(loop->Ready());
}

}  // namespace
}  // namespace gwctl
