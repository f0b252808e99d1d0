// plan and apply against a real gateway: the embedded engine and a gatewayd process over
// HTTP. Each test checks the gateway's resulting state, not the calls made.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "gwctl/apply.h"
#include "gwctl/desired_state.h"
#include "gwctl/plan.h"
#include "temp_repo.h"
#include "test_gateway.h"

namespace gwctl {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr const char* kPartner = "northwind";

std::string Customer(const std::string& name, const std::string& extra = "",
                     const std::string& product = "ultimate-access") {
  return fmt::format(
      "apiVersion: gwctl/v1\nkind: Customer\nmetadata: {{name: {0}, labels: {{tier: "
      "gold}}}}\nspec:\n"
      "  product: {2}\n  billableUsers: 10\n  domains: {{primary: {0}.example, "
      "aliases: [{0}.co.uk]}}\n"
      "  destinations: mx.{0}.example\n  filtering: {{contentFilter: {{maxMessageSize: 50MiB}}}}\n"
      "  users:\n    mailboxes:\n      - {{address: alice@{0}.example, firstName: Alice}}\n    "
      "csv: [{0}.csv]\n{1}",
      name, extra, product);
}

// A decorator that makes the gateway unreliable: some calls fail before reaching it,
// and some fail after it has acted (the answer is lost), as a flaky network would.
class FlakyGateway final : public gw::GatewayClient {
 public:
  FlakyGateway(gw::GatewayClient& inner, double failure_rate)
      : inner_(inner), rate_(failure_rate) {}
  std::string Describe() const override { return inner_.Describe(); }
  gw::Status EnsurePartner(const std::string& p) override { return inner_.EnsurePartner(p); }
  gw::Result<gw::PartnerState> GetState(const std::string& p) override {
    return Flaky<gw::PartnerState>([&] { return inner_.GetState(p); });
  }
  gw::Result<gw::Customer> GetCustomer(const std::string& p, const std::string& n) override {
    return Flaky<gw::Customer>([&] { return inner_.GetCustomer(p, n); });
  }
  gw::Result<gw::Customer> PutCustomer(const std::string& p, const std::string& n,
                                       const gw::CustomerWrite& w, gw::WriteCondition c) override {
    return Flaky<gw::Customer>([&] { return inner_.PutCustomer(p, n, w, c); });
  }
  gw::Status DeleteCustomer(const std::string& p, const std::string& n, int64_t v) override {
    return Flaky<bool>([&]() -> gw::Result<bool> {
             gw::Status s = inner_.DeleteCustomer(p, n, v);
             if (!s.ok()) return s;
             return true;
           })
        .status();
  }
  gw::Result<gw::UserPage> ListUsers(const std::string& p, const std::string& c,
                                     const std::string& a, size_t l) override {
    return Flaky<gw::UserPage>([&] { return inner_.ListUsers(p, c, a, l); });
  }
  gw::Result<gw::UserBatchResult> BatchUsers(const std::string& p, const std::string& c,
                                             const gw::UserBatch& b) override {
    return Flaky<gw::UserBatchResult>([&] { return inner_.BatchUsers(p, c, b); });
  }
  gw::Result<gw::Lease> TakeLease(const std::string& p, const std::string& h, int64_t t) override {
    return inner_.TakeLease(p, h, t);
  }
  gw::Result<std::vector<gw::AuditEntry>> ListAudit(const std::string& p, int64_t a,
                                                    size_t l) override {
    return inner_.ListAudit(p, a, l);
  }
  gw::Result<int64_t> Quarantine(const std::string& p, const gw::QuarantinedMessage& m,
                                 const std::string& message) override {
    return inner_.Quarantine(p, m, message);
  }
  gw::Result<std::vector<gw::QuarantinedMessage>> ListQuarantine(const std::string& p,
                                                                 const std::string& c, int64_t a,
                                                                 size_t l) override {
    return inner_.ListQuarantine(p, c, a, l);
  }
  gw::Result<gw::QuarantinedMessage> ReleaseQuarantined(const std::string& p, const std::string& c,
                                                        int64_t id) override {
    return inner_.ReleaseQuarantined(p, c, id);
  }
  gw::Result<int64_t> Archive(const std::string& p, const gw::ArchivedMessage& m,
                              const std::string& message, const std::string& text) override {
    return inner_.Archive(p, m, message, text);
  }
  gw::Result<std::vector<gw::ArchivedMessage>> SearchArchive(const std::string& p,
                                                             const std::string& c,
                                                             const gw::ArchiveQuery& q) override {
    return inner_.SearchArchive(p, c, q);
  }
  gw::Result<std::string> LoadArchived(const std::string& p, const std::string& c,
                                       int64_t id) override {
    return inner_.LoadArchived(p, c, id);
  }
  gw::Result<std::string> ExportArchive(const std::string& p, const std::string& c,
                                        const gw::ArchiveQuery& q,
                                        const std::string& format) override {
    return inner_.ExportArchive(p, c, q, format);
  }
  gw::Result<gw::ArchiveCheck> VerifyArchive(const std::string& p, const std::string& c) override {
    return inner_.VerifyArchive(p, c);
  }
  gw::Result<std::vector<gw::PersonalListEntry>> ListPersonalEntries(
      const std::string& p, const std::string& c) override {
    return inner_.ListPersonalEntries(p, c);
  }
  gw::Result<std::optional<std::vector<gw::ContinuityEntry>>> ListContinuity(
      const std::string& p) override {
    return inner_.ListContinuity(p);
  }
  gw::Status SetContinuityPassword(const std::string& p, const std::string& c, const std::string& a,
                                   const std::string& password) override {
    return inner_.SetContinuityPassword(p, c, a, password);
  }
  gw::Result<gw::GatewayFacts> GetFacts() override { return inner_.GetFacts(); }
  gw::Result<std::vector<gw::DomainClaim>> CheckDomains(const std::string& p,
                                                        const std::string& c) override {
    return inner_.CheckDomains(p, c);
  }
  int failures() const { return failures_; }

