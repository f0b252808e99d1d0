// gwctl run, started as a process against a real gatewayd and a real git repository:
// polling, webhooks, drift, invalid commits, an unreachable gateway, SIGTERM mid-apply,
// and two loops sharing one partner.
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "apply_rounds.h"
#include "gatewayd_fixture.h"
#include "git_cli.h"
#include "hostile_clients.h"
#include "process.h"
#include "temp_repo.h"
#include "test_gateway.h"
#include "webhook.h"
#include "webhook_receiver.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string CustomerYaml(const std::string& name, int billable, int users = 0) {
  std::string text = fmt::format(
      "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {0}}}\nspec:\n"
      "  product: ultimate-defense\n  billableUsers: {1}\n  domains: {{primary: {0}.example}}\n"
      "  destinations: mx.{0}.example\n",
      name, billable);
  if (users > 0) {
    text += "  users:\n    mailboxes:\n";
    for (int i = 0; i < users; ++i)
      text += fmt::format("      - {{address: u{}@{}.example}}\n", i, name);
  }
  return text;
}

// Polls `done` every 20 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// Every test runs on both stores: gatewayd on its own SQLite file, and on a PostgreSQL
// of the test's own (gatewayd --store; skipped without root).
class LoopTest : public ::testing::TestWithParam<std::string> {
 protected:
  static constexpr const char* kSecret = "webhook-secret-for-tests";

  void SetUp() override {
    std::vector<std::string> store_args;
    if (GetParam() == "postgres") {
      if (std::string missing = gwtest::PostgresMissing(); !missing.empty())
        GTEST_SKIP() << missing;
      postgres_ = std::make_unique<gwtest::Postgres>();
      ASSERT_EQ(postgres_->problem(), "");
      store_args = {"--store", postgres_->url()};
    }
    gatewayd_ = std::make_unique<gwtest::Gatewayd>(std::vector<std::string>{"northwind", "contoso"},
                                                   store_args);
    ASSERT_TRUE(gatewayd_->started());
    ASSERT_TRUE(Operator()->EnsurePartner("northwind").ok());
    setenv("GWCTL_TOKEN", gwtest::Gatewayd::PartnerToken("northwind").c_str(), 1);
    repo_.WriteRepository("northwind");
    repo_.Write("customers/a.yaml", CustomerYaml("a", 5));
    repo_.Write("customers/b.yaml", CustomerYaml("b", 5));
    repo_.Write("secret.txt", kSecret);  // outside the manifests; read by --webhook-secret-file
    gwtest::Git(repo_.root(), "init -q");
    Commit("first");
  }

  std::string Commit(const std::string& message) {
    gwtest::Git(repo_.root(), "add -A");
    gwtest::Git(repo_.root(), "commit -q -m '" + message + "'");
    std::string head = gwtest::Git(repo_.root(), "rev-parse HEAD");
    return head.substr(0, 40);
  }

  std::unique_ptr<gw::GatewayClient> Operator() {
    return gatewayd_->Client(gwtest::Gatewayd::kOperatorToken);
  }

