// The GatewayClient conformance suite: every test runs against the embedded engine and
// against a real gatewayd process over HTTP, and must pass identically on both.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include <fmt/format.h>
#include "gateway/client.h"
#include "gateway/password_hash.h"
#include "gateway/store.h"

#include "test_gateway.h"

namespace {

using gw::Customer;
using gw::CustomerWrite;
using gw::StatusCode;
using gw::User;
using gw::UserBatch;
using gw::WriteCondition;
using nlohmann::json;

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string missing = gwtest::TransportMissing(GetParam()); !missing.empty()) {
      GTEST_SKIP() << GetParam() << " transport skipped: " << missing;
    }
    dir_ = gwtest::MakeTempDir("conformance");
    gateway_ = std::make_unique<gwtest::TestGateway>(
        GetParam(), dir_ / "gateway.db", std::vector<std::string>{"northwind", "contoso"});
    ASSERT_TRUE(gateway_->ready());
    client_ = gateway_->Client("northwind");
    // In-process, one client (the local operator) serves both partners.
    if (!gateway_->embedded()) other_ = gateway_->Client("contoso");
  }
  void TearDown() override {
    client_.reset();
    other_.reset();
    gateway_.reset();
    std::filesystem::remove_all(dir_);
  }

  gw::GatewayClient& client() { return *client_; }
  gw::GatewayClient& other() { return other_ ? *other_ : *client_; }

  static CustomerWrite Write(const std::string& domain, json extra = json::object()) {
    CustomerWrite w;
    w.owner = "gwctl:northwind";
    w.applied_revision = "abc1234";
    w.spec = {{"product", "ultimate-access"},
              {"billableUsers", 10},
              {"domains", {{"primary", domain}}},
              {"destinations", "mx." + domain}};
    w.spec.update(extra);
    return w;
  }

  static User MakeUser(const std::string& address, const std::string& first = "") {
    User u;
    u.address = address;
    u.first_name = first;
    return u;
  }

  Customer Create(const std::string& name, const std::string& domain) {
    auto created =
        client().PutCustomer("northwind", name, Write(domain), WriteCondition::CreateOnly());
    EXPECT_TRUE(created.ok()) << created.status().message();
    return created.ok() ? *created : Customer{};
  }

  std::filesystem::path dir_;
  std::unique_ptr<gwtest::TestGateway> gateway_;
  std::unique_ptr<gw::GatewayClient> client_;
  std::unique_ptr<gw::GatewayClient> other_;
};

TEST_P(ConformanceTest, CreateReadReplaceWithVersions) {
  Customer created = Create("acme", "acme.example");
  EXPECT_EQ(created.version, 1);
  EXPECT_EQ(created.owner, "gwctl:northwind");
  EXPECT_EQ(created.applied_revision, "abc1234");

  auto read = client().GetCustomer("northwind", "acme");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->spec, Write("acme.example").spec);

  auto replaced =
      client().PutCustomer("northwind", "acme", Write("acme.example", {{"billableUsers", 12}}),
                           WriteCondition::AtVersion(1));
  ASSERT_TRUE(replaced.ok()) << replaced.status().message();
  EXPECT_EQ(replaced->version, 2);
  EXPECT_EQ(replaced->spec["billableUsers"], 12);
}

TEST_P(ConformanceTest, IdenticalWriteKeepsTheVersion) {
  Create("acme", "acme.example");
  auto again = client().PutCustomer("northwind", "acme", Write("acme.example"),
                                    WriteCondition::AtVersion(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 1);
  auto state = client().GetState("northwind");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->revision, 1);  // only the create counted
}

