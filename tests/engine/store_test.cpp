// The store under crashes and damage: kill -9 during writes loses nothing that was
// acknowledged; a corrupt, foreign, read-only or newer store is refused at start with a
// clear message and left exactly as it was.
#include <sqlite3.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "gatewayd_fixture.h"
#include "postgres_fixture.h"

namespace {

using gwtest::Gatewayd;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

gw::CustomerWrite Write(const std::string& name) {
  gw::CustomerWrite w;
  w.spec = {{"product", "ultimate-defense"},
            {"billableUsers", 1},
            {"domains", {{"primary", name + ".example"}}},
            {"destinations", "mx." + name + ".example"}};
  return w;
}

TEST(StoreTest, KillNineDuringWritesLosesNothingAcknowledged) {
  auto dir = gwtest::MakeTempDir("store-kill");
  std::mt19937 random(std::random_device{}());
  std::set<std::string> acknowledged;
  std::map<std::string, int64_t> acknowledged_users;
  for (int round = 0; round < 3; ++round) {
    Gatewayd gatewayd({"northwind"}, {}, dir);
    ASSERT_TRUE(gatewayd.started()) << gatewayd.process().output();
    auto ops = gatewayd.Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(ops->EnsurePartner("northwind").ok());
    // Everything acknowledged in earlier rounds survived the kill.
    auto state = ops->GetState("northwind");
    ASSERT_TRUE(state.ok()) << state.status().message();
    std::set<std::string> present;
    for (const auto& c : state->customers) {
      present.insert(c.name);
      if (acknowledged_users.count(c.name)) {
        EXPECT_GE(c.user_count, acknowledged_users[c.name]) << c.name;
      }
    }
    for (const auto& name : acknowledged)
      EXPECT_TRUE(present.count(name)) << name << " was acknowledged, then lost";

    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::thread writer([&] {
      auto client = gatewayd.Client(Gatewayd::PartnerToken("northwind"));
      for (int i = 0; !stop; ++i) {
        std::string name = fmt::format("r{}c{}", round, i);
        if (!client->PutCustomer("northwind", name, Write(name), gw::WriteCondition::CreateOnly())
                 .ok())
          break;
        {
          std::lock_guard lock(mutex);
          acknowledged.insert(name);
        }
        gw::UserBatch batch;
        for (int u = 0; u < 200; ++u) {
          gw::User user;
          user.address = fmt::format("u{}@{}.example", u, name);
          batch.upsert.push_back(user);
        }
        if (!client->BatchUsers("northwind", name, batch).ok()) break;
        std::lock_guard lock(mutex);
        acknowledged_users[name] = 200;
      }
    });
    // Kill once this round has written something, however slow the build (ASan) or the
    // machine, then at a random moment of the writes that follow.
    size_t before;
    {
      std::lock_guard lock(mutex);
      before = acknowledged.size();
    }
    for (int wait = 0; wait < 1500; ++wait) {
      {
        std::lock_guard lock(mutex);
        if (acknowledged.size() >= before + 2) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
    gatewayd.process().Signal(SIGKILL);
    EXPECT_EQ(gatewayd.process().Wait(), 128 + SIGKILL);
    stop = true;
    writer.join();
  }
  EXPECT_GT(acknowledged.size(), 5u);
  Gatewayd last({"northwind"}, {}, dir);
  ASSERT_TRUE(last.started());
  auto state = last.Client(Gatewayd::kOperatorToken)->GetState("northwind");
  ASSERT_TRUE(state.ok());
  std::set<std::string> present;
  for (const auto& c : state->customers) present.insert(c.name);
  for (const auto& name : acknowledged) EXPECT_TRUE(present.count(name)) << name;
  std::filesystem::remove_all(dir);
}

// Two processes on one store (a long-running `gwctl run` and a CI `gwctl apply`, both
// embedded) are two connections: each must see what the other wrote, at once, and the
// lease one holds must hold the other off.
TEST(QuarantineReleaseTest, AMessageIsDeliveredOnceEvenWhenReleasedTwiceAtOnce) {
  auto dir = gwtest::MakeTempDir("release");
  // Delivery (Postfix in gatewayd) stands still until the test lets it go.
  std::mutex mutex;
  std::condition_variable changed;
  int delivering = 0, delivered = 0;
  bool go = false;
  gw::ServiceOptions options;
  options.send_mail = [&](const std::string&, const std::vector<std::string>&, const std::string&) {
    std::unique_lock lock(mutex);
    ++delivering;
    changed.notify_all();
    changed.wait(lock, [&] { return go; });
    ++delivered;
    return gw::Status::Ok();
  };
  auto service = gw::Service::Open((dir / "gateway.db").string(), options);
  ASSERT_TRUE(service.ok()) << service.status().message();
  const gw::Actor local = gw::Actor::Local();
  ASSERT_TRUE((*service)->PutPartner(local, "northwind").ok());
  ASSERT_TRUE(
      (*service)
          ->PutCustomer(local, "northwind", "acme", Write("acme"), gw::WriteCondition::CreateOnly())
          .ok());
  gw::QuarantinedMessage meta;
  meta.customer = "acme";
  meta.sender = "x@outside.example";
  meta.recipients = {"ann@acme.example"};
  meta.reason = "spam";
  auto id = (*service)->Quarantine(local, "northwind", meta, "Subject: x\r\n\r\nx\r\n");
  ASSERT_TRUE(id.ok()) << id.status().message();

  std::thread first(
      [&] { EXPECT_TRUE((*service)->ReleaseQuarantined(local, "northwind", "acme", *id).ok()); });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return delivering == 1; });
  }
  EXPECT_EQ((*service)->ReleaseQuarantined(local, "northwind", "acme", *id).status().code(),
            gw::StatusCode::kConflict);
  {
    std::lock_guard lock(mutex);
    go = true;
  }
  changed.notify_all();
  first.join();
  EXPECT_EQ(delivered, 1);
  auto again = (*service)->ReleaseQuarantined(local, "northwind", "acme", *id);
  EXPECT_EQ(again.status().code(), gw::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("was released at"));
  EXPECT_EQ(delivered, 1);
  std::filesystem::remove_all(dir);
}