  // Starts `gwctl run`; returns the status server's URL ("" if it did not start).
  std::string StartLoop(std::unique_ptr<gwtest::ChildProcess>& loop,
                        std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {GWCTL_BINARY,
                                     "run",
                                     "--repo",
                                     repo_.root().string(),
                                     "--ref",
                                     "main",
                                     "--gateway",
                                     gateway_url_.empty() ? gatewayd_->url() : gateway_url_,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--webhook-secret-file",
                                     (repo_.root() / "secret.txt").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    loop = std::make_unique<gwtest::ChildProcess>(argv);
    auto line = loop->WaitForLine("listening on ");
    if (!line) return "";
    size_t start = line->find("http://");
    return line->substr(start, line->find_first_of(" \"", start) - start);
  }

  // A webhook receiver the loop tells (--notify-file), and the arguments that name it.
  std::vector<std::string> NotifyArgs(const gwtest::WebhookReceiver& receiver) {
    std::ofstream(repo_.root() / "webhooks") << "generic=" << receiver.Url("/loop") << "\n";
    return {"--notify-file", (repo_.root() / "webhooks").string()};
  }
  // The states the webhook was told for `key`, in order ("firing", "resolved").
  static std::vector<std::string> Told(gwtest::WebhookReceiver& receiver, const std::string& key,
                                       std::vector<std::string>& so_far) {
    for (const auto& request : receiver.Take()) {
      auto notice = nlohmann::json::parse(request.body);
      if (notice["key"] == key) so_far.push_back(notice["state"]);
    }
    return so_far;
  }

  nlohmann::json Status(const std::string& url, const std::string& query = "") {
    httplib::Client client(url);
    auto res = client.Get("/status" + query);
    if (!res || res->status != 200) return {};
    return nlohmann::json::parse(res->body);
  }

  bool Ready(const std::string& url) {
    httplib::Client client(url);
    auto res = client.Get("/readyz");
    return res && res->status == 200;
  }

  int64_t Billable(const std::string& customer) {
    auto c = Operator()->GetCustomer("northwind", customer);
    return c.ok() ? c->spec.value("billableUsers", int64_t{-1}) : -1;
  }

  std::unique_ptr<gwtest::Postgres> postgres_;
  std::unique_ptr<gwtest::Gatewayd> gatewayd_;
  std::string gateway_url_;  // the loop's --gateway when not gatewayd_
  testing::TempRepo repo_;
};

TEST_P(LoopTest, APushIsAppliedWithinThePollInterval) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1s"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  EXPECT_EQ(Billable("a"), 5);

  repo_.Write("customers/a.yaml", CustomerYaml("a", 9));
  std::string head = Commit("a: 9 users");
  // 1 s ± 10%, plus the pass itself.
  ASSERT_TRUE(WaitUntil([&] { return Billable("a") == 9; }, std::chrono::seconds(3)))
      << loop->output();
  ASSERT_TRUE(
      WaitUntil([&] { return Status(url)["appliedCommit"] == head; }, std::chrono::seconds(2)));
  auto status = Status(url);
  EXPECT_EQ(status["customers"][0]["name"], "a");
  EXPECT_EQ(status["customers"][0]["state"], "in-sync");
  EXPECT_EQ(status["customers"][0]["appliedCommit"], head);

  httplib::Client client(url);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_changes_applied_total{kind=\"update\"} 1"));
  EXPECT_THAT(metrics->body,
              HasSubstr(fmt::format("gwctl_applied_commit_info{{commit=\"{}\"}} 1", head)));
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_pass_duration_seconds_count"));
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_ready 1"));

  loop->Signal(SIGTERM);
  EXPECT_EQ(loop->Wait(), 0);
}

// The status server faces the internet (webhooks): 1,000 slow clients must not take
// /healthz away from the supervisor, and a huge webhook body is refused from its head.
TEST_P(LoopTest, SlowClientsAndHugeBodiesLeaveTheHealthCheckAnswered) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h"});
  ASSERT_FALSE(url.empty()) << loop->output();
  int port = gwtest::PortOf(url);
  {
    gwtest::SlowClients slow(port, 1000, "POST /hooks/g");
    for (int round = 0; round < 3; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto started = Clock::now();
      httplib::Client client(url);
      client.set_read_timeout(std::chrono::seconds(5));
      auto health = client.Get("/healthz");
      ASSERT_TRUE(health) << "round " << round;
      EXPECT_EQ(health->status, 200);
      EXPECT_LT(std::chrono::duration<double>(Clock::now() - started).count(), 1.0);
    }
  }
  std::string answer = gwtest::RawExchange(
      port, "POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 83886080\r\n\r\n");
  EXPECT_EQ(gwtest::StatusOf(answer), 413) << answer;
  loop->Signal(SIGTERM);
  EXPECT_EQ(loop->Wait(), 0);
}

