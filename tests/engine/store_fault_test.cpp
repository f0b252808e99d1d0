// Service over a store that fails on purpose: a decorator around the real SQLite store
// fails the Nth write a call makes (or its commit), for every N the call reaches. Each
// time, the call fails and nothing of it is visible afterwards — not the customer row
// without its claims, not users without their digest, not an audit entry of a change that
// did not happen — and the same call succeeds once the fault is gone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include <fmt/format.h>

#include "gateway/service.h"
#include "gateway/store.h"
#include "gatewayd_fixture.h"

namespace {

using gw::ClaimOwner;
using gw::Result;
using gw::Status;
using gw::StatusCode;
using nlohmann::json;

// Forwards to a real store; while armed, fails the `fail_at`th write (1-based), or
// with fail_at == 0 the commit of the next write transaction.
class FaultyStore : public gw::Store {
 public:
  explicit FaultyStore(std::unique_ptr<gw::Store> inner) : inner_(std::move(inner)) {}

  void Arm(int fail_at) {
    armed_ = true;
    fail_at_ = fail_at;
    writes_ = 0;
    fired_ = false;
  }
  void Disarm() { armed_ = false; }
  bool fired() const { return fired_; }
  gw::Store& inner() { return *inner_; }

  Status Transaction(bool write, const std::function<Status()>& body) override {
    return inner_->Transaction(write, [&]() -> Status {
      Status status = body();
      if (status.ok() && write && armed_ && fail_at_ == 0 && !fired_) {
        fired_ = true;
        return Injected();  // as if COMMIT failed: the store rolls back
      }
      return status;
    });
  }

