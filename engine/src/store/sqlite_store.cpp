// The Store on SQLite (sql_store.h): one file in WAL mode, its migrations, and how a
// statement runs on it.
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <optional>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "gateway/store.h"
#include "store/sql_store.h"
#include "store/sqlite.h"

namespace gw {

namespace {

namespace fs = std::filesystem;

// Each entry moves the store from version i to i+1; never edit a released one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE partners(name TEXT PRIMARY KEY, revision INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
CREATE TABLE customers(
  partner TEXT NOT NULL REFERENCES partners(name), name TEXT NOT NULL, version INTEGER NOT NULL,
  owner TEXT NOT NULL, applied_revision TEXT NOT NULL, labels TEXT NOT NULL, spec TEXT NOT NULL,
  secret_fingerprints TEXT NOT NULL, user_count INTEGER NOT NULL, users_digest TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY(partner, name)) WITHOUT ROWID;
CREATE TABLE domains(domain TEXT PRIMARY KEY, partner TEXT NOT NULL, customer TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX domains_by_customer ON domains(partner, customer);
CREATE TABLE users(
  partner TEXT NOT NULL, customer TEXT NOT NULL, address TEXT NOT NULL, record TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY(partner, customer, address)) WITHOUT ROWID;
CREATE TABLE leases(partner TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE audit(
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, partner TEXT NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX audit_by_partner ON audit(partner, id);
)sql",
    // 2: the compiled configuration beside the settings, relay sources as claims, and
    // an index of aliases, so that an address names one user.
    // Customers stored before have config '' until Service compiles them on open. The
    // key columns come first: SQLite 3.40's quick_check misreads a WITHOUT ROWID table
    // with a non-key column between them ("NULL value in ...").
    R"sql(
ALTER TABLE customers ADD COLUMN config TEXT NOT NULL DEFAULT '';
CREATE TABLE relay_sources(
  family INTEGER NOT NULL, first TEXT NOT NULL, prefix INTEGER NOT NULL, partner TEXT NOT NULL,
  customer TEXT NOT NULL, source TEXT NOT NULL,
  PRIMARY KEY(family, first, prefix, partner, customer)) WITHOUT ROWID;
CREATE INDEX relay_sources_by_customer ON relay_sources(partner, customer);
CREATE TABLE user_aliases(
  partner TEXT NOT NULL, customer TEXT NOT NULL, alias TEXT NOT NULL, owner TEXT NOT NULL,
  PRIMARY KEY(partner, customer, alias)) WITHOUT ROWID;
CREATE INDEX user_aliases_by_owner ON user_aliases(partner, customer, owner);
INSERT OR IGNORE INTO user_aliases
  SELECT u.partner, u.customer, a.value, u.address FROM users u, json_each(u.record, '$.aliases') a;
)sql",
    // 3: the quarantine, messages whole.
    R"sql(
CREATE TABLE quarantine(
  id INTEGER PRIMARY KEY AUTOINCREMENT, partner TEXT NOT NULL, customer TEXT NOT NULL,
  received_at TEXT NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL, subject TEXT NOT NULL,
  size INTEGER NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, released_at TEXT NOT NULL,
  message BLOB NOT NULL);
CREATE INDEX quarantine_by_customer ON quarantine(partner, customer, id);
CREATE INDEX quarantine_by_age ON quarantine(received_at);
)sql",
    // 4: spam reports: where each customer's schedule was looked at, and what each
    // recipient's last report covered.
    R"sql(
CREATE TABLE spam_reports(
  partner TEXT NOT NULL, customer TEXT NOT NULL, checked_at TEXT NOT NULL,
  PRIMARY KEY(partner, customer)) WITHOUT ROWID;
CREATE TABLE spam_report_marks(
  partner TEXT NOT NULL, customer TEXT NOT NULL, recipient TEXT NOT NULL,
  reported_through INTEGER NOT NULL, PRIMARY KEY(partner, customer, recipient)) WITHOUT ROWID;
)sql",
    // 5: continuity passwords, as Argon2id hashes.
    R"sql(
CREATE TABLE continuity_passwords(
  partner TEXT NOT NULL, customer TEXT NOT NULL, address TEXT NOT NULL, hash TEXT NOT NULL,
  set_at TEXT NOT NULL, PRIMARY KEY(partner, customer, address)) WITHOUT ROWID;
)sql",
    // 6: continuity outages.
    R"sql(
CREATE TABLE continuity_outages(
  partner TEXT NOT NULL, customer TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT NOT NULL,
  reason TEXT NOT NULL, delivered INTEGER NOT NULL, PRIMARY KEY(partner, customer, started_at))
  WITHOUT ROWID;
)sql",
    // 7: job leases (one replica runs the continuity monitor, a spam report pass).
    R"sql(
CREATE TABLE job_leases(job TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms INTEGER NOT NULL)
  WITHOUT ROWID;
)sql",
    // 8: domain claims with their verification: several pending claims on a name, one
    // verified. Claims made before are verified.
    R"sql(