TEST(StoreTest, ANewStoreIsForItsOwnerAlone) {
  auto dir = gwtest::MakeTempDir("store-mode");
  mode_t old_mask = umask(022);  // a permissive umask, as a shell's
  {
    auto client =
        std::move(gw::ConnectGateway("embedded:" + (dir / "gateway.db").string())).value();
    ASSERT_TRUE(client->EnsurePartner("northwind").ok());
    ASSERT_TRUE(
        client->PutCustomer("northwind", "acme", Write("acme"), gw::WriteCondition::CreateOnly())
            .ok());
    for (const char* file : {"gateway.db", "gateway.db-wal", "gateway.db-shm"}) {
      struct stat info {};
      ASSERT_EQ(stat((dir / file).c_str(), &info), 0) << file;
      EXPECT_EQ(info.st_mode & 0777, 0600u) << file;
    }
  }
  umask(old_mask);
  std::filesystem::remove_all(dir);
}

TEST(StoreTest, TwoConnectionsToOneStoreSeeEachOthersWrites) {
  auto dir = gwtest::MakeTempDir("store-shared");
  std::string url = "embedded:" + (dir / "gateway.db").string();
  auto first = std::move(gw::ConnectGateway(url)).value();
  auto second = std::move(gw::ConnectGateway(url)).value();
  ASSERT_TRUE(first->EnsurePartner("northwind").ok());
  ASSERT_TRUE(second->GetState("northwind").ok());  // reads before the other's writes

  ASSERT_TRUE(
      first->PutCustomer("northwind", "acme", Write("acme"), gw::WriteCondition::CreateOnly())
          .ok());
  auto seen = second->GetState("northwind");
  ASSERT_TRUE(seen.ok()) << seen.status().message();
  ASSERT_EQ(seen->customers.size(), 1u);
  EXPECT_EQ(seen->customers[0].name, "acme");

  ASSERT_TRUE(
      second->PutCustomer("northwind", "globex", Write("globex"), gw::WriteCondition::CreateOnly())
          .ok());
  gw::UserBatch batch;
  gw::User ann;
  ann.address = "ann@globex.example";
  batch.upsert.push_back(ann);
  ASSERT_TRUE(second->BatchUsers("northwind", "globex", batch).ok());
  auto both = first->GetState("northwind");
  ASSERT_TRUE(both.ok()) << both.status().message();
  EXPECT_EQ(both->customers.size(), 2u);
  EXPECT_EQ(both->revision, seen->revision + 2);
  auto users = gw::ListAllUsers(*first, "northwind", "globex");
  ASSERT_TRUE(users.ok()) << users.status().message();
  ASSERT_EQ(users->size(), 1u);

  ASSERT_TRUE(first->TakeLease("northwind", "loop", 60).ok());
  auto refused = second->TakeLease("northwind", "ci", 60);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), gw::StatusCode::kConflict);
  ASSERT_TRUE(first->TakeLease("northwind", "loop", 0).ok());
  EXPECT_TRUE(second->TakeLease("northwind", "ci", 60).ok());
}

class DamagedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = gwtest::MakeTempDir("store-damage");
    // A real store with some data in it.
    Gatewayd gatewayd({"northwind"}, {}, dir_);
    ASSERT_TRUE(gatewayd.started());
    auto client = gatewayd.Client(Gatewayd::kOperatorToken);
    ASSERT_TRUE(client->EnsurePartner("northwind").ok());
    for (int i = 0; i < 50; ++i) {
      std::string name = fmt::format("c{}", i);
      ASSERT_TRUE(
          client->PutCustomer("northwind", name, Write(name), gw::WriteCondition::CreateOnly())
              .ok());
    }
    gatewayd.process().Signal(SIGTERM);
    ASSERT_EQ(gatewayd.process().Wait(), 0);
    store_ = (dir_ / "data" / "gateway.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts gatewayd on the damaged store and returns what it said; expects exit 1.
  std::string StartExpectingFailure(int run_as_uid = -1) {
    std::vector<std::string> argv = {
        GATEWAYD_BINARY, "--data",   (dir_ / "data").string(),       "--listen",
        "127.0.0.1:0",   "--tokens", (dir_ / "tokens.yaml").string()};
    gwtest::ChildProcess process(argv, run_as_uid);
    EXPECT_EQ(process.Wait(), 1) << process.output();
    return process.output();
  }

  std::filesystem::path dir_;
  std::string store_;
};

TEST_F(DamagedStoreTest, AFileThatIsNotAStoreIsRefusedAndKept) {
  std::ofstream(store_, std::ios::binary | std::ios::trunc) << std::string(8192, 'x');
  std::filesystem::remove(store_ + "-wal");
  std::string before = ReadAll(store_);
  EXPECT_THAT(StartExpectingFailure(), HasSubstr("is not a gatewayd store or is corrupt"));
  EXPECT_EQ(ReadAll(store_), before);
}

TEST_F(DamagedStoreTest, ACorruptPageIsRefusedAndKept) {
  std::string contents = ReadAll(store_);
  ASSERT_GT(contents.size(), 3 * 4096u);
  // Scribble over the second page (a b-tree page), keeping the header intact.
  for (size_t i = 4096 + 8; i < 2 * 4096; ++i) contents[i] = static_cast<char>(i * 7);
  std::ofstream(store_, std::ios::binary | std::ios::trunc) << contents;
  std::string before = ReadAll(store_);
  std::string output = StartExpectingFailure();
  EXPECT_THAT(output, HasSubstr("corrupt"));
  EXPECT_EQ(ReadAll(store_), before);
}

TEST_F(DamagedStoreTest, AStoreThisUserCannotWriteIsRefused) {
  int uid = -1;
  if (geteuid() == 0) {
    // Root may write anything: run gatewayd as an unprivileged service user instead.
    uid = 65534;
    std::filesystem::permissions(dir_, std::filesystem::perms::all);
    std::filesystem::permissions(dir_ / "data", std::filesystem::perms::all);
    std::filesystem::permissions(dir_ / "tokens.yaml", std::filesystem::perms::owner_all |
                                                           std::filesystem::perms::group_read |
                                                           std::filesystem::perms::others_read);
    chmod(store_.c_str(), 0644);
  } else {
    chmod(store_.c_str(), 0444);
  }
  std::string before = ReadAll(store_);
  EXPECT_THAT(StartExpectingFailure(uid), HasSubstr("is not writable by this user"));
  EXPECT_EQ(ReadAll(store_), before);
}

TEST_F(DamagedStoreTest, AStoreFromANewerVersionIsRefused) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(store_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(StartExpectingFailure(),
              HasSubstr("schema version 99, newer than this gatewayd understands"));
}

}  // namespace