 private:
  template <typename T, typename Call>
  gw::Result<T> Flaky(Call call) {
    std::uniform_real_distribution<double> dice(0, 1);
    double roll;
    {
      std::lock_guard lock(mutex_);
      roll = dice(random_);
    }
    gw::Status lost(gw::StatusCode::kUnavailable, "injected fault");
    if (roll < rate_ / 2) {
      ++failures_;
      return lost;  // never reached the gateway
    }
    gw::Result<T> result = call();
    if (roll < rate_) {
      ++failures_;
      return lost;  // reached it, but the answer was lost
    }
    return result;
  }

  gw::GatewayClient& inner_;
  double rate_;
  std::mutex mutex_;
  std::mt19937 random_{12345};
  std::atomic<int> failures_{0};
};

class PlanApplyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::TransportMissing(GetParam()); !missing.empty()) {
      GTEST_SKIP() << GetParam() << " transport skipped: " << missing;
    }
    setenv("GWCTL_SECRET_ACME_PANEL_PASSWORD", "first-password", 1);
    repo_.WriteRepository(kPartner);
    server_ = std::make_unique<gwtest::TestGateway>(
        GetParam(), repo_.root() / ".gwctl" / "gateway.db", std::vector<std::string>{kPartner});
    ASSERT_TRUE(server_->ready());
    gateway_ = server_->Client(kPartner);
  }

  void WriteCustomer(const std::string& name, int users, const std::string& extra = "") {
    repo_.Write("customers/" + name + ".yaml", Customer(name, extra));
    std::string csv = "email,first_name,last_name,type,aliases\n";
    for (int i = 0; i < users; ++i) csv += fmt::format("user{}@{}.example,User,{},,\n", i, name, i);
    repo_.Write("customers/" + name + ".csv", csv);
  }

  // Validates the repository and plans against the gateway; the manifests stay alive in
  // validation_ for as long as the desired state points into them.
  Plan MakePlan(PlanOptions options = {}, gw::GatewayClient* through = nullptr) {
    validation_ = repo_.Validate();
    EXPECT_FALSE(validation_.diagnostics.has_errors())
        << testing::Lines(validation_.diagnostics)[0];
    DesiredOptions desired_options;
    auto desired = BuildDesiredState(validation_.manifests, desired_options);
    EXPECT_TRUE(desired.ok()) << desired.status().message();
    desired_ = std::move(*desired);
    if (options.safety.protect.empty() && options.safety.min_existing == 10)
      options.safety.min_existing = 1000;
    auto plan = ComputePlan(desired_, through ? *through : *gateway_, options);
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    return plan.ok() ? *plan : Plan{};
  }

  ApplyReport Apply(const Plan& plan, gw::GatewayClient* through = nullptr) {
    ApplyOptions options;
    options.lease_holder = "test";
    options.max_attempts = 10;
    auto report = ApplyPlan(plan, desired_, through ? *through : *gateway_, options);
    EXPECT_TRUE(report.ok()) << report.status().message();
    return report.ok() ? *report : ApplyReport{};
  }

  // Plans and applies until nothing is left (at most `rounds` times).
  void Converge(int rounds = 1, gw::GatewayClient* through = nullptr, PlanOptions options = {}) {
    for (int i = 0; i < rounds; ++i) {
      Plan plan = MakePlan(options, through);
      if (plan.empty()) return;
      Apply(plan, through);
    }
  }

  // A customer another repository manages, made straight on the gateway.
  gw::Status PutForeignCustomer(const std::string& name, const std::string& domain) {
    gw::CustomerWrite theirs;
    theirs.owner = "gwctl:someone-else";
    theirs.spec = {{"product", "ultimate-defense"},
                   {"billableUsers", 1},
                   {"domains", {{"primary", domain}}},
                   {"destinations", "mx." + domain}};
    return gateway_->PutCustomer(kPartner, name, theirs, gw::WriteCondition::CreateOnly()).status();
  }

  std::vector<gw::User> UsersOf(const std::string& customer) {
    auto users = gw::ListAllUsers(*gateway_, kPartner, customer);
    EXPECT_TRUE(users.ok()) << users.status().message();
    return users.ok() ? std::move(*users) : std::vector<gw::User>{};
  }

  testing::TempRepo repo_;
  std::unique_ptr<gwtest::TestGateway> server_;
  std::unique_ptr<gw::GatewayClient> gateway_;
  ValidationReport validation_;
  DesiredState desired_;
};

