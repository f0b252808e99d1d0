// The mail archive over a real SQLite store: messages kept once however many entries
// name them, searched, read back byte for byte, exported; the chain that shows tampering
// (the test edits the archive's file as an intruder would); the retention purge with a
// clock; who may read; the legal release. tests/mail archives mail delivered by Postfix.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "gateway/access.h"
#include "gateway/archive_store.h"
#include "gateway/rfc3339.h"
#include "gateway/service.h"
#include "gatewayd_fixture.h"
#include "postgres_fixture.h"

// Queries and records are written with designated initializers naming only what matters.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Clock = std::chrono::system_clock;
using Days = std::chrono::duration<int64_t, std::ratio<86400>>;

const gw::Actor kFilter{"gw-milter", gw::Role::kFilter, "", ""};
const gw::Actor kAdmin{"alice", gw::Role::kPartnerAdmin, "northwind", ""};
const gw::Actor kTechnician{"tom", gw::Role::kTechnician, "northwind", ""};
const gw::Actor kAcmeAdmin{"carol", gw::Role::kCustomerAdmin, "northwind", "acme"};
const gw::Actor kGlobexAdmin{"gus", gw::Role::kCustomerAdmin, "northwind", "globex"};

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto service = gw::Service::Open(store_.string());
    ASSERT_TRUE(service.ok()) << service.status().message();
    service_ = std::move(*service);
    ASSERT_TRUE(service_->PutPartner(local_, "northwind").ok());
    PutCustomer("acme", {{"enabled", true}, {"retention", "30d"}});
    PutCustomer("globex", {{"enabled", false}});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void PutCustomer(const std::string& name, nlohmann::json archiving) {
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-defense"},
                  {"billableUsers", 50},
                  {"domains", {{"primary", name + ".example"}}},
                  {"destinations", "mx." + name + ".example"},
                  {"archiving", std::move(archiving)}};
    auto existing = service_->GetCustomer(local_, "northwind", name);
    auto put =
        service_->PutCustomer(local_, "northwind", name, write,
                              existing.ok() ? gw::WriteCondition::AtVersion(existing->version)
                                            : gw::WriteCondition::CreateOnly());
    ASSERT_TRUE(put.ok()) << put.status().message();
  }

  gw::Result<int64_t> Archive(const std::string& message, std::vector<std::string> recipients,
                              const std::string& subject = "Quarterly figures",
                              const std::string& sender = "cfo@partner.example",
                              const std::string& direction = "inbound",
                              const std::string& customer = "acme") {
    gw::ArchivedMessage meta;
    meta.customer = customer;
    meta.direction = direction;
    meta.sender = sender;
    meta.recipients = std::move(recipients);
    meta.subject = subject;
    return service_->Archive(kFilter, "northwind", meta, message, subject + "\n" + message);
  }

  int64_t Purge(Clock::time_point as_of) {
    auto purged = service_->PurgeArchive(as_of);
    EXPECT_TRUE(purged.ok()) << purged.status().message();
    return purged.ok() ? *purged : -1;
  }

  std::vector<int64_t> Ids(const gw::Result<std::vector<gw::ArchivedMessage>>& found) {
    EXPECT_TRUE(found.ok()) << found.status().message();
    std::vector<int64_t> ids;
    if (found.ok()) {
      for (const auto& m : *found) ids.push_back(m.id);
    }
    return ids;
  }

  std::vector<int64_t> Search(gw::ArchiveQuery query, const gw::Actor& actor = kAcmeAdmin) {
    return Ids(service_->SearchArchive(actor, "northwind", "acme", query));
  }

  // Changes the archive's file behind gatewayd's back, as someone with the disk would.
  void Tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((store_.string() + ".archive").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  int64_t CountRows(const std::string& table) {
    sqlite3* db = nullptr;
    sqlite3_open((store_.string() + ".archive").c_str(), &db);
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &statement, nullptr);
    int64_t count = sqlite3_step(statement) == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : -1;
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return count;
  }

  gw::ArchiveCheck Verify() {
    auto check = service_->VerifyArchive(kAdmin, "northwind", "acme");
    EXPECT_TRUE(check.ok()) << check.status().message();
    return check.ok() ? *check : gw::ArchiveCheck{};
  }

  std::filesystem::path dir_ = gwtest::MakeTempDir("archive");
  std::filesystem::path store_ = dir_ / "gateway.db";
  gw::Actor local_ = gw::Actor::Local();
  std::unique_ptr<gw::Service> service_;
};