// A store written before relay sources were claims and aliases were indexed (schema 1; nor a
// quarantine, schema 3, nor spam report marks, schema 4): opening it adds all of them, so the rules
// hold against customers and users that were there before the upgrade.
TEST(StoreUpgradeTest, CustomersOfAnOlderStoreAreCompiledAndTheirClaimsHold) {
  auto dir = gwtest::MakeTempDir("store-upgrade");
  std::string path = (dir / "gateway.db").string();
  const gw::Actor local = gw::Actor::Local();
  {
    auto service = gw::Service::Open(path);
    ASSERT_TRUE(service.ok()) << service.status().message();
    ASSERT_TRUE((*service)->PutPartner(local, "northwind").ok());
    gw::CustomerWrite acme = Write("acme");
    acme.spec["outboundRelay"] = {{"sources", {"203.0.113.0/28"}}};
    ASSERT_TRUE(
        (*service)
            ->PutCustomer(local, "northwind", "acme", acme, gw::WriteCondition::CreateOnly())
            .ok());
    gw::UserBatch users;
    users.upsert.push_back({"ann@acme.example", "mailbox", "Ann", "", {"sales@acme.example"}});
    ASSERT_TRUE((*service)->BatchUsers(local, "northwind", "acme", users).ok());
  }
  // Back to what schema 1 held.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TABLE domains(domain TEXT PRIMARY KEY, partner TEXT NOT NULL, "
                   "customer TEXT NOT NULL) WITHOUT ROWID; "
                   "CREATE INDEX domains_by_customer ON domains(partner, customer); "
                   "INSERT INTO domains SELECT domain, partner, customer FROM domain_claims; "
                   "DROP TABLE domain_claims; DROP TABLE domain_proofs; "
                   "DROP TABLE job_leases; DROP TABLE continuity_passwords; "
                   "DROP TABLE continuity_outages; "
                   "DROP TABLE spam_reports; DROP TABLE spam_report_marks; "
                   "DROP TABLE quarantine; DROP TABLE relay_sources; DROP TABLE user_aliases; "
                   "DROP TABLE customers_to_recompile; DROP TABLE access_tokens; "
                   "DROP TABLE personal_lists; DROP TABLE personal_list_revisions; "
                   "DROP TABLE used_links; DROP TABLE gateway_keys; "
                   "DROP TABLE quarantine_actions; "
                   "PRAGMA user_version = 1",
                   nullptr, nullptr, &error),
      SQLITE_OK)
      << error;
  sqlite3_close(db);

  // Verification on: claims made before it existed are verified all the same.
  gw::ServiceOptions verifying;
  verifying.verify_domains = true;
  auto service = gw::Service::Open(path, verifying);
  ASSERT_TRUE(service.ok()) << service.status().message();
  auto claims = (*service)->ListDomainClaims(local, "northwind", "acme", false);
  ASSERT_TRUE(claims.ok()) << claims.status().message();
  ASSERT_EQ(claims->size(), 1u);
  EXPECT_EQ((*claims)[0].domain, "acme.example");
  EXPECT_TRUE((*claims)[0].verified());
  gw::CustomerWrite globex = Write("globex");
  globex.spec["outboundRelay"] = {{"sources", {"203.0.113.8"}}};
  auto refused = (*service)->PutCustomer(local, "northwind", "globex", globex,
                                         gw::WriteCondition::CreateOnly());
  ASSERT_EQ(refused.status().code(), gw::StatusCode::kInvalidArgument);
  ASSERT_EQ(refused.status().details().size(), 1u);
  EXPECT_EQ(refused.status().details()[0].rule, "relay-source-conflict");
  EXPECT_THAT(refused.status().message(), HasSubstr("customer 'acme'"));
  gw::UserBatch taker;
  taker.upsert.push_back({"bob@acme.example", "mailbox", "Bob", "", {"sales@acme.example"}});
  auto taken = (*service)->BatchUsers(local, "northwind", "acme", taker);
  ASSERT_EQ(taken.status().code(), gw::StatusCode::kInvalidArgument);
  EXPECT_THAT(taken.status().message(), HasSubstr("already an alias of user 'ann@acme.example'"));

  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* row = nullptr;
  // The configuration is not kept beside the spec, and the customer is not compiled again
  // at the next open.
  ASSERT_NE(sqlite3_prepare_v2(db, "SELECT config FROM customers", -1, &row, nullptr), SQLITE_OK);
  sqlite3_finalize(row);
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT count(*) FROM customers_to_recompile", -1, &row, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(row), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(row, 0), 0);
  sqlite3_finalize(row);
  // The partner's proof of its domain too, so that replacing the customer keeps it.
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT verified_at <> '' FROM domain_proofs WHERE partner = "
                               "'northwind' AND domain = 'acme.example'",
                               -1, &row, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(row), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(row, 0), 1);
  sqlite3_finalize(row);
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
}