TEST_P(PlanApplyTest, ApplyThenPlanIsEmptyForEveryExample) {
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(GWCTL_SOURCE_DIR "/examples")) {
    auto relative = entry.path().lexically_relative(GWCTL_SOURCE_DIR "/examples").generic_string();
    if (relative.rfind("invalid", 0) == 0 || relative.rfind("gatewayd", 0) == 0 ||
        !entry.is_regular_file())
      continue;
    std::ifstream in(entry.path());
    repo_.Write(relative, std::string(std::istreambuf_iterator<char>(in), {}));
  }
  repo_.Write("gwctl.yaml",
              "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\nspec: {}\n");
  Plan first = MakePlan();
  EXPECT_EQ(first.Count(ChangeKind::kCreate), 9u);
  ApplyReport report = Apply(first);
  EXPECT_TRUE(report.ok()) << (report.failed.empty() ? "" : report.failed.begin()->second);
  Plan second = MakePlan();
  EXPECT_TRUE(second.empty()) << second.changes[0].customer;
  // The gateway holds what the manifests say, owned and with the secret as a fingerprint.
  auto acme = gateway_->GetCustomer(kPartner, "acme");
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ(acme->owner, "gwctl:northwind");
  EXPECT_EQ(acme->spec["filtering"]["contentFilter"]["maxMessageSize"], "50MiB");
  EXPECT_EQ(acme->spec["filtering"]["level"], "premium");  // inherited from defaults.yaml
  EXPECT_FALSE(acme->spec["users"].contains("mailboxes"));
  EXPECT_TRUE(
      gw::SecretMatches(acme->secret_fingerprints.at("/panelLogin/password"), "first-password"));
  EXPECT_EQ(UsersOf("acme").size(), 7u);
}