TEST_P(ConformanceTest, PreconditionsAreEnforced) {
  Create("acme", "acme.example");
  auto stale =
      client().PutCustomer("northwind", "acme", Write("acme.example", {{"billableUsers", 3}}),
                           WriteCondition::AtVersion(7));
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  auto duplicate = client().PutCustomer("northwind", "acme", Write("acme.example"),
                                        WriteCondition::CreateOnly());
  EXPECT_EQ(duplicate.status().code(), StatusCode::kFailedPrecondition);
  auto missing = client().PutCustomer("northwind", "ghost", Write("ghost.example"),
                                      WriteCondition::AtVersion(1));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_P(ConformanceTest, SchemaViolationsNameTheField) {
  auto bad = client().PutCustomer(
      "northwind", "acme",
      Write("acme.example", {{"destinations", {{{"host", "mx.acme.example"}, {"port", 0}}}}}),
      WriteCondition::CreateOnly());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().field(), "/spec/destinations/0/port");
  EXPECT_EQ(bad.status().message(), "must be at least 1");

  auto unknown =
      client().PutCustomer("northwind", "acme", Write("acme.example", {{"colour", "red"}}),
                           WriteCondition::CreateOnly());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().field(), "/spec/colour");

  auto bad_name = client().PutCustomer("northwind", "Not_A_Name", Write("x.example"),
                                       WriteCondition::CreateOnly());
  EXPECT_EQ(bad_name.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_name.status().field(), "/name");
}

TEST_P(ConformanceTest, DomainsAreUniqueAcrossPartnersWithoutRevealingTheHolder) {
  Create("acme", "acme.example");
  CustomerWrite w = Write("ACME.example");
  auto taken =
      other().PutCustomer("contoso", "secret-holder-test", w, WriteCondition::CreateOnly());
  ASSERT_EQ(taken.status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(taken.status().details().size(), 1u);
  EXPECT_EQ(taken.status().details()[0].rule, "domain-duplicate");
  EXPECT_EQ(taken.status().field(), "/spec/domains/primary");
  EXPECT_THAT(taken.status().message(), ::testing::Not(::testing::HasSubstr("northwind")));
  EXPECT_THAT(taken.status().message(), ::testing::Not(::testing::HasSubstr("acme\'")));
  // International forms are the same domain.
  Create("buecher", "bücher.example");
  auto idna = other().PutCustomer("contoso", "b", Write("xn--bcher-kva.example"),
                                  WriteCondition::CreateOnly());
  EXPECT_EQ(idna.status().code(), StatusCode::kInvalidArgument);
}

// A customer carries its domain claims through either transport; a gateway that does not
// verify domains verifies each claim as it is made, and says it does not verify.
TEST_P(ConformanceTest, DomainClaimsTravelWithTheCustomer) {
  CustomerWrite w = Write(
      "acme.example", {{"domains", {{"primary", "acme.example"}, {"aliases", {"acme.co.uk"}}}}});
  auto created = client().PutCustomer("northwind", "acme", w, WriteCondition::CreateOnly());
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_EQ(created->domain_claims.size(), 2u);
  EXPECT_EQ(created->domain_claims[0].domain, "acme.co.uk");
  EXPECT_EQ(created->domain_claims[1].domain, "acme.example");
  for (const auto& claim : created->domain_claims) {
    EXPECT_TRUE(claim.verified());
    EXPECT_EQ(claim.partner, "northwind");
    EXPECT_EQ(claim.customer, "acme");
  }
  auto state = client().GetState("northwind");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->customers.at(0).domain_claims.size(), 2u);
  EXPECT_EQ(state->customers[0].domain_claims[1].verified_at,
            created->domain_claims[1].verified_at);
  auto facts = client().GetFacts();
  ASSERT_TRUE(facts.ok()) << facts.status().message();
  EXPECT_FALSE(facts->verifies_domains);
  EXPECT_EQ(client().CheckDomains("northwind", "acme").status().code(),
            StatusCode::kFailedPrecondition);
}