TEST_P(LoopTest, ASignedWebhookIsAppliedAtOnceAndABadOneIsRefused) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();

  repo_.Write("customers/b.yaml", CustomerYaml("b", 7));
  Commit("b: 7 users");
  std::string body = R"({"ref":"refs/heads/main"})";
  httplib::Client client(url);
  auto unsigned_hook = client.Post("/hooks/git", body, "application/json");
  ASSERT_TRUE(unsigned_hook);
  EXPECT_EQ(unsigned_hook->status, 401);
  auto forged =
      client.Post("/hooks/git", {{"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("guess", body)}},
                  body, "application/json");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  EXPECT_TRUE(loop->WaitForLine("webhook refused: bad signature"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Billable("b"), 5);  // neither started a pass

  auto sent = Clock::now();
  auto signed_hook =
      client.Post("/hooks/git", {{"X-Hub-Signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}},
                  body, "application/json");
  ASSERT_TRUE(signed_hook);
  EXPECT_EQ(signed_hook->status, 202);
  ASSERT_TRUE(WaitUntil([&] { return Billable("b") == 7; }, std::chrono::seconds(1)))
      << loop->output();
  std::cerr << "webhook to live: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count()
            << " ms\n";

  // GitLab's form: the secret itself in a header.
  repo_.Write("customers/b.yaml", CustomerYaml("b", 8));
  Commit("b: 8 users");
  auto gitlab = client.Post("/hooks/git", {{"X-Gitlab-Token", kSecret}}, body, "application/json");
  ASSERT_TRUE(gitlab);
  EXPECT_EQ(gitlab->status, 202);
  EXPECT_TRUE(WaitUntil([&] { return Billable("b") == 8; }, std::chrono::seconds(1)));

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_webhooks_total{result=\"accepted\"} 2"));
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_webhooks_total{result=\"bad-signature\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_webhooks_total{result=\"unsigned\"} 1"));
}

TEST_P(LoopTest, AHandEditOnTheGatewayIsCorrected) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h", "--drift-interval", "500ms"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();

  auto partner = gatewayd_->Client(gwtest::Gatewayd::PartnerToken("northwind"));
  auto a = partner->GetCustomer("northwind", "a");
  ASSERT_TRUE(a.ok());
  gw::CustomerWrite edit{a->owner, a->applied_revision, a->labels, a->spec, {}};
  edit.spec["billableUsers"] = 99;  // someone in the panel
  ASSERT_TRUE(
      partner->PutCustomer("northwind", "a", edit, gw::WriteCondition::AtVersion(a->version)).ok());
  ASSERT_EQ(Billable("a"), 99);
  EXPECT_TRUE(WaitUntil([&] { return Billable("a") == 5; }, std::chrono::seconds(3)))
      << loop->output();
  EXPECT_TRUE(loop->WaitForLine("drift found"));
  httplib::Client client(url);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("gwctl_drift_found_total 1"));
}

// The embedded store shared by processes: the loop keeps its connection open from pass to
// pass, and must still see a hand edit another process makes, and let a CI apply through.
TEST_P(LoopTest, AnEmbeddedLoopSeesWhatOtherProcessesWriteToItsStore) {
  gateway_url_ =
      "embedded:" + (postgres_ ? postgres_->url() : (repo_.root() / "gateway.db").string());
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h", "--drift-interval", "300ms"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();

  auto store = std::move(gw::ConnectGateway(gateway_url_)).value();
  auto billable = [&] {
    auto c = store->GetCustomer("northwind", "a");
    return c.ok() ? c->spec.value("billableUsers", int64_t{-1}) : -1;
  };
  auto a = store->GetCustomer("northwind", "a");
  ASSERT_TRUE(a.ok()) << a.status().message();
  gw::CustomerWrite edit{a->owner, a->applied_revision, a->labels, a->spec, {}};
  edit.spec["billableUsers"] = 99;
  ASSERT_TRUE(
      store->PutCustomer("northwind", "a", edit, gw::WriteCondition::AtVersion(a->version)).ok());
  EXPECT_TRUE(WaitUntil([&] { return billable() == 5; }, std::chrono::seconds(5)))
      << loop->output();

  loop->Signal(SIGTERM);
  EXPECT_EQ(loop->Wait(), 0) << loop->output();

  // A CI job applies a newer manifest to the same store while a loop runs. That loop only
  // reports drift, so nothing races the apply; it must see the change as drift.
  url = StartLoop(loop, {"--interval", "1h", "--drift-interval", "300ms", "--drift", "report"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  repo_.Write("customers/a.yaml", CustomerYaml("a", 12));
  gwtest::ChildProcess apply({GWCTL_BINARY, "apply", repo_.root().string(), "--yes", "--gateway",
                              gateway_url_, "--lease-holder", "ci"});
  EXPECT_EQ(apply.Wait(), 0) << apply.output();
  EXPECT_EQ(billable(), 12);
  EXPECT_TRUE(WaitUntil([&] { return Status(url, "?state=drifted")["customers"].size() == 1; },
                        std::chrono::seconds(5)))
      << loop->output();
}

TEST_P(LoopTest, DriftIsOnlyReportedWhenAskedTo) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  gwtest::WebhookReceiver receiver;
  std::vector<std::string> args = NotifyArgs(receiver);
  args.insert(args.end(), {"--interval", "1h", "--drift-interval", "300ms", "--drift", "report"});
  std::string url = StartLoop(loop, args);
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  auto partner = gatewayd_->Client(gwtest::Gatewayd::PartnerToken("northwind"));
  auto b = partner->GetCustomer("northwind", "b");
  ASSERT_TRUE(b.ok());
  gw::CustomerWrite edit{b->owner, b->applied_revision, b->labels, b->spec, {}};
  edit.spec["billableUsers"] = 42;
  ASSERT_TRUE(
      partner->PutCustomer("northwind", "b", edit, gw::WriteCondition::AtVersion(b->version)).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto status = Status(url);
        return status["customers"].size() == 2 && status["customers"][1]["state"] == "drifted";
      },
      std::chrono::seconds(3)))
      << loop->output();
  EXPECT_EQ(Billable("b"), 42);  // left as it was
  std::vector<std::string> told;
  EXPECT_TRUE(
      WaitUntil([&] { return !Told(receiver, "drift/b", told).empty(); }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // more drift passes: told once
  EXPECT_EQ(Told(receiver, "drift/b", told), std::vector<std::string>{"firing"});
}

TEST_P(LoopTest, AnInvalidCommitKeepsThePreviousOneEnforced) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "300ms", "--drift-interval", "500ms"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  std::string good = Status(url)["appliedCommit"];

  repo_.Write("customers/a.yaml", CustomerYaml("a", 9) + "  bogusField: 1\n");
  std::string bad = Commit("a broken manifest");
  ASSERT_TRUE(
      WaitUntil([&] { return Status(url)["rejectedCommit"] == bad; }, std::chrono::seconds(3)))
      << loop->output();
  auto status = Status(url);
  EXPECT_EQ(status["appliedCommit"], good);
  EXPECT_THAT(status["rejectedReason"].get<std::string>(), HasSubstr("bogusField"));
  EXPECT_EQ(Billable("a"), 5);
  EXPECT_TRUE(loop->WaitForLine("is not applied: the manifests are invalid"));

  // The good commit is still enforced: drift is put back.
  auto partner = gatewayd_->Client(gwtest::Gatewayd::PartnerToken("northwind"));
  auto a = partner->GetCustomer("northwind", "a");
  gw::CustomerWrite edit{a->owner, a->applied_revision, a->labels, a->spec, {}};
  edit.spec["billableUsers"] = 77;
  ASSERT_TRUE(
      partner->PutCustomer("northwind", "a", edit, gw::WriteCondition::AtVersion(a->version)).ok());
  EXPECT_TRUE(WaitUntil([&] { return Billable("a") == 5; }, std::chrono::seconds(3)))
      << loop->output();

  // A fixed commit is applied.
  repo_.Write("customers/a.yaml", CustomerYaml("a", 9));
  std::string fixed = Commit("fixed");
  EXPECT_TRUE(WaitUntil([&] { return Billable("a") == 9; }, std::chrono::seconds(3)));
  EXPECT_TRUE(
      WaitUntil([&] { return Status(url)["appliedCommit"] == fixed; }, std::chrono::seconds(2)));
}