TEST_P(PlanApplyTest, EachFieldChangeIsExactlyOneChange) {
  WriteCustomer("acme", 3);
  Converge();
  struct Edit {
    std::string from, to, path;
  };
  std::vector<Edit> edits = {
      {"maxMessageSize: 50MiB", "maxMessageSize: 40MiB", "filtering.contentFilter.maxMessageSize"},
      {"aliases: [acme.co.uk]", "aliases: [acme.co.uk, acme.eu]", "domains.aliases"},
      {"billableUsers: 10", "billableUsers: 11", "billableUsers"},
      {"tier: gold", "tier: silver", "labels.tier"},
      {"destinations: mx.acme.example", "destinations: mx2.acme.example", "destinations"}};
  for (const auto& edit : edits) {
    std::string text = Customer("acme");
    text.replace(text.find(edit.from), edit.from.size(), edit.to);
    repo_.Write("customers/acme.yaml", text);
    Plan plan = MakePlan();
    ASSERT_THAT(plan.changes, SizeIs(1)) << edit.path;
    ASSERT_THAT(plan.changes[0].fields, SizeIs(1)) << edit.path;
    EXPECT_EQ(plan.changes[0].fields[0].path, edit.path);
    EXPECT_TRUE(plan.changes[0].users.empty());
    EXPECT_EQ(plan.changes[0].fields[0].source.file, "customers/acme.yaml");
    Apply(plan);
    EXPECT_TRUE(MakePlan().empty()) << edit.path;
    repo_.Write("customers/acme.yaml", Customer("acme"));
    Converge();
  }
  // One user's name in the CSV: one changed user, nothing else.
  repo_.Write("customers/acme.csv",
              "email,first_name,last_name\nuser0@acme.example,User,0\n"
              "user1@acme.example,Renamed,1\nuser2@acme.example,User,2\n");
  Plan plan = MakePlan();
  ASSERT_THAT(plan.changes, SizeIs(1));
  EXPECT_TRUE(plan.changes[0].fields.empty());
  EXPECT_THAT(plan.changes[0].users.change, SizeIs(1));
  EXPECT_TRUE(plan.changes[0].users.add.empty());
  EXPECT_TRUE(plan.changes[0].users.remove.empty());
}

TEST_P(PlanApplyTest, DeletingAFileDeletesOnlyCustomersThisRepositoryOwns) {
  WriteCustomer("acme", 2);
  WriteCustomer("globex", 2);
  Converge();
  // A customer made by hand on the gateway, not by this repository.
  gw::CustomerWrite by_hand;
  by_hand.spec = {{"product", "ultimate-defense"},
                  {"billableUsers", 1},
                  {"domains", {{"primary", "manual.example"}}},
                  {"destinations", "mx.manual.example"}};
  ASSERT_TRUE(
      gateway_->PutCustomer(kPartner, "manual", by_hand, gw::WriteCondition::CreateOnly()).ok());
  std::filesystem::remove(repo_.root() / "customers" / "globex.yaml");
  Plan plan = MakePlan();
  ASSERT_THAT(plan.changes, SizeIs(1));
  EXPECT_EQ(plan.changes[0].kind, ChangeKind::kDelete);
  EXPECT_EQ(plan.changes[0].customer, "globex");
  Apply(plan);
  EXPECT_EQ(gateway_->GetCustomer(kPartner, "globex").status().code(), gw::StatusCode::kNotFound);
  EXPECT_TRUE(gateway_->GetCustomer(kPartner, "manual").ok());
  EXPECT_TRUE(gateway_->GetCustomer(kPartner, "acme").ok());
}

TEST_P(PlanApplyTest, ACustomerOwnedElsewhereIsAConflictAndLeftAlone) {
  ASSERT_TRUE(PutForeignCustomer("acme", "other.example").ok());
  WriteCustomer("acme", 1);
  Plan plan = MakePlan();
  ASSERT_THAT(plan.changes, SizeIs(1));
  EXPECT_EQ(plan.changes[0].kind, ChangeKind::kConflict);
  EXPECT_EQ(plan.changes[0].observed_owner, "gwctl:someone-else");
  Apply(plan);
  EXPECT_EQ(gateway_->GetCustomer(kPartner, "acme")->owner, "gwctl:someone-else");
}

