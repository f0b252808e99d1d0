// The Store on PostgreSQL (postgres.h): the same tables and guarantees as the SQLite
// store, for several gatewayd replicas on one database. Every transaction is
// SERIALIZABLE and is run again when PostgreSQL finds it conflicted with a concurrent one,
// so the Service's checks (versions, claims, the lease) hold across replicas exactly as
// they do in one process. Text keys compare bytewise (COLLATE "C"), as SQLite's do, so
// paging by address gives the same pages on both.
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/store.h"
#include "store/postgres.h"
#include "store/sql_store.h"

namespace gw {
namespace {

// Each entry moves the store from version i to i+1; never edit a released one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE partners(name TEXT COLLATE "C" PRIMARY KEY, revision BIGINT NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL);
CREATE TABLE customers(
  partner TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL,
  owner TEXT NOT NULL, applied_revision TEXT NOT NULL, labels TEXT NOT NULL, spec TEXT NOT NULL,
  secret_fingerprints TEXT NOT NULL, user_count BIGINT NOT NULL, users_digest TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, config TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(partner, name));
CREATE TABLE domains(domain TEXT COLLATE "C" PRIMARY KEY, partner TEXT NOT NULL,
  customer TEXT NOT NULL);
CREATE INDEX domains_by_customer ON domains(partner, customer);
CREATE TABLE users(
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL,
  address TEXT COLLATE "C" NOT NULL, record JSONB NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY(partner, customer, address));
CREATE TABLE user_aliases(
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL,
  alias TEXT COLLATE "C" NOT NULL, owner TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY(partner, customer, alias));
CREATE INDEX user_aliases_by_owner ON user_aliases(partner, customer, owner);
CREATE TABLE relay_sources(
  family INTEGER NOT NULL, first TEXT COLLATE "C" NOT NULL, prefix INTEGER NOT NULL,
  partner TEXT NOT NULL, customer TEXT NOT NULL, source TEXT NOT NULL,
  PRIMARY KEY(family, first, prefix, partner, customer));
CREATE INDEX relay_sources_by_customer ON relay_sources(partner, customer);
CREATE TABLE leases(partner TEXT COLLATE "C" PRIMARY KEY, holder TEXT NOT NULL,
  expires_at BIGINT NOT NULL);
CREATE TABLE audit(
  id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, partner TEXT NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX audit_by_partner ON audit(partner, id);
CREATE TABLE quarantine(
  id BIGSERIAL PRIMARY KEY, partner TEXT NOT NULL, customer TEXT NOT NULL,
  received_at TEXT COLLATE "C" NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL,
  subject TEXT NOT NULL, size BIGINT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
  released_at TEXT NOT NULL, message BYTEA NOT NULL);
CREATE INDEX quarantine_by_customer ON quarantine(partner, customer, id);
CREATE INDEX quarantine_by_age ON quarantine(received_at);
CREATE TABLE spam_reports(
  partner TEXT NOT NULL, customer TEXT NOT NULL, checked_at TEXT NOT NULL,
  PRIMARY KEY(partner, customer));
CREATE TABLE spam_report_marks(
  partner TEXT NOT NULL, customer TEXT NOT NULL, recipient TEXT NOT NULL,
  reported_through BIGINT NOT NULL, PRIMARY KEY(partner, customer, recipient));
CREATE TABLE continuity_passwords(
  partner TEXT NOT NULL, customer TEXT NOT NULL, address TEXT NOT NULL, hash TEXT NOT NULL,
  set_at TEXT NOT NULL, PRIMARY KEY(partner, customer, address));
CREATE TABLE continuity_outages(
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL,
  started_at TEXT COLLATE "C" NOT NULL, ended_at TEXT COLLATE "C" NOT NULL,
  reason TEXT NOT NULL, delivered BOOLEAN NOT NULL, PRIMARY KEY(partner, customer, started_at));
-- Bumped by every write transaction: the change mark the mail lookups of every replica
-- watch.
CREATE TABLE store_changes(one INTEGER PRIMARY KEY CHECK (one = 1), change BIGINT NOT NULL);
INSERT INTO store_changes VALUES (1, 0);
)sql",
    // 2: job leases (one replica runs the continuity monitor, a spam report pass).
    R"sql(
CREATE TABLE job_leases(job TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms BIGINT NOT NULL);
)sql",
    // 3: domain claims with their verification: several pending claims on a name, one
    // verified. Claims made before are verified.
    R"sql(
CREATE TABLE domain_claims(
  domain TEXT COLLATE "C" NOT NULL, partner TEXT COLLATE "C" NOT NULL,
  customer TEXT COLLATE "C" NOT NULL, token TEXT NOT NULL, claimed_at TEXT NOT NULL,
  verified_at TEXT NOT NULL, checked_at TEXT NOT NULL, check_detail TEXT NOT NULL,
  PRIMARY KEY(domain, partner, customer));
CREATE UNIQUE INDEX domain_claims_verified ON domain_claims(domain) WHERE verified_at <> '';
CREATE INDEX domain_claims_by_customer ON domain_claims(partner, customer);
CREATE TABLE domain_proofs(
  partner TEXT COLLATE "C" NOT NULL, domain TEXT COLLATE "C" NOT NULL, token TEXT NOT NULL,
  verified_at TEXT NOT NULL, released_at TEXT NOT NULL, PRIMARY KEY(partner, domain));
INSERT INTO domain_proofs
  SELECT partner, domain, '',
    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '' FROM domains;
INSERT INTO domain_claims
  SELECT domain, partner, customer, '',
    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '', '' FROM domains;
DROP TABLE domains;
)sql",
    // 4: the compiled configuration is not kept: the spec is the one truth, compiled
    // where it is used. Customers stored before it was (config '') are remembered, so
    // that their claims are derived once (Store::TakeCustomersToRecompile).
    R"sql(