TEST_P(LoopTest, AGatewayDownForAWhileThenBackConverges) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  gwtest::WebhookReceiver receiver;
  std::vector<std::string> args = NotifyArgs(receiver);
  args.insert(args.end(), {"--interval", "300ms"});
  std::string url = StartLoop(loop, args);
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();

  gatewayd_->Kill();
  repo_.Write("customers/a.yaml", CustomerYaml("a", 11));
  Commit("a: 11 while the gateway is down");
  EXPECT_TRUE(loop->WaitForLine("pass failed", std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  gatewayd_->Restart();
  ASSERT_TRUE(gatewayd_->started());
  EXPECT_TRUE(WaitUntil([&] { return Billable("a") == 11; }, std::chrono::seconds(10)))
      << loop->output();
  // Down for about 2 s with a poll every 300 ms: the backoff (1 s, then 2 s), not the
  // poll, set the pace of the attempts.
  size_t failed = 0;
  for (size_t at = 0; (at = loop->output().find("pass failed", at)) != std::string::npos; ++at)
    ++failed;
  EXPECT_GE(failed, 1u);
  EXPECT_LE(failed, 4u) << loop->output();
  // The webhook heard that the loop could not sync, once, and that it can again.
  std::vector<std::string> told;
  EXPECT_TRUE(
      WaitUntil([&] { return Told(receiver, "sync", told).size() >= 2; }, std::chrono::seconds(5)));
  EXPECT_EQ(told, (std::vector<std::string>{"firing", "resolved"})) << loop->output();
}

TEST_P(LoopTest, SigtermDuringAnApplyLeavesAStateTheNextStartFinishes) {
  for (int i = 0; i < 60; ++i)
    repo_.Write(fmt::format("customers/c{}.yaml", i),
                CustomerYaml(fmt::format("c{}", i), 500, 400));
  std::string head = Commit("sixty customers with 400 users each");
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h", "--parallelism", "1"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(loop->WaitForLine("pass started"));
  // Signalled once the first customer is on the gateway: inside the apply, however fast
  // this machine is.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto written = Operator()->GetState("northwind");
        return written.ok() && written->customers.size() > 2;
      },
      std::chrono::seconds(30)))
      << loop->output();
  loop->Signal(SIGTERM);
  auto stopped = Clock::now();
  EXPECT_EQ(loop->Wait(), 0) << loop->output();
  EXPECT_LT(Clock::now() - stopped, std::chrono::seconds(10));
  EXPECT_THAT(loop->output(), HasSubstr("stopping: the changes in flight finish"));
  // It was stopped part way: some customers written, the rest left for the next start.
  EXPECT_THAT(loop->output(), HasSubstr("pass finished result=partial"));

  std::unique_ptr<gwtest::ChildProcess> again;
  url = StartLoop(again, {"--interval", "1h"});
  ASSERT_FALSE(url.empty()) << again->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(30))) << again->output();
  auto state = Operator()->GetState("northwind");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->customers.size(), 62u);
  for (const auto& c : state->customers) {
    if (c.name.rfind("c", 0) == 0) {
      EXPECT_EQ(c.user_count, 400) << c.name;
    }
    EXPECT_EQ(c.applied_revision, head) << c.name;
  }
}

TEST_P(LoopTest, TwoLoopsAgainstOnePartnerNeverApplyAtOnce) {
  // Every round updates all customers: lift the update limit that would refuse that.
  repo_.Write("gwctl.yaml",
              "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\n"
              "spec: {safety: {maxUpdatePercent: 100}}\n");
  for (int i = 0; i < 20; ++i)
    repo_.Write(fmt::format("customers/c{}.yaml", i),
                CustomerYaml(fmt::format("c{}", i), 500, 200));
  Commit("twenty customers");
  std::unique_ptr<gwtest::ChildProcess> first, second;
  std::string url1 = StartLoop(first, {"--interval", "200ms", "--lease-holder", "loop-one"});
  std::string url2 = StartLoop(second, {"--interval", "200ms", "--lease-holder", "loop-two"});
  ASSERT_FALSE(url1.empty() || url2.empty());
  // Both edit the same customers, commit after commit.
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 20; ++i)
      repo_.Write(fmt::format("customers/c{}.yaml", i),
                  CustomerYaml(fmt::format("c{}", i), 501 + round, 200));
    Commit(fmt::format("round {}", round));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  ASSERT_TRUE(WaitUntil([&] { return Billable("c19") == 504; }, std::chrono::seconds(20)))
      << first->output() << "\n-----\n"
      << second->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url1) && Ready(url2); }, std::chrono::seconds(20)));

  // The audit log: every acquisition is released before the next one, and every write
  // happens while some loop holds the lease.
  auto audit = Operator()->ListAudit("northwind", 0, 100000);
  ASSERT_TRUE(audit.ok());
  auto history = gwtest::ReadLeaseHistory(*audit);
  EXPECT_THAT(history.problems, ::testing::IsEmpty());
  EXPECT_GT(history.writes, 20u);
  auto holders = history.Holders();
  EXPECT_EQ(std::set<std::string>(holders.begin(), holders.end()),
            (std::set<std::string>{"loop-one", "loop-two"}));
}

TEST_P(LoopTest, AFailingCustomerIsRetriedWithBackoffWhileTheOthersConverge) {
  // Another partner holds the domain, so the gateway refuses this customer (422).
  auto contoso = gatewayd_->Client(gwtest::Gatewayd::PartnerToken("contoso"));
  ASSERT_TRUE(Operator()->EnsurePartner("contoso").ok());
  gw::CustomerWrite squatter;
  squatter.spec = {
      {"product", "ultimate-defense"},
      {"billableUsers", 1},
      {"domains", {{"primary", "blocked.example"}}},
      {"destinations", {{{"host", "mx.blocked.example"}, {"port", 25}, {"preference", 10}}}}};
  auto held =
      contoso->PutCustomer("contoso", "squatter", squatter, gw::WriteCondition::CreateOnly());
  ASSERT_TRUE(held.ok()) << held.status().message();
  repo_.Write("customers/blocked.yaml", CustomerYaml("blocked", 3));
  Commit("a customer whose domain is taken");

  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  auto customer = [&](const std::string& name) -> nlohmann::json {
    nlohmann::json status = Status(url);
    for (const auto& c : status["customers"]) {
      if (c["name"] == name) return c;
    }
    return nullptr;
  };
  EXPECT_EQ(customer("a")["state"], "in-sync");
  EXPECT_EQ(customer("b")["state"], "in-sync");
  EXPECT_EQ(customer("blocked")["state"], "failed");
  EXPECT_THAT(customer("blocked")["lastError"].get<std::string>(), HasSubstr("blocked.example"));
  EXPECT_FALSE(customer("blocked")["nextRetry"].is_null());
  // Retried on its own (2 s, then 4 s later).
  ASSERT_TRUE(
      WaitUntil([&] { return customer("blocked")["failures"] == 2; }, std::chrono::seconds(5)))
      << loop->output();
  EXPECT_TRUE(loop->WaitForLine("reason=retry commit="));

  ASSERT_TRUE(contoso->DeleteCustomer("contoso", "squatter", held->version).ok());
  EXPECT_TRUE(
      WaitUntil([&] { return customer("blocked")["state"] == "in-sync"; }, std::chrono::seconds(8)))
      << loop->output();
  EXPECT_EQ(Billable("blocked"), 3);
}

TEST_P(LoopTest, SighupReReadsTheWebhookSecret) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h", "--log-format", "json"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  repo_.Write("secret.txt", "rotated-secret");
  loop->Signal(SIGHUP);
  ASSERT_TRUE(loop->WaitForLine("configuration reloaded"));
  httplib::Client client(url);
  std::string body = "{}";
  auto old_secret =
      client.Post("/hooks/git", {{"X-Gitlab-Token", kSecret}}, body, "application/json");
  ASSERT_TRUE(old_secret);
  EXPECT_EQ(old_secret->status, 401);
  auto new_secret =
      client.Post("/hooks/git", {{"X-Gitlab-Token", "rotated-secret"}}, body, "application/json");
  ASSERT_TRUE(new_secret);
  EXPECT_EQ(new_secret->status, 202);

  loop->Signal(SIGTERM);
  EXPECT_EQ(loop->Wait(), 0);
  // --log-format json: every line one object with time, level and msg; no secret in any.
  std::istringstream lines(loop->output());
  size_t count = 0;
  for (std::string line; std::getline(lines, line);) {
    auto object = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(object.is_discarded()) << line;
    EXPECT_TRUE(object.contains("time") && object.contains("level") && object.contains("msg"));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("rotated-secret")));
    ++count;
  }
  EXPECT_GE(count, 5u);
}