// What only the gateway can know (another customer, not in this repository, holds a
// domain) fails that one customer, at the line of the manifest that claims it; the rest
// is applied.
TEST_P(PlanApplyTest, AClaimHeldOutsideTheRepositoryFailsThatCustomerAtItsLine) {
  ASSERT_TRUE(PutForeignCustomer("holder", "held.example").ok());
  WriteCustomer("acme", 1);
  WriteCustomer("globex", 1);
  std::string acme = Customer("acme");
  acme.replace(acme.find("aliases: [acme.co.uk]"), 21, "aliases: [held.example]");
  repo_.Write("customers/acme.yaml", acme);
  Plan plan = MakePlan();
  ApplyOptions options;
  options.lease_holder = "test";
  auto report = ApplyPlan(plan, desired_, *gateway_, options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->failed.size(), 1u);
  EXPECT_EQ(report->failed.at("acme"),
            "the gateway refused it:\n  customers/acme.yaml:7:46: domain 'held.example' is "
            "already claimed by customer 'holder' [domain-duplicate]");
  EXPECT_TRUE(gateway_->GetCustomer(kPartner, "globex").ok());
  EXPECT_EQ(gateway_->GetCustomer(kPartner, "acme").status().code(), gw::StatusCode::kNotFound);
}

TEST_P(PlanApplyTest, SafetyLimitsRefuseLargeDeletesAndEmptyRepositories) {
  for (int i = 0; i < 5; ++i) WriteCustomer(fmt::format("c{}", i), 1);
  Converge();
  PlanOptions limits;
  limits.safety.min_existing = 4;
  limits.safety.max_delete_percent = 30;
  for (int i = 0; i < 2; ++i)
    std::filesystem::remove(repo_.root() / "customers" / fmt::format("c{}.yaml", i));
  Plan plan = MakePlan(limits);
  EXPECT_EQ(plan.Count(ChangeKind::kDelete), 2u);
  ASSERT_THAT(plan.refusals, SizeIs(1));
  EXPECT_THAT(plan.refusals[0],
              HasSubstr("2 of 5 customers would be deleted (40%), over maxDeletePercent 30%"));
  limits.force = true;
  EXPECT_TRUE(MakePlan(limits).refusals.empty());

  for (int i = 2; i < 5; ++i)
    std::filesystem::remove(repo_.root() / "customers" / fmt::format("c{}.yaml", i));
  PlanOptions defaults;
  Plan empty = MakePlan(defaults);
  ASSERT_FALSE(empty.refusals.empty());
  EXPECT_THAT(empty.refusals[0],
              HasSubstr("the manifests hold no customers but the gateway holds 5"));
}

TEST_P(PlanApplyTest, ProtectedKindsAreNeverDeletedWithoutForce) {
  repo_.Write("gwctl.yaml",
              "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: northwind}\n"
              "spec: {safety: {protect: [customers, users]}}\n");
  WriteCustomer("acme", 3);
  WriteCustomer("globex", 1);
  Converge();
  std::filesystem::remove(repo_.root() / "customers" / "globex.yaml");
  // The limits as gwctl reads them from gwctl.yaml.
  PlanOptions from_repository;
  auto validated = repo_.Validate();
  from_repository.safety = SafetyFromRepository(&*validated.manifests.repository);
  from_repository.safety.min_existing = 1000;  // the percentages do not apply to two customers
  ASSERT_THAT(from_repository.safety.protect, ::testing::ElementsAre("customers", "users"));
  Plan deleting = MakePlan(from_repository);
  ASSERT_EQ(deleting.Count(ChangeKind::kDelete), 1u);
  ASSERT_FALSE(deleting.refusals.empty());
  EXPECT_THAT(deleting.refusals[0],
              HasSubstr("customers are protected (safety.protect) and 1 would be deleted"));
  WriteCustomer("globex", 1);
  WriteCustomer("acme", 1);  // two of acme's CSV users go
  Plan removing = MakePlan(from_repository);
  ASSERT_FALSE(removing.refusals.empty());
  EXPECT_THAT(removing.refusals[0], HasSubstr("users are protected (safety.protect)"));
  from_repository.force = true;
  EXPECT_TRUE(MakePlan(from_repository).refusals.empty()) << "--force overrides it";
}