  Result<bool> PartnerExists(const std::string& p) override { return inner_->PartnerExists(p); }
  Result<bool> InsertPartner(const std::string& p, const std::string& at) override {
    if (Fail()) return Injected();
    return inner_->InsertPartner(p, at);
  }
  Result<std::vector<std::string>> ListPartners() override { return inner_->ListPartners(); }
  Result<int64_t> PartnerRevision(const std::string& p) override {
    return inner_->PartnerRevision(p);
  }
  Status BumpPartnerRevision(const std::string& p) override {
    return Fail() ? Injected() : inner_->BumpPartnerRevision(p);
  }
  Result<std::optional<gw::Customer>> LoadCustomer(const std::string& p,
                                                   const std::string& n) override {
    return inner_->LoadCustomer(p, n);
  }
  Result<std::vector<gw::Customer>> ListCustomers(const std::string& p) override {
    return inner_->ListCustomers(p);
  }
  Status SaveCustomer(const std::string& p, const gw::Customer& c) override {
    return Fail() ? Injected() : inner_->SaveCustomer(p, c);
  }
  Status DeleteCustomer(const std::string& p, const std::string& n) override {
    return Fail() ? Injected() : inner_->DeleteCustomer(p, n);
  }
  Status SetUserSummary(const std::string& p, const std::string& n, int64_t count,
                        const std::string& digest) override {
    return Fail() ? Injected() : inner_->SetUserSummary(p, n, count, digest);
  }
  Result<std::vector<ClaimOwner>> TakeCustomersToRecompile() override {
    return Fail() ? Injected() : inner_->TakeCustomersToRecompile();
  }
  Result<std::optional<ClaimOwner>> DomainOwner(const std::string& d) override {
    return inner_->DomainOwner(d);
  }
  Result<std::vector<std::string>> CustomerDomains(const std::string& p,
                                                   const std::string& c) override {
    return inner_->CustomerDomains(p, c);
  }
  Result<std::optional<gw::RelayClaim>> RelayOverlap(const gw::IpRange& r,
                                                     const ClaimOwner& except) override {
    return inner_->RelayOverlap(r, except);
  }
  Status ReplaceClaims(const ClaimOwner& o, const std::vector<gw::DomainClaim>& d,
                       const std::vector<gw::IpRange>& r) override {
    return Fail() ? Injected() : inner_->ReplaceClaims(o, d, r);
  }
  Result<std::vector<gw::DomainClaim>> ListDomainClaims(const std::string& p, const std::string& c,
                                                        bool pending_only) override {
    return inner_->ListDomainClaims(p, c, pending_only);
  }
  Status SaveDomainCheck(const gw::DomainClaim& claim) override {
    return Fail() ? Injected() : inner_->SaveDomainCheck(claim);
  }
  Result<std::optional<gw::DomainProof>> LoadDomainProof(const std::string& p,
                                                         const std::string& d) override {
    return inner_->LoadDomainProof(p, d);
  }
  Status SaveDomainProof(const gw::DomainProof& proof) override {
    return Fail() ? Injected() : inner_->SaveDomainProof(proof);
  }
  Result<std::optional<std::string>> UserHashOf(const std::string& p, const std::string& c,
                                                const std::string& a) override {
    return inner_->UserHashOf(p, c, a);
  }
  Result<std::map<std::string, std::string>> UserHashesOf(
      const std::string& p, const std::string& c, const std::vector<std::string>& a) override {
    return inner_->UserHashesOf(p, c, a);
  }
  Status PutUsers(const std::string& p, const std::string& c,
                  const std::vector<UserWrite>& users) override {
    return Fail() ? Injected() : inner_->PutUsers(p, c, users);
  }
  Result<bool> HasAliases(const std::string& p, const std::string& c) override {
    return inner_->HasAliases(p, c);
  }
  Status RemoveUsers(const std::string& p, const std::string& c,
                     const std::vector<std::string>& a) override {
    return Fail() ? Injected() : inner_->RemoveUsers(p, c, a);
  }
  Result<std::map<std::string, std::string>> AliasOwners(
      const std::string& p, const std::string& c, const std::vector<std::string>& a) override {
    return inner_->AliasOwners(p, c, a);
  }
  Result<std::vector<gw::User>> ListUsers(const std::string& p, const std::string& c,
                                          const std::string& after, size_t limit) override {
    return inner_->ListUsers(p, c, after, limit);
  }
  Result<std::pair<int64_t, std::string>> UsersInDomain(const std::string& p, const std::string& c,
                                                        const std::string& d) override {
    return inner_->UsersInDomain(p, c, d);
  }
  Result<std::optional<gw::Lease>> GetLease(const std::string& p) override {
    return inner_->GetLease(p);
  }
  Status PutLease(const std::string& p, const gw::Lease& l) override {
    return Fail() ? Injected() : inner_->PutLease(p, l);
  }
  Status DeleteLease(const std::string& p, const std::string& h) override {
    return Fail() ? Injected() : inner_->DeleteLease(p, h);
  }
  Result<int64_t> ChangeMark() override { return inner_->ChangeMark(); }
  Result<std::vector<gw::CustomerMark>> ListCustomerMarks() override {
    return inner_->ListCustomerMarks();
  }
  Result<std::vector<std::pair<std::string, std::string>>> ListRecipients(
      const std::string& p, const std::string& c) override {
    return inner_->ListRecipients(p, c);
  }
  Result<std::string> HoldJob(const std::string& j, const std::string& h, int64_t now,
                              int64_t until) override {
    return inner_->HoldJob(j, h, now, until);
  }
  Status ReleaseJob(const std::string& j, const std::string& h) override {
    return inner_->ReleaseJob(j, h);
  }
  Status AppendAudit(const gw::AuditEntry& e) override {
    return Fail() ? Injected() : inner_->AppendAudit(e);
  }
  Result<std::vector<gw::AuditEntry>> ListAudit(const std::string& p, int64_t after,
                                                size_t limit) override {
    return inner_->ListAudit(p, after, limit);
  }
  Result<int64_t> AddQuarantined(const std::string& p, const gw::QuarantinedMessage& m,
                                 const std::string& message) override {
    if (Fail()) return Injected();
    return inner_->AddQuarantined(p, m, message);
  }
  Result<std::vector<gw::QuarantinedMessage>> ListQuarantined(const std::string& p,
                                                              const std::string& c, int64_t after,
                                                              size_t limit) override {
    return inner_->ListQuarantined(p, c, after, limit);
  }
  Result<std::optional<std::pair<gw::QuarantinedMessage, std::string>>> LoadQuarantined(
      const std::string& p, const std::string& c, int64_t id) override {
    return inner_->LoadQuarantined(p, c, id);
  }
  Status MarkReleased(const std::string& p, const std::string& c, int64_t id,
                      const std::string& at) override {
    if (Fail()) return Injected();
    return inner_->MarkReleased(p, c, id, at);
  }
  Result<int64_t> PurgeQuarantine(const std::string& before) override {
    if (Fail()) return Injected();
    return inner_->PurgeQuarantine(before);
  }
  Status SaveAccessToken(const gw::AccessToken& t) override {
    if (Fail()) return Injected();
    return inner_->SaveAccessToken(t);
  }
  Result<std::optional<gw::AccessToken>> LoadAccessToken(const std::string& id) override {
    return inner_->LoadAccessToken(id);
  }
  Result<std::vector<gw::AccessToken>> ListAccessTokens(const std::string& p) override {
    return inner_->ListAccessTokens(p);
  }
  Status RevokeAccessToken(const std::string& id, const std::string& at) override {
    if (Fail()) return Injected();
    return inner_->RevokeAccessToken(id, at);
  }
  Result<std::vector<gw::PersonalListEntry>> ListPersonalEntries(const std::string& p,
                                                                 const std::string& c,
                                                                 const std::string& a) override {
    return inner_->ListPersonalEntries(p, c, a);
  }
  Status PutPersonalEntry(const std::string& p, const std::string& c,
                          const gw::PersonalListEntry& e) override {
    if (Fail()) return Injected();
    return inner_->PutPersonalEntry(p, c, e);
  }
  Result<bool> RemovePersonalEntry(const std::string& p, const std::string& c, const std::string& a,
                                   const std::string& v) override {
    if (Fail()) return Injected();
    return inner_->RemovePersonalEntry(p, c, a, v);
  }
  Result<std::string> GatewaySecret(const std::string& n, const std::string& f) override {
    if (Fail()) return Injected();
    return inner_->GatewaySecret(n, f);
  }
  Status RecordQuarantineAction(const std::string& p, const std::string& c, int64_t id,
                                const std::string& r, const std::string& a, const std::string& at,
                                const std::string& actor) override {
    if (Fail()) return Injected();
    return inner_->RecordQuarantineAction(p, c, id, r, a, at, actor);
  }
  Status ForgetLinkNonce(const std::string& n) override {
    if (Fail()) return Injected();
    return inner_->ForgetLinkNonce(n);
  }
  Result<bool> UseLinkNonce(const std::string& n, const std::string& at,
                            const std::string& expires) override {
    if (Fail()) return Injected();
    return inner_->UseLinkNonce(n, at, expires);
  }
  Result<gw::SpamReportState> LoadSpamReportState(const std::string& p,
                                                  const std::string& c) override {
    if (Fail()) return Injected();
    return inner_->LoadSpamReportState(p, c);
  }
  Status SaveSpamReportState(const std::string& p, const std::string& c,
                             const gw::SpamReportState& state) override {
    if (Fail()) return Injected();
    return inner_->SaveSpamReportState(p, c, state);
  }
  Status StartOutage(const gw::ContinuityOutage& o) override {
    if (Fail()) return Injected();
    return inner_->StartOutage(o);
  }
  Status EndOutage(const std::string& p, const std::string& c, const std::string& at) override {
    if (Fail()) return Injected();
    return inner_->EndOutage(p, c, at);
  }
  Status MarkOutagesDelivered(const std::string& p, const std::string& c) override {
    if (Fail()) return Injected();
    return inner_->MarkOutagesDelivered(p, c);
  }
  Result<std::vector<gw::ContinuityOutage>> ListOutages(const std::string& since) override {
    if (Fail()) return Injected();
    return inner_->ListOutages(since);
  }
  Result<std::vector<std::string>> ListContinuityUsers(const std::string& p,
                                                       const std::string& c) override {
    if (Fail()) return Injected();
    return inner_->ListContinuityUsers(p, c);
  }
  Status SetContinuityPassword(const std::string& p, const std::string& c, const std::string& a,
                               const std::string& hash, const std::string& at) override {
    if (Fail()) return Injected();
    return inner_->SetContinuityPassword(p, c, a, hash, at);
  }
  Result<std::optional<std::string>> ContinuityPassword(const std::string& p, const std::string& c,
                                                        const std::string& a) override {
    if (Fail()) return Injected();
    return inner_->ContinuityPassword(p, c, a);
  }