// The status page at `url` as headless Chromium leaves it: the page's script fetches
// /status and re-renders (body data-refreshed="yes") under the page's own
// Content-Security-Policy; virtual time lets it run before the DOM is dumped.
std::string RenderedPage(const std::string& url) {
  auto profile = gwtest::MakeTempDir("chromium-profile");
  auto dom_file = profile / "dom.html";
  std::string command = fmt::format(
      "'{}' --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='{}' "
      "--virtual-time-budget=5000 --dump-dom '{}/' > '{}' 2>/dev/null",
      CHROMIUM_BINARY, profile.string(), url, dom_file.string());
  int code = std::system(command.c_str());
  std::ifstream in(dom_file);
  std::string dom((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove_all(profile);
  EXPECT_EQ(code, 0) << "chromium is needed (ci/setup --tests)";
  return dom;
}

TEST_P(LoopTest, TheStatusPageRendersInAHeadlessBrowser) {
  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(10))) << loop->output();
  std::string dom = RenderedPage(url);
  EXPECT_THAT(dom, HasSubstr("data-refreshed=\"yes\""));
  EXPECT_THAT(
      dom, HasSubstr("<tr data-customer=\"a\"><td>a</td><td class=\"state in-sync\">in-sync</td>"));
  EXPECT_THAT(dom, HasSubstr("<tr data-customer=\"b\">"));
  EXPECT_THAT(dom, HasSubstr("<b id=\"last-result\">"));
}

// Hundreds of customers: /status filters by state and by name and counts every state;
// the page lists the customers that need attention and counts the rest.
TEST_P(LoopTest, StatusFiltersAndThePageOfALargePartnerListsWhatNeedsAttention) {
  ASSERT_TRUE(Operator()->EnsurePartner("contoso").ok());
  gw::CustomerWrite squatter;
  squatter.spec = {{"product", "ultimate-defense"},
                   {"billableUsers", 1},
                   {"domains", {{"primary", "blocked.example"}}},
                   {"destinations", "mx.blocked.example"}};
  ASSERT_TRUE(gatewayd_->Client(gwtest::Gatewayd::PartnerToken("contoso"))
                  ->PutCustomer("contoso", "squatter", squatter, gw::WriteCondition::CreateOnly())
                  .ok());
  for (int i = 0; i < 250; ++i)
    repo_.Write(fmt::format("customers/c{:03d}.yaml", i),
                CustomerYaml(fmt::format("c{:03d}", i), 1));
  repo_.Write("customers/blocked.yaml", CustomerYaml("blocked", 3));
  Commit("252 customers and one whose domain is taken");

  std::unique_ptr<gwtest::ChildProcess> loop;
  std::string url = StartLoop(loop, {"--interval", "1h"});
  ASSERT_FALSE(url.empty()) << loop->output();
  ASSERT_TRUE(WaitUntil([&] { return Ready(url); }, std::chrono::seconds(20))) << loop->output();
  nlohmann::json all = Status(url);
  EXPECT_EQ(all["customerStates"], (nlohmann::json{{"in-sync", 252}, {"failed", 1}}));
  EXPECT_EQ(all["customers"].size(), 253u);

  nlohmann::json failed = Status(url, "?state=failed,conflict");
  ASSERT_EQ(failed["customers"].size(), 1u);
  EXPECT_EQ(failed["customers"][0]["name"], "blocked");
  EXPECT_EQ(failed["customerStates"], all["customerStates"]);
  nlohmann::json one = Status(url, "?customer=c007");
  ASSERT_EQ(one["customers"].size(), 1u);
  EXPECT_EQ(one["customers"][0]["state"], "in-sync");
  EXPECT_EQ(Status(url, "?customer=nobody")["customers"].size(), 0u);
  auto bogus = httplib::Client(url).Get("/status?state=broken");
  ASSERT_TRUE(bogus);
  EXPECT_EQ(bogus->status, 400);
  EXPECT_THAT(bogus->body, HasSubstr("unknown state 'broken'"));

  // The page as served, and as its script re-renders it.
  auto served = httplib::Client(url).Get("/");
  ASSERT_TRUE(served);
  std::string dom = RenderedPage(url);
  for (const std::string& page : {served->body, dom}) {
    EXPECT_THAT(page, HasSubstr("<tr data-customer=\"blocked\">"));
    EXPECT_THAT(page, ::testing::Not(HasSubstr("data-customer=\"c007\"")));
    EXPECT_THAT(page, HasSubstr("252 customers in sync are not listed"));
  }
  EXPECT_THAT(dom, HasSubstr("data-refreshed=\"yes\""));
}

INSTANTIATE_TEST_SUITE_P(Stores, LoopTest,
                         ::testing::Values(std::string("sqlite"), std::string("postgres")),
                         gwtest::TransportTestName);

}  // namespace
}  // namespace gwctl