TEST_P(PlanApplyTest, AnImmutableFieldIsAReplacementRefusedWithoutForce) {
  WriteCustomer("acme", 2);
  Converge();
  std::string text = Customer("acme");
  // The same domains, the other one primary.
  const std::string domains = "{primary: acme.example, aliases: [acme.co.uk]}";
  text.replace(text.find(domains), domains.size(),
               "{primary: acme.co.uk, aliases: [acme.example]}");
  repo_.Write("customers/acme.yaml", text);
  Plan plan = MakePlan();
  ASSERT_THAT(plan.changes, SizeIs(1));
  EXPECT_EQ(plan.changes[0].kind, ChangeKind::kReplace);
  ASSERT_FALSE(plan.refusals.empty());
  EXPECT_THAT(plan.refusals[0], HasSubstr("customer acme: domains.primary changes"));
  PlanOptions force;
  force.force = true;
  Converge(1, nullptr, force);
  EXPECT_EQ(gateway_->GetCustomer(kPartner, "acme")->spec["domains"]["primary"], "acme.co.uk");
  EXPECT_EQ(UsersOf("acme").size(), 3u);  // re-created with its users
  EXPECT_TRUE(MakePlan().empty());
}

TEST_P(PlanApplyTest, UsersTheGatewayDiscoveredAreNotRemoved) {
  WriteCustomer("acme", 2);
  Converge();
  gw::UserBatch discovered;
  discovered.upsert.push_back({"found@acme.example", "mailbox", "", "", {}, "discovered", true});
  ASSERT_TRUE(gateway_->BatchUsers(kPartner, "acme", discovered).ok());
  EXPECT_TRUE(MakePlan().empty());  // a discovered user is not a difference to correct
  // With a real change beside it, the discovered user is kept, and said to be.
  repo_.Write("customers/acme.csv", "email\nuser0@acme.example\n");
  Plan plan = MakePlan();
  ASSERT_THAT(plan.changes, SizeIs(1));
  EXPECT_EQ(plan.changes[0].users.remove, std::vector<std::string>{"user1@acme.example"});
  EXPECT_EQ(plan.changes[0].users.kept, 1u);
  Apply(plan);
  auto users = UsersOf("acme");
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[1].address, "found@acme.example");
}

TEST_P(PlanApplyTest, AConcurrentEditDuringApplyIsReplannedAndConverges) {
  WriteCustomer("acme", 2);
  Converge();
  std::string text = Customer("acme");
  text.replace(text.find("billableUsers: 10"), 17, "billableUsers: 12");
  repo_.Write("customers/acme.yaml", text);
  Plan plan = MakePlan();
  ASSERT_THAT(plan.changes, SizeIs(1));
  // Someone edits the customer on the gateway after the plan was made.
  auto current = gateway_->GetCustomer(kPartner, "acme");
  gw::CustomerWrite edit{
      current->owner, current->applied_revision, current->labels, current->spec, {}};
  edit.spec["contact"] = "someone@acme.example";
  ASSERT_TRUE(
      gateway_->PutCustomer(kPartner, "acme", edit, gw::WriteCondition::AtVersion(current->version))
          .ok());
  ApplyReport report = Apply(plan);
  EXPECT_TRUE(report.ok());
  auto after = gateway_->GetCustomer(kPartner, "acme");
  EXPECT_EQ(after->spec["billableUsers"], 12);
  EXPECT_FALSE(after->spec.contains("contact"));  // the repository is the source of truth
  EXPECT_TRUE(MakePlan().empty());
}

TEST_P(PlanApplyTest, AGatewayFailingOneRequestInFiveStillConverges) {
  for (int i = 0; i < 12; ++i) WriteCustomer(fmt::format("c{}", i), 30);
  FlakyGateway flaky(*gateway_, 0.2);
  for (int round = 0; round < 5; ++round) {
    Plan plan = MakePlan({}, &flaky);
    if (plan.empty()) break;
    Apply(plan, &flaky);
  }
  EXPECT_GT(flaky.failures(), 0);
  EXPECT_TRUE(MakePlan().empty());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(UsersOf(fmt::format("c{}", i)).size(), 31u);
}

INSTANTIATE_TEST_SUITE_P(Transports, PlanApplyTest, gwtest::TransportValues(),
                         gwtest::TransportTestName);
INSTANTIATE_TEST_SUITE_P(Postgres, PlanApplyTest, gwtest::PostgresTransportValues(),
                         gwtest::TransportTestName);

}  // namespace
}  // namespace gwctl