CREATE TABLE customers_to_recompile(partner TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY(partner, name));
INSERT INTO customers_to_recompile SELECT partner, name FROM customers WHERE config = '';
ALTER TABLE customers DROP COLUMN config;
)sql",
    // 5: self-service: minted access tokens, mailbox users' own lists, the used nonces
    // of single-use links, the key that signs them, and what users did with held mail.
    R"sql(
CREATE TABLE access_tokens(
  id TEXT COLLATE "C" PRIMARY KEY, partner TEXT COLLATE "C" NOT NULL, name TEXT NOT NULL,
  role TEXT NOT NULL, customer TEXT NOT NULL, sha256 TEXT NOT NULL, created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL, created_by TEXT NOT NULL, revoked_at TEXT NOT NULL);
CREATE INDEX access_tokens_by_partner ON access_tokens(partner, created_at);
CREATE TABLE personal_lists(
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL,
  address TEXT COLLATE "C" NOT NULL, value TEXT COLLATE "C" NOT NULL, list TEXT NOT NULL,
  kind TEXT NOT NULL, added_at TEXT NOT NULL, added_by TEXT NOT NULL,
  PRIMARY KEY(partner, customer, address, value));
CREATE TABLE personal_list_revisions(
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL, revision BIGINT NOT NULL,
  PRIMARY KEY(partner, customer));
CREATE TABLE used_links(nonce TEXT COLLATE "C" PRIMARY KEY, used_at TEXT NOT NULL,
  expires_at TEXT NOT NULL);
CREATE TABLE gateway_keys(name TEXT COLLATE "C" PRIMARY KEY, secret TEXT NOT NULL);
CREATE TABLE quarantine_actions(
  partner TEXT COLLATE "C" NOT NULL, customer TEXT COLLATE "C" NOT NULL, id BIGINT NOT NULL,
  recipient TEXT COLLATE "C" NOT NULL, action TEXT COLLATE "C" NOT NULL, at TEXT NOT NULL,
  actor TEXT NOT NULL, PRIMARY KEY(partner, customer, id, recipient, action));
)sql",
};

class PostgresRow : public sql::Row {
 public:
  PostgresRow(const pg::Rows& rows, int row) : rows_(rows), row_(row) {}
  std::string Text(int column) const override { return rows_.Text(row_, column); }
  int64_t Int(int column) const override { return rows_.Int(row_, column); }
  std::string Bytes(int column) const override { return rows_.Bytes(row_, column); }

 private:
  const pg::Rows& rows_;
  int row_;
};