const std::string kFigures =
    "From: CFO <cfo@partner.example>\r\nTo: team@acme.example\r\nSubject: Quarterly "
    "figures\r\n\r\nRevenue rose; the zeppelin budget did not.\r\nFrom the desk of the CFO.\r\n";

TEST_F(ArchiveTest, AMessageIsKeptOnceAndSearchedByEveryField) {
  auto first = Archive(kFigures, {"ann@acme.example", "bob@acme.example", "cat@acme.example"});
  ASSERT_TRUE(first.ok()) << first.status().message();
  // The same message again (to another recipient, in a transaction of its own).
  auto second = Archive(kFigures, {"dan@acme.example"});
  ASSERT_TRUE(second.ok()) << second.status().message();
  auto other = Archive("Subject: Lunch\r\n\r\nPizza on Friday?\r\n", {"ann@acme.example"}, "Lunch",
                       "ann@acme.example", "outbound");
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_EQ(CountRows("archive_entries"), 3);
  EXPECT_EQ(CountRows("archive_messages"), 2) << "the figures are kept once";

  EXPECT_THAT(Search({}), ElementsAre(*other, *second, *first)) << "newest first";
  EXPECT_THAT(Search({.sender = "CFO@Partner.example"}), ElementsAre(*second, *first));
  EXPECT_THAT(Search({.recipient = "bob@acme.example"}), ElementsAre(*first));
  EXPECT_THAT(Search({.subject = "QUARTERLY"}), ElementsAre(*second, *first));
  EXPECT_THAT(Search({.text = "zeppelin budget"}), ElementsAre(*second, *first));
  EXPECT_THAT(Search({.text = "zeppelin pizza"}), IsEmpty()) << "every word must appear";
  EXPECT_THAT(Search({.text = "pizza"}), ElementsAre(*other));
  EXPECT_THAT(Search({.subject = "100%_"}), IsEmpty()) << "LIKE's wildcards are literal";
  EXPECT_THAT(Search({.text = "\"unbalanced OR NEAR("}), IsEmpty())
      << "the words are words, not FTS5 syntax";
  std::string tomorrow = gw::FormatRfc3339(Clock::now() + Days(1));
  std::string yesterday = gw::FormatRfc3339(Clock::now() - Days(1));
  EXPECT_THAT(Search({.since = yesterday, .until = tomorrow}), SizeIs(3));
  EXPECT_THAT(Search({.since = tomorrow}), IsEmpty());
  EXPECT_THAT(Search({.before = *second}), ElementsAre(*first)) << "paging";
  auto bad_time = service_->SearchArchive(kAdmin, "northwind", "acme", {.since = "last week"});
  EXPECT_EQ(bad_time.status().code(), gw::StatusCode::kInvalidArgument);

  auto loaded = service_->LoadArchived(kAcmeAdmin, "northwind", "acme", *first);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->second, kFigures) << "byte for byte";
  EXPECT_THAT(loaded->first.recipients, SizeIs(3));
  EXPECT_EQ(loaded->first.digest, gw::MessageDigest(kFigures));
  EXPECT_NE(loaded->first.retain_until, "");

  auto mbox = service_->ExportArchive(kAdmin, "northwind", "acme",
                                      {.sender = "cfo@partner.example"}, "mbox");
  ASSERT_TRUE(mbox.ok()) << mbox.status().message();
  EXPECT_THAT(*mbox, HasSubstr("\nFrom cfo@partner.example "));
  EXPECT_THAT(*mbox, HasSubstr("\n>From the desk of the CFO.\n")) << "mboxrd quoting";
  auto zip = service_->ExportArchive(kAdmin, "northwind", "acme", {}, "zip");
  ASSERT_TRUE(zip.ok()) << zip.status().message();
  EXPECT_EQ(zip->substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_THAT(*zip, HasSubstr(fmt::format("{}-outbound.eml", *other)));
  auto audit = service_->ListAudit(kAdmin, "northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(std::count_if(audit->begin(), audit->end(),
                          [](const gw::AuditEntry& e) { return e.action == "archive.export"; }),
            2);
}