 private:
  static Status Injected() { return Status(StatusCode::kUnavailable, "injected store failure"); }
  bool Fail() {
    if (!armed_ || fail_at_ == 0 || fired_) return false;
    if (++writes_ != fail_at_) return false;
    fired_ = true;
    return true;
  }

  std::unique_ptr<gw::Store> inner_;
  bool armed_ = false;
  int fail_at_ = 0;
  int writes_ = 0;
  bool fired_ = false;
};

const gw::Actor kLocal = gw::Actor::Local();
constexpr const char* kPartner = "northwind";

gw::CustomerWrite Write(const std::string& domain, const std::string& relay_source) {
  gw::CustomerWrite w;
  w.spec = {{"product", "ultimate-defense"},
            {"billableUsers", 2},
            {"domains", {{"primary", domain}}},
            {"destinations", "mx." + domain},
            {"outboundRelay", {{"sources", {relay_source}}}}};
  return w;
}

gw::User MakeUser(const std::string& address) {
  gw::User u;
  u.address = address;
  u.first_name = "U";
  return u;
}

class StoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = gwtest::MakeTempDir("store-fault");
    auto inner = gw::OpenSqliteStore(dir_ + "/gateway.db");
    ASSERT_TRUE(inner.ok()) << inner.status().message();
    auto faulty = std::make_unique<FaultyStore>(std::move(*inner));
    store_ = faulty.get();
    gw::ServiceOptions options;
    options.verify_domains = verify_domains_;
    auto service = gw::Service::Create(std::move(faulty), options);
    ASSERT_TRUE(service.ok()) << service.status().message();
    service_ = std::move(*service);
    ASSERT_TRUE(service_->PutPartner(kLocal, kPartner).ok());
    auto acme =
        service_->PutCustomer(kLocal, kPartner, "acme", Write("acme.example", "203.0.113.0/28"),
                              gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(acme.ok()) << acme.status().message();
    gw::UserBatch batch;
    batch.upsert = {MakeUser("a@acme.example"), MakeUser("b@acme.example")};
    ASSERT_TRUE(service_->BatchUsers(kLocal, kPartner, "acme", batch).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Everything a call could have half-written, read back through the store itself.
  json Snapshot() {
    json out;
    Status status = store_->inner().Transaction(false, [&]() -> Status {
      out["partners"] = *store_->inner().ListPartners();
      out["revision"] = *store_->inner().PartnerRevision(kPartner);
      auto customers = store_->inner().ListCustomers(kPartner);
      for (const auto& c : *customers) {
        json users = json::array();
        auto listed = store_->inner().ListUsers(kPartner, c.name, "", 1000);
        for (const auto& u : *listed) users.push_back(gw::ToJson(u));
        out["customers"][c.name] = {
            {"row", gw::ToJson(c)},
            {"users", users},
            {"domains", *store_->inner().CustomerDomains(kPartner, c.name)}};
      }
      auto claims = store_->inner().ListDomainClaims(kPartner, "", false);
      for (const auto& claim : *claims) out["claims"].push_back(gw::ToJson(claim));
      for (const char* domain : {"acme.example", "globex.example", "acme.test"}) {
        auto owner = *store_->inner().DomainOwner(domain);
        out["domainOwners"][domain] = owner ? owner->customer : "";
      }
      for (const char* range : {"203.0.113.0/28", "198.51.100.0/24"}) {
        auto overlap = *store_->inner().RelayOverlap(*gw::IpRange::Parse(range), {"", ""});
        out["relayOwners"][range] = overlap ? overlap->owner.customer : "";
      }
      auto alias_owners = *store_->inner().AliasOwners(kPartner, "acme", {"sales@acme.example"});
      out["aliasOwner"] = alias_owners.empty() ? "" : alias_owners.begin()->second;
      auto lease = *store_->inner().GetLease(kPartner);
      out["lease"] = lease ? lease->holder : "";
      json audit = json::array();
      for (const char* partner : {kPartner, "contoso"}) {
        auto entries = store_->inner().ListAudit(partner, 0, 1000);
        for (const auto& e : *entries) audit.push_back(gw::ToJson(e));
      }
      out["audit"] = audit;
      return Status::Ok();
    });
    EXPECT_TRUE(status.ok()) << status.message();
    return out;
  }

  // Fails `call` at every write it makes and at its commit; each time nothing changes.
  // Then runs it without faults and returns how many faults were tried.
  int FailEverywhere(const std::string& what, const std::function<Status()>& call) {
    int tried = 0;
    for (int fail_at = 0;; ++fail_at) {
      json before = Snapshot();
      store_->Arm(fail_at);
      Status status = call();
      bool fired = store_->fired();
      store_->Disarm();
      if (!fired) {
        EXPECT_TRUE(status.ok()) << what << ": " << status.message();
        break;
      }
      ++tried;
      EXPECT_FALSE(status.ok()) << what << ": a failed write was reported as success";
      EXPECT_EQ(Snapshot(), before) << what << ": failing write " << fail_at << " left changes";
      if (fail_at > 1000) break;
    }
    return tried;
  }

  bool verify_domains_ = false;
  std::string dir_;
  FaultyStore* store_ = nullptr;
  std::unique_ptr<gw::Service> service_;
};

TEST_F(StoreFaultTest, NoCallLeavesAnythingHalfWritten) {
  auto version = [&](const std::string& name) {
    return service_->GetCustomer(kLocal, kPartner, name)->version;
  };
  int create = FailEverywhere("create", [&] {
    return service_
        ->PutCustomer(kLocal, kPartner, "globex", Write("globex.example", "198.51.100.0/24"),
                      gw::WriteCondition::CreateOnly())
        .status();
  });
  int update = FailEverywhere("update with new claims", [&] {
    gw::CustomerWrite w = Write("acme.example", "203.0.113.0/28");
    w.spec["domains"]["aliases"] = {"acme.test"};
    w.spec["outboundRelay"]["sources"] = {"203.0.113.0/28", "192.0.2.10"};
    return service_
        ->PutCustomer(kLocal, kPartner, "acme", w, gw::WriteCondition::AtVersion(version("acme")))
        .status();
  });
  int batch = FailEverywhere("users batch", [&] {
    gw::UserBatch b;
    b.upsert = {MakeUser("c@acme.example"), MakeUser("d@acme.test")};
    b.upsert[0].aliases = {"sales@acme.example"};
    b.remove = {"a@acme.example"};
    return service_->BatchUsers(kLocal, kPartner, "acme", b).status();
  });
  int lease = FailEverywhere(
      "lease", [&] { return service_->TakeLease(kLocal, kPartner, "gwctl@host", 60).status(); });
  int remove = FailEverywhere("delete", [&] {
    return service_->DeleteCustomer(kLocal, kPartner, "globex", version("globex"));
  });
  int partner = FailEverywhere("partner", [&] { return service_->PutPartner(kLocal, "contoso"); });
  // Each call was failed at every write it makes (at least the change, the revision
  // and the audit entry) and at its commit.
  EXPECT_GE(create, 5);
  EXPECT_GE(update, 5);
  EXPECT_GE(batch, 6);
  EXPECT_GE(lease, 3);
  EXPECT_GE(remove, 4);
  EXPECT_GE(partner, 3);
  // And what succeeded in the end is all there.
  json after = Snapshot();
  EXPECT_EQ(after["domainOwners"]["acme.test"], "acme");
  EXPECT_EQ(after["relayOwners"]["203.0.113.0/28"], "acme");
  EXPECT_EQ(after["relayOwners"]["198.51.100.0/24"], "");  // globex was deleted
  EXPECT_EQ(after["customers"]["acme"]["users"].size(), 3u);
  EXPECT_EQ(after["aliasOwner"], "c@acme.example");
  EXPECT_EQ(after["lease"], "gwctl@host");
}

class StoreFaultVerifyingTest : public StoreFaultTest {
 protected:
  StoreFaultVerifyingTest() { verify_domains_ = true; }
};

// Verifying a domain claim (the check and its audit entry) is all or nothing too.
TEST_F(StoreFaultVerifyingTest, NoDomainCheckLeavesAnythingHalfWritten) {
  int check = FailEverywhere("domain check", [&] {
    return service_
        ->RecordDomainChecks(kLocal, {{kPartner, "acme", "acme.example", true, true, "found"}})
        .status();
  });
  ASSERT_TRUE(service_
                  ->PutCustomer(kLocal, kPartner, "globex",
                                Write("globex.example", "198.51.100.0/24"),
                                gw::WriteCondition::CreateOnly())
                  .ok());
  int pending = FailEverywhere("pending claims verified",
                               [&] { return service_->VerifyPendingClaims(kLocal).status(); });
  EXPECT_GE(check, 3);  // the claim, the audit entry, the commit
  EXPECT_GE(pending, 3);
  json after = Snapshot();
  EXPECT_EQ(after["domainOwners"]["acme.example"], "acme");
  EXPECT_EQ(after["domainOwners"]["globex.example"], "globex");
}

}  // namespace