class PostgresConnection : public sql::Connection {
 public:
  explicit PostgresConnection(std::unique_ptr<pg::Connection> db) : db_(std::move(db)) {}

  Status Select(std::string_view sql, Params params,
                const std::function<void(const sql::Row&)>& each) override {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    for (int r = 0; r < rows->size(); ++r) each(PostgresRow(*rows, r));
    return Status::Ok();
  }

  Result<int64_t> Execute(std::string_view sql, Params params) override {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    return rows->Affected();
  }

  Status Transaction(bool write, bool change, const std::function<Status()>& body) override {
    return db_->Transaction(write, [&]() -> Status {
      if (Status s = body(); !s.ok()) return s;
      return write && change ? db_->Query("UPDATE store_changes SET change = change + 1").status()
                             : Status::Ok();
    });
  }

  Result<int64_t> ChangeMark() override {
    auto rows = db_->Query("SELECT change FROM store_changes");
    if (!rows.ok()) return rows.status();
    if (rows->size() != 1) return Status(StatusCode::kInternal, "no change mark");
    return rows->Int(0, 0);
  }

  std::string JsonArrayRows(int param, bool strings) const override {
    return fmt::format("{}(${}::jsonb)",
                       strings ? "jsonb_array_elements_text" : "jsonb_array_elements", param);
  }

 private:
  std::unique_ptr<pg::Connection> db_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenStore(const std::string& location, SqliteStoreOptions options) {
  return IsPostgresUrl(location) ? OpenPostgresStore(location) : OpenSqliteStore(location, options);
}

std::string RedactedStoreLocation(const std::string& location) {
  size_t scheme = location.find("://");
  if (!IsPostgresUrl(location) || scheme == std::string::npos) return location;
  size_t at = location.find('@', scheme + 3);
  size_t colon = location.find(':', scheme + 3);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return location;
  return location.substr(0, colon + 1) + "***" + location.substr(at);
}

bool IsPostgresUrl(const std::string& location) {
  return location.rfind("postgres://", 0) == 0 || location.rfind("postgresql://", 0) == 0;
}

Result<std::unique_ptr<sql::Connection>> OpenPostgresDatabase(
    const std::string& url, std::span<const char* const> migrations, std::string_view schema_table,
    int64_t lock_key, std::chrono::seconds connect_timeout) {
  const int schema_version = static_cast<int>(migrations.size());
  auto db = pg::Connection::Open(url, connect_timeout);
  if (!db.ok()) return db.status();
  pg::Connection& d = **db;
  // Replicas starting together migrate one at a time (a transaction-scoped lock).
  Status migrated = d.Transaction(true, [&]() -> Status {
    if (Status s = d.Query("SELECT pg_advisory_xact_lock($1)", {lock_key}).status(); !s.ok())
      return s;
    if (Status s = d.Execute(fmt::format("CREATE TABLE IF NOT EXISTS {0}(version INTEGER NOT NULL);"
                                         "INSERT INTO {0} SELECT 0 WHERE NOT EXISTS "
                                         "(SELECT 1 FROM {0})",
                                         schema_table));
        !s.ok())
      return s;
    auto version = d.Query(fmt::format("SELECT version FROM {}", schema_table));
    if (!version.ok()) return version.status();
    int64_t v = version->Int(0, 0);
    if (v > schema_version) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("the PostgreSQL store at {} has schema version {} ({}), newer "
                                "than this gatewayd understands ({})",
                                d.name(), v, schema_table, schema_version));
    }
    for (; v < schema_version; ++v) {
      if (Status s = d.Execute(migrations[v]); !s.ok()) return s;
      if (Status s =
              d.Query(fmt::format("UPDATE {} SET version = $1", schema_table), {v + 1}).status();
          !s.ok())
        return s;
    }
    return Status::Ok();
  });
  if (!migrated.ok()) return migrated;
  return std::unique_ptr<sql::Connection>(std::make_unique<PostgresConnection>(std::move(*db)));
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url,
                                                 std::chrono::seconds connect_timeout) {
  auto connection =
      OpenPostgresDatabase(url, kMigrations, "gatewayd_schema", 7361029, connect_timeout);
  if (!connection.ok()) return connection.status();
  return MakeSqlStore(std::move(*connection));
}

}  // namespace gw