// The customer rules run on every write through either transport: every problem comes
// back with its pointer and rule id, and relay sources are claims across partners.
TEST_P(ConformanceTest, EveryRuleIsCheckedOnWriteWithPointerAndRuleId) {
  ASSERT_TRUE(client()
                  .PutCustomer("northwind", "acme",
                               Write("acme.example",
                                     {{"outboundRelay", {{"sources", {"198.51.100.0/24"}}}}}),
                               WriteCondition::CreateOnly())
                  .ok());
  CustomerWrite broken =
      Write("globex.example", {{"destinations", "mx.globex.example;MX.Globex.Example"},
                               {"outboundRelay", {{"sources", "198.51.100.7,192.0.2.0/24"}}},
                               {"filtering", {{"contentFilter", {{"maxMessageSize", "500B"}}}}},
                               {"lists", {{"recipientAllow", {"*"}}}}});
  auto refused = other().PutCustomer("contoso", "globex", broken, WriteCondition::CreateOnly());
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  std::set<std::pair<std::string, std::string>> found;
  for (const auto& d : refused.status().details()) found.emplace(d.field, d.rule);
  EXPECT_EQ(found, (std::set<std::pair<std::string, std::string>>{
                       {"/spec/destinations", "destination-duplicate"},
                       {"/spec/outboundRelay/sources", "relay-source-conflict"},
                       {"/spec/filtering/contentFilter/maxMessageSize", "content-filter-size"},
                       {"/spec/lists/recipientAllow/0", "recipient-allow-all"}}));
  EXPECT_THAT(refused.status().message(), ::testing::Not(::testing::HasSubstr("acme")));
  // Fixed, it is stored; a named service shares its ranges with anyone.
  nlohmann::json tenant = {{"service", "office365"},
                           {"tenantId", "3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d"}};
  CustomerWrite fixed = Write("globex.example", {{"outboundRelay", tenant}});
  ASSERT_TRUE(other().PutCustomer("contoso", "globex", fixed, WriteCondition::CreateOnly()).ok());
  ASSERT_TRUE(client()
                  .PutCustomer("northwind", "initech",
                               Write("initech.example", {{"outboundRelay", tenant}}),
                               WriteCondition::CreateOnly())
                  .ok());
}

// The schema's x-gwctl-immutable fields: set once, then fixed; a change is a refusal
// naming the field and the rule, and the stored customer is unchanged.
TEST_P(ConformanceTest, ImmutableFieldsCannotChangeOnceSet) {
  Customer acme = Create("acme", "acme.example");
  auto moved = client().PutCustomer("northwind", "acme", Write("acme.test"),
                                    WriteCondition::AtVersion(acme.version));
  ASSERT_EQ(moved.status().code(), StatusCode::kInvalidArgument);
  std::set<std::pair<std::string, std::string>> found;
  for (const auto& d : moved.status().details()) found.emplace(d.field, d.rule);
  EXPECT_EQ(
      found,
      (std::set<std::pair<std::string, std::string>>{{"/spec/domains/primary", "immutable"}}));
  EXPECT_EQ(client().GetCustomer("northwind", "acme")->version, acme.version);
  // A field the gateway would only pretend to honour is refused, not stored.
  auto region = client().PutCustomer("northwind", "acme", Write("acme.example", {{"region", "eu"}}),
                                     WriteCondition::AtVersion(acme.version));
  ASSERT_EQ(region.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(region.status().details().at(0).rule, "region-unsupported");
}

// An address names one user: an alias may not be another user's address or alias,
// unless that user gives it up in the same batch.
TEST_P(ConformanceTest, AnAddressBelongsToOneUser) {
  Create("acme", "acme.example");
  auto user = [](const std::string& address, std::vector<std::string> aliases) {
    User u = MakeUser(address, "U");
    u.aliases = std::move(aliases);
    return u;
  };
  UserBatch first;
  first.upsert = {user("ann@acme.example", {"sales@acme.example"}), user("bob@acme.example", {})};
  ASSERT_TRUE(client().BatchUsers("northwind", "acme", first).ok());

  UserBatch clash;
  clash.upsert = {user("cy@acme.example", {"sales@acme.example", "bob@acme.example"}),
                  user("sales@acme.example", {}), user("dee@acme.example", {"info@acme.example"}),
                  user("eve@acme.example", {"info@acme.example"})};
  auto refused = client().BatchUsers("northwind", "acme", clash);
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  std::set<std::pair<std::string, std::string>> found;
  for (const auto& d : refused.status().details()) found.emplace(d.field, d.rule);
  EXPECT_EQ(found, (std::set<std::pair<std::string, std::string>>{
                       {"/upsert/0/aliases/0", "user-duplicate"},    // a user in this batch
                       {"/upsert/0/aliases/1", "user-duplicate"},    // bob, a user already
                       {"/upsert/1/address", "user-duplicate"},      // ann's alias
                       {"/upsert/3/aliases/0", "user-duplicate"}}))  // dee's in this batch
      << refused.status().message();
  EXPECT_EQ(client().ListUsers("northwind", "acme", "", 100)->users.size(), 2u);

  // Moving the alias from ann to cy in one batch is fine, and so is taking a removed
  // user's address as an alias.
  UserBatch move;
  move.upsert = {user("ann@acme.example", {}),
                 user("cy@acme.example", {"sales@acme.example", "bob@acme.example"})};
  move.remove = {"bob@acme.example"};
  auto moved = client().BatchUsers("northwind", "acme", move);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  UserBatch reuse;
  reuse.upsert = {user("dee@acme.example", {"sales@acme.example"})};
  EXPECT_EQ(client().BatchUsers("northwind", "acme", reuse).status().code(),
            StatusCode::kInvalidArgument);  // cy has it now
}

TEST_P(ConformanceTest, UsersArePagedByAddressAndDigested) {
  Create("acme", "acme.example");
  UserBatch batch;
  std::vector<User> expected;
  for (int i = 0; i < 25; ++i) {
    batch.upsert.push_back(MakeUser(fmt::format("user{:02d}@acme.example", 24 - i), "U"));
  }
  auto result = client().BatchUsers("northwind", "acme", batch);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->upserted, 25);
  EXPECT_EQ(result->user_count, 25);

  std::vector<User> all;
  std::string after;
  int pages = 0;
  do {
    auto page = client().ListUsers("northwind", "acme", after, 10);
    ASSERT_TRUE(page.ok());
    all.insert(all.end(), page->users.begin(), page->users.end());
    after = page->next_after;
    ++pages;
  } while (!after.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 25u);
  EXPECT_EQ(all.front().address, "user00@acme.example");
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                             [](auto& a, auto& b) { return a.address < b.address; }));
  EXPECT_EQ(result->users_digest, gw::UsersDigest(all));
  auto customer = client().GetCustomer("northwind", "acme");
  EXPECT_EQ(customer->users_digest, gw::UsersDigest(all));
  EXPECT_EQ(customer->version, 1);  // users do not change the settings version

  // The same batch again changes nothing; a removal (named twice) updates the digest.
  EXPECT_EQ(client().BatchUsers("northwind", "acme", batch)->upserted, 0);
  UserBatch removal;
  removal.remove = {"user00@acme.example", "nobody@acme.example", "user00@acme.example"};
  auto removed = client().BatchUsers("northwind", "acme", removal);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->removed, 1);
  all.erase(all.begin());
  EXPECT_EQ(removed->users_digest, gw::UsersDigest(all));
}

TEST_P(ConformanceTest, UserAddressesAreNormalisedAndMustBeInTheDomains) {
  Create("acme", "acme.example");
  UserBatch batch;
  batch.upsert = {MakeUser("Alice@ACME.example")};
  batch.upsert[0].aliases = {"A.Smith@acme.example"};
  ASSERT_TRUE(client().BatchUsers("northwind", "acme", batch).ok());
  auto page = client().ListUsers("northwind", "acme", "", 10);
  ASSERT_EQ(page->users.size(), 1u);
  EXPECT_EQ(page->users[0].address, "alice@acme.example");
  EXPECT_EQ(page->users[0].aliases, std::vector<std::string>{"a.smith@acme.example"});

  UserBatch outside;
  outside.upsert = {MakeUser("bob@acme.example"), MakeUser("eve@elsewhere.example")};
  auto rejected = client().BatchUsers("northwind", "acme", outside);
  EXPECT_EQ(rejected.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rejected.status().field(), "/upsert/1/address");
  // Nothing of the rejected batch was written.
  EXPECT_EQ(client().ListUsers("northwind", "acme", "", 10)->users.size(), 1u);
}

TEST_P(ConformanceTest, TenThousandUsersInOneAtomicBatch) {
  Create("acme", "acme.example");
  UserBatch batch;
  for (int i = 0; i < 10000; ++i)
    batch.upsert.push_back(MakeUser(fmt::format("u{:05d}@acme.example", i)));
  auto result = client().BatchUsers("northwind", "acme", batch);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->user_count, 10000);

  // One bad user at the end rejects all 10,000 others with it.
  UserBatch bad;
  for (int i = 0; i < 9999; ++i)
    bad.upsert.push_back(MakeUser(fmt::format("v{:05d}@acme.example", i)));
  bad.upsert.push_back(MakeUser("not-an-address"));
  auto rejected = client().BatchUsers("northwind", "acme", bad);
  EXPECT_EQ(rejected.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rejected.status().field(), "/upsert/9999/address");
  EXPECT_EQ(client().GetCustomer("northwind", "acme")->user_count, 10000);
}