CREATE TABLE domain_claims(
  domain TEXT NOT NULL, partner TEXT NOT NULL, customer TEXT NOT NULL, token TEXT NOT NULL,
  claimed_at TEXT NOT NULL, verified_at TEXT NOT NULL, checked_at TEXT NOT NULL,
  check_detail TEXT NOT NULL, PRIMARY KEY(domain, partner, customer)) WITHOUT ROWID;
CREATE UNIQUE INDEX domain_claims_verified ON domain_claims(domain) WHERE verified_at <> '';
CREATE INDEX domain_claims_by_customer ON domain_claims(partner, customer);
CREATE TABLE domain_proofs(
  partner TEXT NOT NULL, domain TEXT NOT NULL, token TEXT NOT NULL, verified_at TEXT NOT NULL,
  released_at TEXT NOT NULL, PRIMARY KEY(partner, domain)) WITHOUT ROWID;
INSERT INTO domain_claims
  SELECT domain, partner, customer, '', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
    strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), '', '' FROM domains;
INSERT INTO domain_proofs
  SELECT partner, domain, '', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), '' FROM domains;
DROP TABLE domains;
)sql",
    // 9: the compiled configuration is not kept: the spec is the one truth, compiled
    // where it is used. Customers stored before it was (config '') are remembered, so
    // that their claims are derived once (Store::TakeCustomersToRecompile).
    R"sql(
CREATE TABLE customers_to_recompile(partner TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY(partner, name));
INSERT INTO customers_to_recompile SELECT partner, name FROM customers WHERE config = '';
ALTER TABLE customers DROP COLUMN config;
)sql",
    // 10: self-service: minted access tokens, mailbox users' own lists, the used nonces
    // of single-use links, the key that signs them, and what users did with held mail.
    R"sql(
CREATE TABLE access_tokens(
  id TEXT PRIMARY KEY, partner TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
  customer TEXT NOT NULL, sha256 TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
  created_by TEXT NOT NULL, revoked_at TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX access_tokens_by_partner ON access_tokens(partner, created_at);
CREATE TABLE personal_lists(
  partner TEXT NOT NULL, customer TEXT NOT NULL, address TEXT NOT NULL, value TEXT NOT NULL,
  list TEXT NOT NULL, kind TEXT NOT NULL, added_at TEXT NOT NULL, added_by TEXT NOT NULL,
  PRIMARY KEY(partner, customer, address, value)) WITHOUT ROWID;
CREATE TABLE personal_list_revisions(
  partner TEXT NOT NULL, customer TEXT NOT NULL, revision INTEGER NOT NULL,
  PRIMARY KEY(partner, customer)) WITHOUT ROWID;
CREATE TABLE used_links(nonce TEXT PRIMARY KEY, used_at TEXT NOT NULL, expires_at TEXT NOT NULL)
  WITHOUT ROWID;
CREATE TABLE gateway_keys(name TEXT PRIMARY KEY, secret TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE quarantine_actions(
  partner TEXT NOT NULL, customer TEXT NOT NULL, id INTEGER NOT NULL, recipient TEXT NOT NULL,
  action TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL,
  PRIMARY KEY(partner, customer, id, recipient, action)) WITHOUT ROWID;
)sql",
};

// The store's $N placeholders as SQLite's ?N (a bare $N is a named parameter to SQLite,
// numbered by first appearance rather than by N). Quoted text is left alone.
std::string NumberedPlaceholders(std::string_view sql) {
  std::string out(sql);
  bool quoted = false;
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '\'') quoted = !quoted;
    if (!quoted && out[i] == '$' && std::isdigit(static_cast<unsigned char>(out[i + 1])))
      out[i] = '?';
  }
  return out;
}

class SqliteRow : public sql::Row {
 public:
  explicit SqliteRow(const sqlite::Statement& statement) : statement_(statement) {}
  std::string Text(int column) const override { return statement_.Text(column); }
  int64_t Int(int column) const override { return statement_.Int(column); }
  std::string Bytes(int column) const override { return statement_.Blob(column); }

 private:
  const sqlite::Statement& statement_;
};

// One file's connection; each statement is prepared once and reset after each use, so
// that no statement holds a read snapshot open between transactions.
class SqliteConnection : public sql::Connection {
 public:
  explicit SqliteConnection(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}

  Status Select(std::string_view sql, Params params,
                const std::function<void(const sql::Row&)>& each) override {
    auto statement = Bound(sql, params);
    if (!statement.ok()) return statement.status();
    Status status;
    SqliteRow row(**statement);
    while ((*statement)->Step(status)) each(row);
    (*statement)->Reset();
    return status;
  }

  Result<int64_t> Execute(std::string_view sql, Params params) override {
    auto statement = Bound(sql, params);
    if (!statement.ok()) return statement.status();
    if (Status s = (*statement)->Run(); !s.ok()) return s;
    return db_->Changes();
  }

  Status Transaction(bool write, bool change, const std::function<Status()>& body) override {
    if (Status s = db_->Execute(write ? "BEGIN IMMEDIATE" : "BEGIN"); !s.ok()) return s;
    Status status = body();
    if (!status.ok()) {
      db_->Execute("ROLLBACK");
      return status;
    }
    if (Status s = db_->Execute("COMMIT"); !s.ok()) {
      db_->Execute("ROLLBACK");
      return s;
    }
    if (write && change) ++own_commits_;
    return Status::Ok();
  }

  Result<int64_t> ChangeMark() override {
    // data_version changes with other connections' commits only; add our own.
    std::optional<int64_t> version;
    Status read =
        Select("PRAGMA data_version", {}, [&](const sql::Row& row) { version = row.Int(0); });
    if (!read.ok()) return read;
    if (!version) return Status(StatusCode::kInternal, "no data_version");
    return (own_commits_ << 32) + *version;
  }

  std::string JsonArrayRows(int param, bool) const override {
    return fmt::format("json_each(${})", param);
  }

 private:
  Result<sqlite::Statement*> Bound(std::string_view sql, Params params) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      auto prepared = db_->Prepare(NumberedPlaceholders(sql));
      if (!prepared.ok()) return prepared.status();
      it = statements_.emplace(std::string(sql), std::move(*prepared)).first;
    }
    sqlite::Statement& statement = it->second;
    int index = 1;
    for (const sql::Param& p : params) {
      switch (p.kind) {
        case sql::Param::Kind::kText:
          statement.Bind(index, p.text);
          break;
        case sql::Param::Kind::kInteger:
          statement.Bind(index, p.integer);
          break;
        case sql::Param::Kind::kBytes:
          statement.BindBlob(index, p.text);
          break;
        case sql::Param::Kind::kNull:
          statement.BindNull(index);
          break;
      }
      ++index;
    }
    return &statement;
  }

  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
  };

  std::unique_ptr<sqlite::Database> db_;
  int64_t own_commits_ = 0;  // write transactions this connection committed
  std::unordered_map<std::string, sqlite::Statement, TextHash, std::equal_to<>> statements_;
};

Status Unavailable(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message));
}

}  // namespace

Result<std::unique_ptr<sql::Connection>> OpenSqliteDatabase(const std::string& path,
                                                            std::span<const char* const> migrations,
                                                            int busy_timeout_ms,
                                                            std::string_view what) {
  const int schema_version = static_cast<int>(migrations.size());
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (exists) {
    if (!fs::is_regular_file(path, ec))
      return Unavailable(fmt::format("{} {} is not a regular file", what, path));
    if (access(path.c_str(), R_OK | W_OK) != 0) {
      return Unavailable(fmt::format(
          "{} {} is not writable by this user; gatewayd needs to write it", what, path));
    }
  } else if (fs::path parent = fs::path(path).parent_path(); !parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) return Unavailable(fmt::format("cannot create {}: {}", parent.string(), ec.message()));
  }
  auto db = sqlite::Database::Open(path, !exists, busy_timeout_ms);
  if (!db.ok()) return db.status();
  sqlite::Database& d = **db;

  // Read before writing anything, so a foreign or damaged file is left as it was.
  auto version_statement = d.Prepare("PRAGMA user_version");
  if (!version_statement.ok()) {
    return Unavailable(fmt::format("{} {} is not a gatewayd {} or is corrupt ({})", what, path,
                                   what, version_statement.status().message()));
  }
  Status status;
  version_statement->Step(status);
  if (!status.ok()) {
    return Unavailable(fmt::format("{} {} is not a gatewayd {} or is corrupt ({})", what, path,
                                   what, status.message()));
  }
  int64_t version = version_statement->Int(0);
  version_statement->Reset();
  if (version > schema_version) {
    return Unavailable(
        fmt::format("{} {} has schema version {}, newer than this gatewayd understands ({})", what,
                    path, version, schema_version));
  }
  if (exists) {
    auto check = d.Prepare("PRAGMA quick_check");
    if (!check.ok()) return Unavailable(fmt::format("{} {} is corrupt", what, path));
    check->Step(status);
    std::string verdict = check->Text(0);
    check->Reset();
    if (!status.ok() || verdict != "ok") {
      return Unavailable(fmt::format("{} {} is corrupt ({}); it was not changed", what, path,
                                     status.ok() ? verdict : status.message()));
    }
  }
  if (d.ReadOnly()) return Unavailable(fmt::format("{} {} is read-only", what, path));
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (Status s = d.Execute(pragma); !s.ok())
      return Unavailable(fmt::format("{} {}: {}", what, path, s.message()));
  }
  for (int64_t v = version; v < schema_version; ++v) {
    std::string sql =
        fmt::format("BEGIN; {} PRAGMA user_version = {}; COMMIT;", migrations[v], v + 1);
    if (Status s = d.Execute(sql); !s.ok()) {
      d.Execute("ROLLBACK");
      return Unavailable(
          fmt::format("{} {}: migration to version {} failed: {}", what, path, v + 1, s.message()));
    }
  }
  return std::unique_ptr<sql::Connection>(std::make_unique<SqliteConnection>(std::move(*db)));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               SqliteStoreOptions options) {
  auto connection = OpenSqliteDatabase(path, kMigrations, options.busy_timeout_ms, "store");
  if (!connection.ok()) return connection.status();
  return MakeSqlStore(std::move(*connection));
}

}  // namespace gw