TEST_F(ArchiveTest, OnlyTheCustomersAdminsReadItsArchiveAndOnlyTheFilterWritesIt) {
  ASSERT_TRUE(Archive(kFigures, {"ann@acme.example"}).ok());
  EXPECT_THAT(Search({}, kAdmin), SizeIs(1));
  EXPECT_EQ(service_->SearchArchive(kGlobexAdmin, "northwind", "acme", {}).status().code(),
            gw::StatusCode::kNotFound)
      << "another customer's admin does not learn it exists";
  EXPECT_EQ(service_->SearchArchive(kTechnician, "northwind", "acme", {}).status().code(),
            gw::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->SearchArchive(kFilter, "northwind", "acme", {}).status().code(),
            gw::StatusCode::kPermissionDenied);
  gw::ArchivedMessage meta{
      .customer = "acme", .direction = "inbound", .recipients = {"a@acme.example"}};
  EXPECT_EQ(service_->Archive(kAdmin, "northwind", meta, kFigures, "").status().code(),
            gw::StatusCode::kPermissionDenied)
      << "an admin cannot plant mail in the archive";

  // What the customer's archiving does not cover is refused, so the filter asks again.
  auto globex =
      Archive(kFigures, {"ann@globex.example"}, "x", "cfo@partner.example", "inbound", "globex");
  EXPECT_EQ(globex.status().code(), gw::StatusCode::kFailedPrecondition);
  PutCustomer("acme", {{"enabled", true}, {"directions", {"outbound"}}});
  EXPECT_EQ(Archive(kFigures, {"ann@acme.example"}).status().code(),
            gw::StatusCode::kFailedPrecondition)
      << "inbound is not archived any more";
  EXPECT_TRUE(Archive(kFigures, {"x@elsewhere.example"}, "x", "ann@acme.example", "outbound").ok());
  EXPECT_EQ(Archive(kFigures, {"x@elsewhere.example"}, "x", "y@stranger.example", "outbound")
                .status()
                .code(),
            gw::StatusCode::kInvalidArgument)
      << "mail between strangers is nobody's archive";
}

TEST_F(ArchiveTest, TheChainShowsWhatWasChangedOrRemoved) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto id = Archive(fmt::format("Subject: n{}\r\n\r\nbody {}\r\n", i, i), {"ann@acme.example"},
                      fmt::format("n{}", i));
    ASSERT_TRUE(id.ok()) << id.status().message();
    ids.push_back(*id);
  }
  auto intact = Verify();
  EXPECT_THAT(intact.problems, IsEmpty());
  EXPECT_EQ(intact.entries, 4);
  EXPECT_EQ(intact.last_id, ids[3]);
  EXPECT_FALSE(intact.head.empty());

  Tamper(
      fmt::format("UPDATE archive_entries SET sender = 'ceo@acme.example' WHERE id = {}", ids[1]));
  EXPECT_THAT(Verify().problems,
              ElementsAre(fmt::format("entry {}: its fields were changed", ids[1])));
  Tamper(fmt::format("UPDATE archive_entries SET sender = 'cfo@partner.example' WHERE id = {}",
                     ids[1]));
  EXPECT_THAT(Verify().problems, IsEmpty());

  // The bytes of a kept message replaced (a valid compressed message, another one).
  std::string forged = gw::CompressMessage("Subject: n2\r\n\r\nsomething else\r\n");
  std::string hex;
  for (unsigned char c : forged) hex += fmt::format("{:02x}", c);
  Tamper(
      fmt::format("UPDATE archive_messages SET compressed = x'{}' WHERE digest = (SELECT "
                  "digest FROM archive_entries WHERE id = {})",
                  hex, ids[2]));
  EXPECT_THAT(Verify().problems,
              ElementsAre(fmt::format("entry {}: its message is not the one archived", ids[2])));
  auto served = service_->LoadArchived(kAdmin, "northwind", "acme", ids[2]);
  EXPECT_EQ(served.status().code(), gw::StatusCode::kInternal) << "a forged message is not served";
  EXPECT_THAT(served.status().message(), HasSubstr("does not match its digest"));

  // An entry removed from the middle.
  Tamper(fmt::format("DELETE FROM archive_entries WHERE id = {}", ids[1]));
  auto check = Verify();
  EXPECT_THAT(check.problems,
              testing::Contains(HasSubstr(fmt::format("entry {}: the chain breaks", ids[2]))));
}

TEST_F(ArchiveTest, TheRetentionPurgeRemovesOnlyMailPastItsRetention) {
  auto old_one = Archive(kFigures, {"ann@acme.example"});
  auto newer = Archive("Subject: later\r\n\r\nlater\r\n", {"ann@acme.example"}, "later");
  ASSERT_TRUE(old_one.ok() && newer.ok());
  auto now = Clock::now();
  auto purged = service_->PurgeArchive(now + Days(29));
  ASSERT_TRUE(purged.ok()) << purged.status().message();
  EXPECT_EQ(*purged, 0) << "30 days of retention: nothing goes on day 29";

  // A longer retention now keeps it longer; a shorter one never removes it earlier.
  PutCustomer("acme", {{"enabled", true}, {"retention", "90d"}});
  EXPECT_EQ(Purge(now + Days(31)), 0);
  PutCustomer("acme", {{"enabled", true}, {"retention", "1d"}});
  EXPECT_EQ(Purge(now + Days(29)), 0);
  EXPECT_EQ(Purge(now + Days(31)), 2);
  EXPECT_THAT(Search({}), IsEmpty());
  EXPECT_EQ(CountRows("archive_messages"), 0);
  EXPECT_EQ(CountRows("archive_text"), 0);

  // The chain goes on from where the purge left it.
  ASSERT_TRUE(Archive("Subject: after\r\n\r\nafter\r\n", {"ann@acme.example"}, "after").ok());
  auto check = Verify();
  EXPECT_THAT(check.problems, IsEmpty());
  EXPECT_EQ(check.entries, 1);
  EXPECT_FALSE(check.anchor.empty());

  // Nothing the operator can call removes younger mail: the API has no delete, and the
  // legal release is refused to every actor but the host's own.
  gw::Actor operator_token{"ops", gw::Role::kOperator, "", ""};
  EXPECT_EQ(service_
                ->ReleaseArchived(operator_token, "northwind", "acme", check.last_id,
                                  "court order 12-345")
                .code(),
            gw::StatusCode::kPermissionDenied);
}

TEST_F(ArchiveTest, ALegalReleaseRemovesTheMessageAndKeepsTheChain) {
  auto kept = Archive(kFigures, {"ann@acme.example"});
  auto released = Archive("Subject: private\r\n\r\nmedical details\r\n", {"bob@acme.example"},
                          "private", "doctor@clinic.example");
  auto after = Archive("Subject: after\r\n\r\nafter\r\n", {"ann@acme.example"}, "after");
  ASSERT_TRUE(kept.ok() && released.ok() && after.ok());
  EXPECT_EQ(service_->ReleaseArchived(local_, "northwind", "acme", *released, "short").code(),
            gw::StatusCode::kInvalidArgument)
      << "a release names its reason";
  ASSERT_TRUE(service_
                  ->ReleaseArchived(local_, "northwind", "acme", *released,
                                    "erasure request 2026-118 (GDPR art. 17)")
                  .ok());
  EXPECT_THAT(Search({.text = "medical"}), IsEmpty());
  EXPECT_EQ(CountRows("archive_text WHERE archive_text MATCH 'medical'"), 0)
      << "its words are out of the index, not only hidden";
  EXPECT_EQ(CountRows("archive_text WHERE archive_text MATCH 'zeppelin'"), 1);
  EXPECT_THAT(Search({.sender = "doctor@clinic.example"}), IsEmpty());
  EXPECT_EQ(service_->LoadArchived(kAdmin, "northwind", "acme", *released).status().code(),
            gw::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountRows("archive_messages"), 2);
  auto check = Verify();
  EXPECT_THAT(check.problems, IsEmpty()) << "the released entry's digests still link the chain";
  EXPECT_EQ(check.entries, 3);
  auto audit = service_->ListAudit(kAdmin, "northwind", 0, 100);
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(std::any_of(audit->begin(), audit->end(), [](const gw::AuditEntry& e) {
    return e.action == "archive.release" && e.detail.dump().find("GDPR") != std::string::npos;
  }));
}

TEST(ArchiveCodec, MboxQuotesFromLinesAndZlibRoundTrips) {
  gw::ArchivedMessage entry{.received_at = "2026-12-07T10:00:00.000Z", .sender = ""};
  std::string mbox = gw::MboxEntry(entry, "Subject: x\r\n\r\nFrom here\r\n>From there\r\nend");
  EXPECT_EQ(mbox,
            "From MAILER-DAEMON 2026-12-07T10:00:00.000Z\nSubject: x\n\n>From here\n>>From "
            "there\nend\n\n");
  std::string binary;
  for (int i = 0; i < 100000; ++i) binary += static_cast<char>(i * 7919 % 251);
  auto round = gw::DecompressMessage(gw::CompressMessage(binary));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(*round, binary);
  EXPECT_FALSE(gw::DecompressMessage("not zlib").ok());
}

}  // namespace

// The same archive on PostgreSQL (a tsvector where SQLite has FTS5): what the SQLite
// tests show, in one pass.
TEST(ArchivePostgres, SearchReadVerifyPurgeAndReleaseWorkAsOnSqlite) {
  if (std::string missing = gwtest::PostgresMissing(); !missing.empty()) {
    GTEST_SKIP() << "PostgreSQL test skipped: " << missing;
  }
  gwtest::Postgres server;
  ASSERT_EQ(server.problem(), "");
  auto service = gw::Service::Open(server.url());
  ASSERT_TRUE(service.ok()) << service.status().message();
  gw::Actor local = gw::Actor::Local();
  ASSERT_TRUE((*service)->PutPartner(local, "northwind").ok());
  gw::CustomerWrite write;
  write.spec = {{"product", "ultimate-defense"},
                {"billableUsers", 5},
                {"domains", {{"primary", "acme.example"}}},
                {"destinations", "mx.acme.example"},
                {"archiving", {{"enabled", true}, {"retention", "30d"}}}};
  ASSERT_TRUE((*service)
                  ->PutCustomer(local, "northwind", "acme", write, gw::WriteCondition::CreateOnly())
                  .ok());
  auto keep = [&](const std::string& message, const std::string& subject) {
    gw::ArchivedMessage meta{.customer = "acme",
                             .direction = "inbound",
                             .sender = "cfo@partner.example",
                             .recipients = {"ann@acme.example"},
                             .subject = subject};
    auto id = (*service)->Archive(kFilter, "northwind", meta, message, subject + "\n" + message);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : 0;
  };
  int64_t first = keep(kFigures, "Quarterly figures");
  int64_t second = keep(kFigures, "Quarterly figures");
  int64_t third = keep("Subject: Lunch\r\n\r\nPizza on Friday?\r\n", "Lunch");
  auto search = [&](gw::ArchiveQuery query) {
    auto found = (*service)->SearchArchive(kAdmin, "northwind", "acme", query);
    EXPECT_TRUE(found.ok()) << found.status().message();
    std::vector<int64_t> ids;
    for (const auto& m : found.ok() ? *found : std::vector<gw::ArchivedMessage>{})
      ids.push_back(m.id);
    return ids;
  };
  EXPECT_THAT(search({.text = "zeppelin budget"}), ElementsAre(second, first));
  EXPECT_THAT(search({.text = "pizza"}), ElementsAre(third));
  EXPECT_THAT(search({.sender = "CFO@partner.example", .subject = "quarter"}),
              ElementsAre(second, first));
  EXPECT_THAT(search({.recipient = "ANN@acme.example", .before = second}), ElementsAre(first));
  auto loaded = (*service)->LoadArchived(kAdmin, "northwind", "acme", first);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->second, kFigures);
  ASSERT_TRUE(
      (*service)->ReleaseArchived(local, "northwind", "acme", third, "erasure request 77").ok());
  EXPECT_THAT(search({.text = "pizza"}), IsEmpty());
  auto check = (*service)->VerifyArchive(kAdmin, "northwind", "acme");
  ASSERT_TRUE(check.ok()) << check.status().message();
  EXPECT_THAT(check->problems, IsEmpty());
  EXPECT_EQ(check->entries, 3);
  auto purged = (*service)->PurgeArchive(Clock::now() + Days(31));
  ASSERT_TRUE(purged.ok()) << purged.status().message();
  EXPECT_EQ(*purged, 3);
  EXPECT_THAT(search({}), IsEmpty());
}

// A held message released is delivered mail: in the archive of a customer that archives,
// before it is sent; a customer that does not archive releases as before.
TEST(ArchiveRelease, AReleasedMessageIsArchivedAsItIsDelivered) {
  auto dir = gwtest::MakeTempDir("archive-release");
  std::vector<std::string> sent;
  gw::ServiceOptions options;
  options.send_mail = [&](const std::string&, const std::vector<std::string>&,
                          const std::string& message) {
    sent.push_back(message);
    return gw::Status::Ok();
  };
  auto service = gw::Service::Open((dir / "gateway.db").string(), options);
  ASSERT_TRUE(service.ok()) << service.status().message();
  gw::Actor local = gw::Actor::Local();
  ASSERT_TRUE((*service)->PutPartner(local, "northwind").ok());
  for (const char* name : {"acme", "globex"}) {
    gw::CustomerWrite write;
    write.spec = {{"product", "ultimate-defense"},
                  {"billableUsers", 5},
                  {"domains", {{"primary", std::string(name) + ".example"}}},
                  {"destinations", "mx.example.net"},
                  {"archiving", {{"enabled", std::string(name) == "acme"}}}};
    ASSERT_TRUE((*service)
                    ->PutCustomer(local, "northwind", name, write, gw::WriteCondition::CreateOnly())
                    .ok());
  }
  auto hold = [&](const std::string& customer) {
    gw::QuarantinedMessage meta;
    meta.customer = customer;
    meta.sender = "offers@shop.example";
    meta.recipients = {"ann@" + customer + ".example"};
    meta.subject = "Winter sale";
    meta.reason = "spam";
    auto id = (*service)->Quarantine(kFilter, "northwind", meta,
                                     "Subject: Winter sale\r\n\r\nA false positive.\r\n");
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : 0;
  };
  ASSERT_TRUE((*service)->ReleaseQuarantined(kAdmin, "northwind", "acme", hold("acme")).ok());
  ASSERT_TRUE((*service)->ReleaseQuarantined(kAdmin, "northwind", "globex", hold("globex")).ok());
  ASSERT_EQ(sent.size(), 2u);
  gw::ArchiveQuery query;
  query.subject = "winter";
  auto found = (*service)->SearchArchive(kAdmin, "northwind", "acme", query);
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].direction, "inbound");
  auto loaded = (*service)->LoadArchived(kAdmin, "northwind", "acme", (*found)[0].id);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->second, sent[0]) << "the copy delivered, its release marker included";
  EXPECT_THAT(loaded->second, HasSubstr("X-GW-Released: from quarantine"));
  auto globex = (*service)->SearchArchive(kAdmin, "northwind", "globex", {});
  ASSERT_TRUE(globex.ok());
  EXPECT_THAT(*globex, IsEmpty());
  std::filesystem::remove_all(dir);
}