TEST_P(ConformanceTest, RemovingADomainThatHasUsersIsRefused) {
  Create("acme", "acme.example");
  auto with_alias = client().PutCustomer(
      "northwind", "acme",
      Write("acme.example",
            {{"domains", {{"primary", "acme.example"}, {"aliases", {"acme.co.uk"}}}}}),
      WriteCondition::AtVersion(1));
  ASSERT_TRUE(with_alias.ok());
  UserBatch batch;
  batch.upsert = {MakeUser("bob@acme.co.uk")};
  ASSERT_TRUE(client().BatchUsers("northwind", "acme", batch).ok());
  auto shrink = client().PutCustomer("northwind", "acme", Write("acme.example"),
                                     WriteCondition::AtVersion(2));
  EXPECT_EQ(shrink.status().code(), StatusCode::kConflict);
  EXPECT_THAT(shrink.status().message(), ::testing::HasSubstr("bob@acme.co.uk"));
}

TEST_P(ConformanceTest, DeleteNeedsTheVersionAndFreesDomainsAndUsers) {
  Create("acme", "acme.example");
  UserBatch batch;
  batch.upsert = {MakeUser("bob@acme.example")};
  ASSERT_TRUE(client().BatchUsers("northwind", "acme", batch).ok());
  EXPECT_EQ(client().DeleteCustomer("northwind", "acme", 5).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(client().DeleteCustomer("northwind", "acme", 1).ok());
  EXPECT_EQ(client().GetCustomer("northwind", "acme").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client().DeleteCustomer("northwind", "acme", 1).code(), StatusCode::kNotFound);
  // The domain is free again, and the new customer starts without users.
  auto again =
      other().PutCustomer("contoso", "acme", Write("acme.example"), WriteCondition::CreateOnly());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->user_count, 0);
}

TEST_P(ConformanceTest, StateIsOneSnapshotWithARevision) {
  Create("globex", "globex.example");
  Create("acme", "acme.example");
  auto state = client().GetState("northwind");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->customers.size(), 2u);
  EXPECT_EQ(state->customers[0].name, "acme");
  EXPECT_EQ(state->revision, 2);
  EXPECT_TRUE(other().GetState("contoso")->customers.empty());
}

TEST_P(ConformanceTest, SecretsAreKeptOnlyAsFingerprints) {
  CustomerWrite w = Write("acme.example", {{"panelLogin",
                                            {{"email", "it@acme.example"},
                                             {"status", "activated"},
                                             {"passwordRef", "env:ACME_PANEL"}}}});
  w.secrets["/panelLogin/password"] = "correct horse battery staple";
  auto created = client().PutCustomer("northwind", "acme", w, WriteCondition::CreateOnly());
  ASSERT_TRUE(created.ok()) << created.status().message();
  const std::string& kept = created->secret_fingerprints.at("/panelLogin/password");
  EXPECT_TRUE(gw::SecretMatches(kept, "correct horse battery staple"));
  EXPECT_FALSE(gw::SecretMatches(kept, "correct horse battery staplf"));
  // Salted and slow: not a hash anyone can look up, and the value appears nowhere.
  EXPECT_THAT(kept, ::testing::StartsWith("pbkdf2-sha256$10000$"));
  EXPECT_NE(kept, gw::SecretFingerprint("correct horse battery staple"));
  EXPECT_THAT(kept, ::testing::Not(::testing::HasSubstr("horse")));
  // The same value written again keeps its fingerprint: nothing changed.
  auto again = client().PutCustomer("northwind", "acme", w, WriteCondition::AtVersion(1));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->version, 1);
  EXPECT_EQ(again->secret_fingerprints.at("/panelLogin/password"), kept);
  w.secrets["/panelLogin/password"] = "Tr0ub4dor&3";
  auto changed = client().PutCustomer("northwind", "acme", w, WriteCondition::AtVersion(1));
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->version, 2);
  auto audit = client().ListAudit("northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  std::string everything;
  for (const auto& entry : *audit) everything += gw::ToJson(entry).dump();
  EXPECT_THAT(everything, ::testing::HasSubstr("secretsChanged"));
  EXPECT_THAT(everything, ::testing::Not(::testing::HasSubstr("horse")));
  EXPECT_THAT(everything, ::testing::Not(::testing::HasSubstr("Tr0ub4dor")));
}