// Relay sources overlap when one block holds the other, in either direction, whatever
// their prefix lengths; a customer never overlaps itself.
TEST(StoreClaimsTest, RelayOverlapFindsContainingAndContainedBlocks) {
  auto dir = gwtest::MakeTempDir("store-claims");
  auto store = gw::OpenSqliteStore((dir / "gateway.db").string());
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto range = [](const char* text) { return *gw::IpRange::Parse(text); };
  gw::Status written = (*store)->Transaction(true, [&] {
    return (*store)->ReplaceClaims({"northwind", "acme"}, {},
                                   {range("10.1.2.3"), range("2001:db8::/48")});
  });
  ASSERT_TRUE(written.ok()) << written.message();
  auto overlaps = [&](const char* text, gw::ClaimOwner except = {"contoso", "globex"}) {
    std::string found;
    gw::Status read = (*store)->Transaction(false, [&]() -> gw::Status {
      auto claim = (*store)->RelayOverlap(range(text), except);
      if (!claim.ok()) return claim.status();
      if (*claim) found = (*claim)->range.ToString() + " of " + (*claim)->owner.customer;
      return gw::Status::Ok();
    });
    EXPECT_TRUE(read.ok()) << read.message();
    return found;
  };
  EXPECT_EQ(overlaps("10.1.2.3"), "10.1.2.3 of acme");
  EXPECT_EQ(overlaps("10.0.0.0/8"), "10.1.2.3 of acme");
  EXPECT_EQ(overlaps("10.1.2.0/30"), "10.1.2.3 of acme");
  EXPECT_EQ(overlaps("0.0.0.0/0"), "10.1.2.3 of acme");
  EXPECT_EQ(overlaps("10.1.2.4"), "");
  EXPECT_EQ(overlaps("10.1.2.0/31"), "");
  EXPECT_EQ(overlaps("2001:db8:0:1::/64"), "2001:db8::/48 of acme");
  EXPECT_EQ(overlaps("2001:db8::1"), "2001:db8::/48 of acme");
  EXPECT_EQ(overlaps("2001:d00::/24"), "2001:db8::/48 of acme");
  EXPECT_EQ(overlaps("2001:db9::/48"), "");
  EXPECT_EQ(overlaps("10.1.2.3", {"northwind", "acme"}), "");
  std::filesystem::remove_all(dir);
}

TEST(StoreOutagesTest, OngoingUndeliveredAndRecentOutagesAreListed) {
  auto dir = gwtest::MakeTempDir("store-outages");
  auto store = gw::OpenSqliteStore((dir / "gateway.db").string());
  ASSERT_TRUE(store.ok()) << store.status().message();
  gw::Store& s = **store;
  auto listed = [&](const std::string& since) {
    std::vector<std::string> out;
    auto outages = s.ListOutages(since);
    EXPECT_TRUE(outages.ok()) << outages.status().message();
    if (!outages.ok()) return out;
    for (const auto& o : *outages) {
      out.push_back(fmt::format("{} {} {} {}", o.customer, o.started_at,
                                o.ended_at.empty() ? "ongoing" : o.ended_at,
                                o.delivered ? "delivered" : "undelivered"));
    }
    return out;
  };
  ASSERT_TRUE(s.StartOutage({"p", "old", "2026-01-01T00:00:00Z", "", "refused", false}).ok());
  ASSERT_TRUE(s.EndOutage("p", "old", "2026-01-02T00:00:00Z").ok());
  ASSERT_TRUE(s.MarkOutagesDelivered("p", "old").ok());
  ASSERT_TRUE(s.StartOutage({"p", "acme", "2026-11-01T00:00:00Z", "", "451", false}).ok());
  ASSERT_TRUE(s.EndOutage("p", "acme", "2026-11-01T01:00:00Z").ok());
  ASSERT_TRUE(s.StartOutage({"p", "acme", "2026-11-02T00:00:00Z", "", "451", false}).ok());
  // Starting the same outage twice records it once; ending ends only the ongoing one.
  ASSERT_TRUE(s.StartOutage({"p", "acme", "2026-11-02T00:00:00Z", "", "451", false}).ok());
  EXPECT_THAT(listed("2026-06-01T00:00:00Z"),
              ::testing::ElementsAre("acme 2026-11-01T00:00:00Z 2026-11-01T01:00:00Z undelivered",
                                     "acme 2026-11-02T00:00:00Z ongoing undelivered"));
  EXPECT_EQ(listed("2025-12-01T00:00:00Z").size(), 3u) << "the old one is recent enough";
  // Delivery marks only ended outages; the ongoing one's mail is still coming in.
  ASSERT_TRUE(s.MarkOutagesDelivered("p", "acme").ok());
  EXPECT_THAT(listed("2026-11-05T00:00:00Z"),
              ::testing::ElementsAre("acme 2026-11-02T00:00:00Z ongoing undelivered"));
  std::filesystem::remove_all(dir);
}