TEST_P(ConformanceTest, TheAuditLogRecordsWhoChangedWhat) {
  Create("acme", "acme.example");
  ASSERT_TRUE(client().DeleteCustomer("northwind", "acme", 1).ok());
  auto audit = client().ListAudit("northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> actions;
  for (const auto& e : *audit) {
    if (e.target == "acme") actions.push_back(e.action);
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"customer.create", "customer.delete"}));
  auto later = client().ListAudit("northwind", audit->back().id, 100);
  EXPECT_TRUE(later->empty());
}

TEST_P(ConformanceTest, TheLeaseHasOneHolderAtATime) {
  auto first = client().TakeLease("northwind", "ci-run-1", 60);
  ASSERT_TRUE(first.ok());
  EXPECT_GT(first->expires_at_unix, 0);
  auto second = client().TakeLease("northwind", "loop", 60);
  EXPECT_EQ(second.status().code(), StatusCode::kConflict);
  EXPECT_THAT(second.status().message(), ::testing::HasSubstr("ci-run-1"));
  EXPECT_TRUE(client().TakeLease("northwind", "ci-run-1", 120).ok());  // renew
  EXPECT_TRUE(client().TakeLease("northwind", "ci-run-1", 0).ok());    // release
  EXPECT_TRUE(client().TakeLease("northwind", "loop", 60).ok());
}

TEST_P(ConformanceTest, UnknownPartnersAndCustomersAreNotFound) {
  EXPECT_EQ(client().GetCustomer("northwind", "ghost").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client().ListUsers("northwind", "ghost", "", 10).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(client().BatchUsers("northwind", "ghost", {}).status().code(), StatusCode::kNotFound);
}

TEST_P(ConformanceTest, TheQuarantineKeepsMessagesWholeForTheirPartnerOnly) {
  Create("acme", "acme.example");
  auto filter = gateway_->Operator();
  gw::QuarantinedMessage meta;
  meta.customer = "acme";
  meta.sender = "spammer@outside.example";
  meta.recipients = {"alice@acme.example", "bob@acme.example"};
  meta.subject = "Cheap watches";
  meta.reason = "spam";
  meta.detail = "score 15.0 (reject) GTUBE";
  // Bytes JSON cannot carry as text survive the trip.
  std::string message = "Subject: Cheap watches\r\n\r\nbody \xff\xfe\x00 end\r\n";
  auto first = filter->Quarantine("northwind", meta, message);
  ASSERT_TRUE(first.ok()) << first.status().message();
  meta.subject = "Second";
  auto second = filter->Quarantine("northwind", meta, "Subject: Second\r\n\r\nx\r\n");
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_GT(*second, *first);

  auto listed = client().ListQuarantine("northwind", "acme", 0, 10);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->size(), 2u);
  const gw::QuarantinedMessage& m = (*listed)[0];
  EXPECT_EQ(m.id, *first);
  EXPECT_EQ(m.subject, "Cheap watches");
  EXPECT_EQ(m.recipients, meta.recipients);
  EXPECT_EQ(m.size, static_cast<int64_t>(message.size()));
  EXPECT_EQ(m.reason, "spam");
  EXPECT_FALSE(m.received_at.empty());
  EXPECT_TRUE(m.released_at.empty());
  auto after = client().ListQuarantine("northwind", "acme", *first, 10);
  ASSERT_TRUE(after.ok());
  ASSERT_GE(after->size(), 1u);
  EXPECT_EQ((*after)[0].subject, "Second");

  // Keeping is the filter's; another partner sees nothing; a gateway that cannot deliver
  // refuses to release, and changes nothing.
  if (!gateway_->embedded()) {
    EXPECT_EQ(client().Quarantine("northwind", meta, "x").status().code(),
              StatusCode::kPermissionDenied);
    EXPECT_EQ(other().ListQuarantine("northwind", "acme", 0, 10).status().code(),
              StatusCode::kNotFound);
  }
  auto bad = meta;
  bad.reason = "boredom";
  EXPECT_EQ(filter->Quarantine("northwind", bad, "x").status().code(),
            StatusCode::kInvalidArgument);
  // What a release would deliver is mail to the customer or held mail from it, never a
  // message between strangers.
  auto strangers = meta;
  strangers.recipients = {"alice@acme.example", "victim@elsewhere.example"};
  EXPECT_EQ(filter->Quarantine("northwind", strangers, "x").status().code(),
            StatusCode::kInvalidArgument);
  auto held = meta;
  held.sender = "alice@ACME.example";
  held.recipients = {"victim@elsewhere.example"};
  EXPECT_TRUE(filter->Quarantine("northwind", held, "Subject: held\r\n\r\nx\r\n").ok())
      << "outbound spam held at its sender";
  auto ghost = meta;
  ghost.customer = "ghost";
  EXPECT_EQ(filter->Quarantine("northwind", ghost, "x").status().code(), StatusCode::kNotFound);
  auto released = client().ReleaseQuarantined("northwind", "acme", *first);
  EXPECT_EQ(released.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(released.status().message(), ::testing::HasSubstr("--release-smtp"));
  EXPECT_TRUE((*client().ListQuarantine("northwind", "acme", 0, 10))[0].released_at.empty());

  // A deleted customer's quarantine goes with it.
  auto acme = client().GetCustomer("northwind", "acme");
  ASSERT_TRUE(client().DeleteCustomer("northwind", "acme", acme->version).ok());
  Create("acme", "acme.example");
  EXPECT_TRUE(client().ListQuarantine("northwind", "acme", 0, 10)->empty());
}

TEST_P(ConformanceTest, ContinuityPasswordsAreWriteOnlyAndGoWithTheUser) {
  Create("acme", "acme.example");
  UserBatch batch;
  batch.upsert = {MakeUser("alice@acme.example")};
  batch.upsert[0].aliases = {"a@acme.example"};
  batch.upsert[0].continuity = true;
  ASSERT_TRUE(client().BatchUsers("northwind", "acme", batch).ok());
  const std::string secret = "correct horse battery";
  ASSERT_TRUE(
      client().SetContinuityPassword("northwind", "acme", "Alice@ACME.example", secret).ok());

  // Refusals say why without echoing the password.
  auto short_one = client().SetContinuityPassword("northwind", "acme", "alice@acme.example", "pw1");
  EXPECT_EQ(short_one.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(short_one.message(), ::testing::HasSubstr("10"));
  EXPECT_THAT(short_one.message(), ::testing::Not(::testing::HasSubstr("pw1")));
  EXPECT_EQ(client().SetContinuityPassword("northwind", "acme", "a@acme.example", secret).code(),
            StatusCode::kNotFound);  // an alias is not a login
  EXPECT_EQ(
      client().SetContinuityPassword("northwind", "acme", "nobody@acme.example", secret).code(),
      StatusCode::kNotFound);
  if (!gateway_->embedded()) {
    EXPECT_EQ(
        other().SetContinuityPassword("northwind", "acme", "alice@acme.example", secret).code(),
        StatusCode::kNotFound);
  }

  // Audited, without the secret; kept as a hash only the password verifies.
  auto audit = client().ListAudit("northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->back().action, "continuity.password");
  EXPECT_EQ(audit->back().detail.dump(), R"({"address":"alice@acme.example"})");
  const std::string& location = gateway_->store();
  auto store =
      gw::IsPostgresUrl(location) ? gw::OpenPostgresStore(location) : gw::OpenSqliteStore(location);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto hash = (*store)->ContinuityPassword("northwind", "acme", "alice@acme.example");
  ASSERT_TRUE(hash.ok() && *hash);
  EXPECT_THAT(**hash, ::testing::StartsWith("{ARGON2ID}$argon2id$"));
  EXPECT_TRUE(gw::VerifyPassword(secret, **hash));
  EXPECT_EQ(*(*store)->ListContinuityUsers("northwind", "acme"),
            std::vector<std::string>{"alice@acme.example"});
  // Removing the user removes the hash.
  ASSERT_TRUE((*store)->RemoveUsers("northwind", "acme", {"alice@acme.example"}).ok());
  EXPECT_FALSE(*(*store)->ContinuityPassword("northwind", "acme", "alice@acme.example"));
}

INSTANTIATE_TEST_SUITE_P(Transports, ConformanceTest, gwtest::TransportValues(),
                         gwtest::TransportTestName);
// The engine over PostgreSQL holds to the same contract.
INSTANTIATE_TEST_SUITE_P(Postgres, ConformanceTest, gwtest::PostgresTransportValues(),
                         gwtest::TransportTestName);

}  // namespace