TEST(StoreLocationTest, APostgresUrlIsToldApartAndItsPasswordNeverLogged) {
  EXPECT_TRUE(gw::IsPostgresUrl("postgres://gw@db/gateway"));
  EXPECT_TRUE(gw::IsPostgresUrl("postgresql://gw@db/gateway"));
  EXPECT_FALSE(gw::IsPostgresUrl("/var/lib/gatewayd/gateway.db"));
  EXPECT_EQ(gw::RedactedStoreLocation("postgresql://gw:s3cret@db.example:5432/gateway"),
            "postgresql://gw:***@db.example:5432/gateway");
  EXPECT_EQ(gw::RedactedStoreLocation("postgresql://gw@db.example:5432/gateway"),
            "postgresql://gw@db.example:5432/gateway");
  EXPECT_EQ(gw::RedactedStoreLocation("/data/gateway.db"), "/data/gateway.db");
}

// Job leases on both stores: one holder at a time, renewed by its holder, taken over
// once expired, given up only by its holder.
class StoreJobLeasesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StoreJobLeasesTest, OneHolderAtATimeUntilItExpiresOrIsReleased) {
  std::unique_ptr<gwtest::Postgres> postgres;
  auto dir = gwtest::MakeTempDir("store-jobs");
  std::string location = (dir / "gateway.db").string();
  if (GetParam() == "postgres") {
    if (std::string missing = gwtest::PostgresMissing(); !missing.empty()) GTEST_SKIP() << missing;
    postgres = std::make_unique<gwtest::Postgres>();
    ASSERT_EQ(postgres->problem(), "");
    location = postgres->url();
  }
  auto a = gw::OpenStore(location), b = gw::OpenStore(location);  // two replicas
  ASSERT_TRUE(a.ok() && b.ok());
  auto mark = (*b)->ChangeMark();
  ASSERT_TRUE(mark.ok());
  auto hold = [](gw::Store& store, const std::string& holder, int64_t now) {
    auto held = store.HoldJob("monitor", holder, now, now + 1000);
    EXPECT_TRUE(held.ok()) << held.status().message();
    return held.ok() ? *held : "error";
  };
  EXPECT_EQ(hold(**a, "a", 10'000), "a");
  EXPECT_EQ(hold(**b, "b", 10'500), "a");  // held until 11,000
  EXPECT_EQ(hold(**a, "a", 10'900), "a");  // renewed until 11,900
  EXPECT_EQ(hold(**b, "b", 11'500), "a");
  EXPECT_EQ(hold(**b, "b", 11'900), "b");  // expired: taken over
  EXPECT_EQ(hold(**a, "a", 12'000), "b");
  ASSERT_TRUE((*a)->ReleaseJob("monitor", "a").ok());  // not a's to give up
  EXPECT_EQ(hold(**a, "a", 12'100), "b");
  ASSERT_TRUE((*b)->ReleaseJob("monitor", "b").ok());
  EXPECT_EQ(hold(**a, "a", 12'200), "a");
  // Another job is another lease.
  EXPECT_EQ(*(*b)->HoldJob("spam-reports", "b", 12'200, 13'000), "b");
  // Not a change the mail lookups of other replicas reload for (on SQLite, any commit of
  // another connection moves the mark).
  if (GetParam() == "postgres") {
    EXPECT_EQ(*(*b)->ChangeMark(), *mark);
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreJobLeasesTest,
                         ::testing::Values(std::string("sqlite"), std::string("postgres")),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });
