// The SQLite Store: one file in WAL mode, statements prepared once per store.
#include <unistd.h>

#include <filesystem>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "api/json_codec.h"
#include "gateway/store.h"
#include "store/relay_overlap.h"
#include "store/sqlite.h"

namespace gw {

namespace {

using nlohmann::json;
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
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

// The columns ReadCustomer reads, in its order. A macro so that queries built from it
// stay string literals (the statement cache keys on them).
#define kSelectCustomers                                                               \
  "SELECT name, version, owner, applied_revision, labels, spec, secret_fingerprints, " \
  "user_count, users_digest, created_at, updated_at FROM customers "

Customer ReadCustomer(const sqlite::Statement& row) {
  Customer c;
  c.name = row.Text(0);
  c.version = row.Int(1);
  c.owner = row.Text(2);
  c.applied_revision = row.Text(3);
  c.labels = json::parse(row.Text(4)).get<std::map<std::string, std::string>>();
  c.spec = json::parse(row.Text(5));
  c.secret_fingerprints = json::parse(row.Text(6)).get<std::map<std::string, std::string>>();
  c.user_count = row.Int(7);
  c.users_digest = row.Text(8);
  c.created_at = row.Text(9);
  c.updated_at = row.Text(10);
  return c;
}

void BindAll(sqlite::Statement&, int) {}
template <typename First, typename... Rest>
void BindAll(sqlite::Statement& statement, int index, const First& first, const Rest&... rest) {
  if constexpr (std::is_integral_v<First>) {
    statement.Bind(index, static_cast<int64_t>(first));
  } else {
    statement.Bind(index, std::string_view(first));
  }
  BindAll(statement, index + 1, rest...);
}

class SqliteStore : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}

  Status Transaction(bool write, const std::function<Status()>& body) override {
    // A connection inside a read transaction cannot wait for another process's write
    // lock (SQLite answers busy at once): end it, so the busy timeout applies.
    ResetUsed();
    if (Status s = db_->Execute(write ? "BEGIN IMMEDIATE" : "BEGIN"); !s.ok()) return s;
    Status status = body();
    // A statement left stepped holds its read transaction open, and the connection
    // would go on seeing that snapshot, blind to what other processes write.
    ResetUsed();
    if (!status.ok()) {
      db_->Execute("ROLLBACK");
      return status;
    }
    if (Status s = db_->Execute("COMMIT"); !s.ok()) {
      db_->Execute("ROLLBACK");
      return s;
    }
    if (write) ++own_commits_;
    return Status::Ok();
  }

  Result<int64_t> ChangeMark() override {
    // data_version changes with other connections' commits only; add our own.
    auto row = Query("PRAGMA data_version");
    if (!row.ok()) return row.status();
    Status status;
    if (!(*row)->Step(status))
      return status.ok() ? Status(StatusCode::kInternal, "no data_version") : status;
    return (own_commits_ << 32) + (*row)->Int(0);
  }

  Result<std::vector<CustomerMark>> ListCustomerMarks() override {
    auto rows = Query(
        "SELECT partner, name, version, users_digest, (SELECT json_group_array(domain) FROM "
        "(SELECT domain FROM domain_claims d WHERE d.partner = c.partner AND d.customer = "
        "c.name AND verified_at = '' ORDER BY domain)) FROM customers c");
    if (!rows.ok()) return rows.status();
    std::vector<CustomerMark> marks;
    Status status;
    while ((*rows)->Step(status)) {
      marks.push_back({{(*rows)->Text(0), (*rows)->Text(1)},
                       (*rows)->Int(2),
                       (*rows)->Text(3),
                       json::parse((*rows)->Text(4)).get<std::vector<std::string>>()});
    }
    if (!status.ok()) return status;
    return marks;
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListRecipients(
      const std::string& partner, const std::string& customer) override {
    auto rows = Query(
        "SELECT address, address FROM users WHERE partner = ?1 AND customer = ?2 AND "
        "json_extract(record, '$.active') "
        "UNION ALL SELECT a.alias, a.owner FROM user_aliases a JOIN users u ON u.partner = "
        "a.partner AND u.customer = a.customer AND u.address = a.owner WHERE a.partner = ?1 AND "
        "a.customer = ?2 AND json_extract(u.record, '$.active')",
        partner, customer);
    if (!rows.ok()) return rows.status();
    std::vector<std::pair<std::string, std::string>> recipients;
    Status status;
    while ((*rows)->Step(status)) recipients.emplace_back((*rows)->Text(0), (*rows)->Text(1));
    if (!status.ok()) return status;
    return recipients;
  }

  Result<bool> PartnerExists(const std::string& partner) override {
    return Exists("SELECT 1 FROM partners WHERE name = ?", partner);
  }

  Result<bool> InsertPartner(const std::string& partner, const std::string& created_at) override {
    if (Status s = Run("INSERT OR IGNORE INTO partners(name, created_at) VALUES (?, ?)", partner,
                       created_at);
        !s.ok())
      return s;
    return db_->Changes() > 0;
  }

  Result<std::vector<std::string>> ListPartners() override {
    return Column("SELECT name FROM partners ORDER BY name");
  }

  Result<int64_t> PartnerRevision(const std::string& partner) override {
    auto row = Query("SELECT revision FROM partners WHERE name = ?", partner);
    if (!row.ok()) return row.status();
    Status status;
    int64_t revision = (*row)->Step(status) ? (*row)->Int(0) : 0;
    if (!status.ok()) return status;
    return revision;
  }

  Status BumpPartnerRevision(const std::string& partner) override {
    return Run("UPDATE partners SET revision = revision + 1 WHERE name = ?", partner);
  }

  Result<std::optional<Customer>> LoadCustomer(const std::string& partner,
                                               const std::string& name) override {
    return First<Customer>(kSelectCustomers "WHERE partner = ? AND name = ?", ReadCustomer, partner,
                           name);
  }

  Result<std::vector<Customer>> ListCustomers(const std::string& partner) override {
    auto rows = Query(kSelectCustomers "WHERE partner = ? ORDER BY name", partner);
    if (!rows.ok()) return rows.status();
    std::vector<Customer> customers;
    Status status;
    while ((*rows)->Step(status)) customers.push_back(ReadCustomer(**rows));
    if (!status.ok()) return status;
    return customers;
  }

  Status SaveCustomer(const std::string& partner, const Customer& c,
                      const nlohmann::json& config) override {
    return Run(
        "INSERT OR REPLACE INTO customers(partner, name, version, owner, applied_revision, "
        "labels, spec, secret_fingerprints, user_count, users_digest, created_at, updated_at, "
        "config) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        partner, c.name, c.version, c.owner, c.applied_revision, json(c.labels).dump(),
        c.spec.dump(), json(c.secret_fingerprints).dump(), c.user_count, c.users_digest,
        c.created_at, c.updated_at, config.dump());
  }

  Status DeleteCustomer(const std::string& partner, const std::string& name) override {
    for (std::string_view sql :
         {"DELETE FROM users WHERE partner = ? AND customer = ?",
          "DELETE FROM user_aliases WHERE partner = ? AND customer = ?",
          "DELETE FROM domain_claims WHERE partner = ? AND customer = ?",
          "DELETE FROM relay_sources WHERE partner = ? AND customer = ?",
          "DELETE FROM quarantine WHERE partner = ? AND customer = ?",
          "DELETE FROM spam_reports WHERE partner = ? AND customer = ?",
          "DELETE FROM spam_report_marks WHERE partner = ? AND customer = ?",
          "DELETE FROM continuity_passwords WHERE partner = ? AND customer = ?",
          "DELETE FROM continuity_outages WHERE partner = ? AND customer = ?",
          "DELETE FROM customers WHERE partner = ? AND name = ?"}) {
      if (Status s = Run(sql, partner, name); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status SetUserSummary(const std::string& partner, const std::string& name, int64_t user_count,
                        const std::string& users_digest) override {
    return Run(
        "UPDATE customers SET user_count = ?, users_digest = ? WHERE partner = ? AND name = ?",
        user_count, users_digest, partner, name);
  }

  Result<std::optional<ClaimOwner>> DomainOwner(const std::string& domain) override {
    return First<ClaimOwner>(
        "SELECT partner, customer FROM domain_claims WHERE domain = ? AND verified_at <> ''",
        [](const sqlite::Statement& row) {
          return ClaimOwner{row.Text(0), row.Text(1)};
        },
        domain);
  }

  Result<std::vector<std::string>> CustomerDomains(const std::string& partner,
                                                   const std::string& customer) override {
    return Column("SELECT domain FROM domain_claims WHERE partner = ? AND customer = ?", partner,
                  customer);
  }

  Result<std::vector<DomainClaim>> ListDomainClaims(const std::string& partner,
                                                    const std::string& customer,
                                                    bool pending_only) override {
    // One statement per case, so that a customer's claims are read by index.
#define kSelectClaims                                                              \
  "SELECT domain, partner, customer, token, claimed_at, verified_at, checked_at, " \
  "check_detail FROM domain_claims WHERE (?3 = 0 OR verified_at = '') "
    const char* sql =
        !customer.empty()  ? kSelectClaims "AND partner = ?1 AND customer = ?2 ORDER BY domain"
        : !partner.empty() ? kSelectClaims "AND partner = ?1 AND ?2 = '' ORDER BY customer, domain"
                           : kSelectClaims
            "AND ?1 = '' AND ?2 = '' ORDER BY partner, customer, domain";
#undef kSelectClaims
    auto rows = Query(sql, partner, customer, pending_only ? 1 : 0);
    if (!rows.ok()) return rows.status();
    std::vector<DomainClaim> claims;
    Status status;
    while ((*rows)->Step(status)) {
      const sqlite::Statement& row = **rows;
      claims.push_back({row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4),
                        row.Text(5), row.Text(6), row.Text(7)});
    }
    if (!status.ok()) return status;
    return claims;
  }

  Result<std::optional<DomainProof>> LoadDomainProof(const std::string& partner,
                                                     const std::string& domain) override {
    return First<DomainProof>(
        "SELECT token, verified_at, released_at FROM domain_proofs WHERE partner = ? AND domain "
        "= ?",
        [&](const sqlite::Statement& row) {
          return DomainProof{partner, domain, row.Text(0), row.Text(1), row.Text(2)};
        },
        partner, domain);
  }

  Status SaveDomainProof(const DomainProof& p) override {
    return Run(
        "INSERT OR REPLACE INTO domain_proofs(partner, domain, token, verified_at, released_at) "
        "VALUES (?, ?, ?, ?, ?)",
        p.partner, p.domain, p.token, p.verified_at, p.released_at);
  }

  Status SaveDomainCheck(const DomainClaim& claim) override {
    if (Status s =
            Run("UPDATE domain_claims SET verified_at = ?, checked_at = ?, check_detail = ? WHERE "
                "domain = ? AND partner = ? AND customer = ?",
                claim.verified_at, claim.checked_at, claim.check_detail, claim.domain,
                claim.partner, claim.customer);
        !s.ok())
      return s;
    if (db_->Changes() == 0)
      return Status(StatusCode::kNotFound, fmt::format("no claim on domain '{}'", claim.domain));
    return Status::Ok();
  }

  Result<std::optional<RelayClaim>> RelayOverlap(const IpRange& range,
                                                 const ClaimOwner& except) override {
    int family = range.is_v6() ? 6 : 4;
    return FindRelayOverlap(
        range,
        [&](const std::string& first, int shortest, int longest) {
          return FirstRelay(
              "SELECT source, partner, customer FROM relay_sources WHERE family = ? AND first = "
              "? AND prefix BETWEEN ? AND ? AND NOT (partner = ? AND customer = ?) LIMIT 1",
              family, first, shortest, longest, except.partner, except.customer);
        },
        [&](const std::string& first, const std::string& last) {
          return FirstRelay(
              "SELECT source, partner, customer FROM relay_sources WHERE family = ? AND first >= "
              "? AND first <= ? AND NOT (partner = ? AND customer = ?) LIMIT 1",
              family, first, last, except.partner, except.customer);
        });
  }

  Status ReplaceClaims(const ClaimOwner& owner, const std::vector<DomainClaim>& domains,
                       const std::vector<IpRange>& relay_sources) override {
    for (std::string_view sql : {"DELETE FROM domain_claims WHERE partner = ? AND customer = ?",
                                 "DELETE FROM relay_sources WHERE partner = ? AND customer = ?"}) {
      if (Status s = Run(sql, owner.partner, owner.customer); !s.ok()) return s;
    }
    for (const auto& c : domains) {
      if (Status s = Run("INSERT INTO domain_claims(domain, partner, customer, token, claimed_at, "
                         "verified_at, checked_at, check_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         c.domain, owner.partner, owner.customer, c.token, c.claimed_at,
                         c.verified_at, c.checked_at, c.check_detail);
          !s.ok())
        return s;
    }
    for (const auto& range : relay_sources) {
      if (Status s =
              Run("INSERT OR IGNORE INTO relay_sources(family, first, prefix, partner, customer, "
                  "source) VALUES (?, ?, ?, ?, ?, ?)",
                  range.is_v6() ? 6 : 4, range.FirstHex(), range.prefix_length(), owner.partner,
                  owner.customer, range.ToString());
          !s.ok())
        return s;
    }
    return Status::Ok();
  }

  Result<std::optional<std::string>> UserHashOf(const std::string& partner,
                                                const std::string& customer,
                                                const std::string& address) override {
    return First<std::string>(
        "SELECT hash FROM users WHERE partner = ? AND customer = ? AND address = ?",
        [](const sqlite::Statement& row) { return row.Text(0); }, partner, customer, address);
  }

  Result<std::map<std::string, std::string>> UserHashesOf(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override {
    std::map<std::string, std::string> hashes;  // in-process: a cached statement per address
    for (const auto& address : addresses) {
      auto hash = UserHashOf(partner, customer, address);
      if (!hash.ok()) return hash.status();
      if (*hash) hashes.emplace(address, std::move(**hash));
    }
    return hashes;
  }

  Status PutUsers(const std::string& partner, const std::string& customer,
                  const std::vector<UserWrite>& users) override {
    for (const auto& [user, hash, replacing] : users) {
      if (Status s = Run(
              "INSERT OR REPLACE INTO users(partner, customer, address, record, hash) VALUES (?, "
              "?, ?, ?, ?)",
              partner, customer, user->address, ToJson(*user).dump(), hash);
          !s.ok())
        return s;
      if (replacing) {
        if (Status s = DeleteAliases(partner, customer, user->address); !s.ok()) return s;
      }
      for (const auto& alias : user->aliases) {
        // REPLACE: an alias may move to this user before its old owner is rewritten.
        if (Status s = Run(
                "INSERT OR REPLACE INTO user_aliases(partner, customer, alias, owner) VALUES (?, "
                "?, ?, ?)",
                partner, customer, alias, user->address);
            !s.ok())
          return s;
      }
    }
    return Status::Ok();
  }

  Status RemoveUsers(const std::string& partner, const std::string& customer,
                     const std::vector<std::string>& addresses) override {
    for (const auto& address : addresses) {
      for (std::string_view sql :
           {"DELETE FROM users WHERE partner = ? AND customer = ? AND address = ?",
            "DELETE FROM continuity_passwords WHERE partner = ? AND customer = ? AND address = "
            "?"}) {
        if (Status s = Run(sql, partner, customer, address); !s.ok()) return s;
      }
      if (Status s = DeleteAliases(partner, customer, address); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Result<bool> HasAliases(const std::string& partner, const std::string& customer) override {
    return Exists("SELECT 1 FROM user_aliases WHERE partner = ? AND customer = ? LIMIT 1", partner,
                  customer);
  }

  Result<std::map<std::string, std::string>> AliasOwners(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override {
    std::map<std::string, std::string> owners;  // in-process: a cached statement per address
    for (const auto& address : addresses) {
      auto owner = First<std::string>(
          "SELECT owner FROM user_aliases WHERE partner = ? AND customer = ? AND alias = ?",
          [](const sqlite::Statement& row) { return row.Text(0); }, partner, customer, address);
      if (!owner.ok()) return owner.status();
      if (*owner) owners.emplace(address, std::move(**owner));
    }
    return owners;
  }

  Result<std::vector<User>> ListUsers(const std::string& partner, const std::string& customer,
                                      const std::string& after, size_t limit) override {
    auto rows = Query(
        "SELECT record FROM users WHERE partner = ? AND customer = ? AND address > ? ORDER BY "
        "address LIMIT ?",
        partner, customer, after, static_cast<int64_t>(limit));
    if (!rows.ok()) return rows.status();
    std::vector<User> users;
    Status status;
    while ((*rows)->Step(status)) {
      auto user = UserFromJson(json::parse((*rows)->Text(0)), "");
      if (!user.ok())
        return Status(StatusCode::kInternal,
                      "store holds an unreadable user: " + user.status().message());
      users.push_back(std::move(*user));
    }
    if (!status.ok()) return status;
    return users;
  }

  Result<std::pair<int64_t, std::string>> UsersInDomain(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& domain) override {
    auto row = Query(
        "SELECT count(*), min(address) FROM users WHERE partner = ? AND customer = ? AND "
        "address LIKE ?",
        partner, customer, "%@" + domain);
    if (!row.ok()) return row.status();
    Status status;
    (*row)->Step(status);
    if (!status.ok()) return status;
    return std::make_pair((*row)->Int(0), (*row)->Text(1));
  }

  Result<std::optional<Lease>> GetLease(const std::string& partner) override {
    return First<Lease>(
        "SELECT holder, expires_at FROM leases WHERE partner = ?",
        [](const sqlite::Statement& row) {
          return Lease{row.Text(0), row.Int(1)};
        },
        partner);
  }

  Status PutLease(const std::string& partner, const Lease& lease) override {
    return Run("INSERT OR REPLACE INTO leases(partner, holder, expires_at) VALUES (?, ?, ?)",
               partner, lease.holder, lease.expires_at_unix);
  }

  Status DeleteLease(const std::string& partner, const std::string& holder) override {
    return Run("DELETE FROM leases WHERE partner = ? AND holder = ?", partner, holder);
  }

  Result<int64_t> AddQuarantined(const std::string& partner, const QuarantinedMessage& m,
                                 const std::string& message) override {
    auto statement = Query(
        "INSERT INTO quarantine(partner, customer, received_at, sender, recipients, subject, "
        "size, reason, detail, released_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)",
        partner, m.customer, m.received_at, m.sender, json(m.recipients).dump(), m.subject,
        static_cast<int64_t>(message.size()), m.reason, m.detail);
    if (!statement.ok()) return statement.status();
    (*statement)->BindBlob(10, message);
    if (Status s = (*statement)->Run(); !s.ok()) return s;
    return db_->LastInsertId();
  }

#define kSelectQuarantine                                                                 \
  "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, " \
  "released_at FROM quarantine "

  static QuarantinedMessage ReadQuarantined(const sqlite::Statement& row) {
    QuarantinedMessage m;
    m.id = row.Int(0);
    m.customer = row.Text(1);
    m.received_at = row.Text(2);
    m.sender = row.Text(3);
    m.recipients = json::parse(row.Text(4)).get<std::vector<std::string>>();
    m.subject = row.Text(5);
    m.size = row.Int(6);
    m.reason = row.Text(7);
    m.detail = row.Text(8);
    m.released_at = row.Text(9);
    return m;
  }

  Result<std::vector<QuarantinedMessage>> ListQuarantined(const std::string& partner,
                                                          const std::string& customer,
                                                          int64_t after, size_t limit) override {
    auto rows =
        Query(kSelectQuarantine "WHERE partner = ? AND customer = ? AND id > ? ORDER BY id LIMIT ?",
              partner, customer, after, static_cast<int64_t>(limit));
    if (!rows.ok()) return rows.status();
    std::vector<QuarantinedMessage> out;
    Status status;
    while ((*rows)->Step(status)) out.push_back(ReadQuarantined(**rows));
    if (!status.ok()) return status;
    return out;
  }

  Result<std::optional<std::pair<QuarantinedMessage, std::string>>> LoadQuarantined(
      const std::string& partner, const std::string& customer, int64_t id) override {
    auto rows = Query(
        "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, "
        "released_at, message FROM quarantine WHERE partner = ? AND customer = ? AND id = ?",
        partner, customer, id);
    if (!rows.ok()) return rows.status();
    Status status;
    if (!(*rows)->Step(status)) {
      if (!status.ok()) return status;
      return std::optional<std::pair<QuarantinedMessage, std::string>>();
    }
    return std::optional(std::make_pair(ReadQuarantined(**rows), (*rows)->Blob(10)));
  }

  Status MarkReleased(const std::string& partner, const std::string& customer, int64_t id,
                      const std::string& released_at) override {
    return Run(
        "UPDATE quarantine SET released_at = ? WHERE partner = ? AND customer = ? AND id = ?",
        released_at, partner, customer, id);
  }

  Result<int64_t> PurgeQuarantine(const std::string& before) override {
    if (Status s = Run("DELETE FROM quarantine WHERE received_at < ?", before); !s.ok()) return s;
    return db_->Changes();
  }

  Result<SpamReportState> LoadSpamReportState(const std::string& partner,
                                              const std::string& customer) override {
    SpamReportState state;
    Status status;
    auto checked = Query("SELECT checked_at FROM spam_reports WHERE partner = ? AND customer = ?",
                         partner, customer);
    if (!checked.ok()) return checked.status();
    if ((*checked)->Step(status)) state.checked_at = (*checked)->Text(0);
    if (!status.ok()) return status;
    auto marks = Query(
        "SELECT recipient, reported_through FROM spam_report_marks WHERE partner = ? AND "
        "customer = ?",
        partner, customer);
    if (!marks.ok()) return marks.status();
    while ((*marks)->Step(status)) state.reported_through[(*marks)->Text(0)] = (*marks)->Int(1);
    if (!status.ok()) return status;
    return state;
  }

  Status SaveSpamReportState(const std::string& partner, const std::string& customer,
                             const SpamReportState& state) override {
    if (Status s = Run("INSERT OR REPLACE INTO spam_reports(partner, customer, checked_at) "
                       "VALUES (?, ?, ?)",
                       partner, customer, state.checked_at);
        !s.ok())
      return s;
    for (const auto& [recipient, id] : state.reported_through) {
      if (Status s = Run("INSERT OR REPLACE INTO spam_report_marks(partner, customer, recipient, "
                         "reported_through) VALUES (?, ?, ?, ?)",
                         partner, customer, recipient, id);
          !s.ok())
        return s;
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListContinuityUsers(const std::string& partner,
                                                       const std::string& customer) override {
    auto rows = Query(
        "SELECT address FROM users WHERE partner = ? AND customer = ? AND "
        "json_extract(record, '$.active') AND json_extract(record, '$.continuity')",
        partner, customer);
    if (!rows.ok()) return rows.status();
    std::vector<std::string> addresses;
    Status status;
    while ((*rows)->Step(status)) addresses.push_back((*rows)->Text(0));
    if (!status.ok()) return status;
    return addresses;
  }

  Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                               const std::string& address, const std::string& hash,
                               const std::string& set_at) override {
    return Run(
        "INSERT OR REPLACE INTO continuity_passwords(partner, customer, address, hash, set_at) "
        "VALUES (?, ?, ?, ?, ?)",
        partner, customer, address, hash, set_at);
  }

  Result<std::optional<std::string>> ContinuityPassword(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& address) override {
    auto rows = Query(
        "SELECT hash FROM continuity_passwords WHERE partner = ? AND customer = ? AND address = ?",
        partner, customer, address);
    if (!rows.ok()) return rows.status();
    Status status;
    std::optional<std::string> hash;
    if ((*rows)->Step(status)) hash = (*rows)->Text(0);
    if (!status.ok()) return status;
    return hash;
  }

  Status StartOutage(const ContinuityOutage& o) override {
    return Run(
        "INSERT OR IGNORE INTO continuity_outages(partner, customer, started_at, ended_at, "
        "reason, delivered) VALUES (?, ?, ?, '', ?, 0)",
        o.partner, o.customer, o.started_at, o.reason);
  }

  Status EndOutage(const std::string& partner, const std::string& customer,
                   const std::string& ended_at) override {
    return Run(
        "UPDATE continuity_outages SET ended_at = ? WHERE partner = ? AND customer = ? AND "
        "ended_at = ''",
        ended_at, partner, customer);
  }

  Status MarkOutagesDelivered(const std::string& partner, const std::string& customer) override {
    return Run(
        "UPDATE continuity_outages SET delivered = 1 WHERE partner = ? AND customer = ? AND "
        "ended_at <> ''",
        partner, customer);
  }

  Result<std::vector<ContinuityOutage>> ListOutages(const std::string& ended_since) override {
    auto rows = Query(
        "SELECT partner, customer, started_at, ended_at, reason, delivered FROM "
        "continuity_outages WHERE ended_at = '' OR delivered = 0 OR ended_at >= ? "
        "ORDER BY partner, customer, started_at",
        ended_since);
    if (!rows.ok()) return rows.status();
    std::vector<ContinuityOutage> outages;
    Status status;
    while ((*rows)->Step(status)) {
      outages.push_back({(*rows)->Text(0), (*rows)->Text(1), (*rows)->Text(2), (*rows)->Text(3),
                         (*rows)->Text(4), (*rows)->Int(5) != 0});
    }
    if (!status.ok()) return status;
    return outages;
  }

  Result<std::string> HoldJob(const std::string& job, const std::string& holder, int64_t now_ms,
                              int64_t until_ms) override {
    std::string holder_now;
    Status status = Transaction(true, [&]() -> Status {
      if (Status s = Run(
              "INSERT INTO job_leases(job, holder, expires_ms) VALUES (?, ?, ?) ON CONFLICT(job) "
              "DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms WHERE "
              "job_leases.holder = excluded.holder OR job_leases.expires_ms <= ?",
              job, holder, until_ms, now_ms);
          !s.ok())
        return s;
      auto found = First<std::string>(
          "SELECT holder FROM job_leases WHERE job = ?",
          [](const sqlite::Statement& row) { return row.Text(0); }, job);
      if (!found.ok()) return found.status();
      holder_now = found->value_or("");
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return holder_now;
  }

  Status ReleaseJob(const std::string& job, const std::string& holder) override {
    return Run("DELETE FROM job_leases WHERE job = ? AND holder = ?", job, holder);
  }

  Status AppendAudit(const AuditEntry& e) override {
    return Run(
        "INSERT INTO audit(at, partner, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        e.at, e.partner, e.actor, e.action, e.target, e.detail.dump());
  }

  Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                            size_t limit) override {
    auto rows = Query(
        "SELECT id, at, partner, actor, action, target, detail FROM audit WHERE partner = ? AND "
        "id > ? ORDER BY id LIMIT ?",
        partner, after, static_cast<int64_t>(limit));
    if (!rows.ok()) return rows.status();
    std::vector<AuditEntry> entries;
    Status status;
    while ((*rows)->Step(status)) {
      const sqlite::Statement& row = **rows;
      entries.push_back({row.Int(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4),
                         row.Text(5), json::parse(row.Text(6))});
    }
    if (!status.ok()) return status;
    return entries;
  }

  Result<std::vector<ClaimOwner>> CustomersWithoutConfig() override {
    auto rows = Query("SELECT partner, name FROM customers WHERE config = ''");
    if (!rows.ok()) return rows.status();
    std::vector<ClaimOwner> out;
    Status status;
    while ((*rows)->Step(status)) out.push_back({(*rows)->Text(0), (*rows)->Text(1)});
    if (!status.ok()) return status;
    return out;
  }

 private:
  // A prepared statement for `sql` (a string literal), reset, bound and ready to step;
  // prepared once per store.
  template <typename... Args>
  Result<sqlite::Statement*> Query(std::string_view sql, const Args&... args) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      auto prepared = db_->Prepare(sql);
      if (!prepared.ok()) return prepared.status();
      it = statements_.emplace(sql, std::move(*prepared)).first;
    }
    it->second.Reset();
    used_.insert(&it->second);
    BindAll(it->second, 1, args...);
    return &it->second;
  }

  template <typename... Args>
  Status Run(std::string_view sql, const Args&... args) {
    auto statement = Query(sql, args...);
    if (!statement.ok()) return statement.status();
    return (*statement)->Run();
  }

  template <typename... Args>
  Result<bool> Exists(std::string_view sql, const Args&... args) {
    auto row = Query(sql, args...);
    if (!row.ok()) return row.status();
    Status status;
    bool found = (*row)->Step(status);
    if (!status.ok()) return status;
    return found;
  }

  template <typename... Args>
  Result<std::vector<std::string>> Column(std::string_view sql, const Args&... args) {
    auto rows = Query(sql, args...);
    if (!rows.ok()) return rows.status();
    std::vector<std::string> out;
    Status status;
    while ((*rows)->Step(status)) out.push_back((*rows)->Text(0));
    if (!status.ok()) return status;
    return out;
  }

  // The first row of `sql`, read by `read`, or nothing.
  template <typename T, typename Read, typename... Args>
  Result<std::optional<T>> First(std::string_view sql, Read read, const Args&... args) {
    auto row = Query(sql, args...);
    if (!row.ok()) return row.status();
    Status status;
    if (!(*row)->Step(status)) {
      if (!status.ok()) return status;
      return std::optional<T>();
    }
    return std::optional<T>(read(**row));
  }

  template <typename... Args>
  Result<std::optional<RelayClaim>> FirstRelay(std::string_view sql, const Args&... args) {
    auto found = First<std::pair<std::string, ClaimOwner>>(
        sql,
        [](const sqlite::Statement& row) {
          return std::make_pair(row.Text(0), ClaimOwner{row.Text(1), row.Text(2)});
        },
        args...);
    if (!found.ok()) return found.status();
    if (!*found) return std::optional<RelayClaim>();
    auto range = IpRange::Parse((*found)->first);
    if (!range.ok()) return Status(StatusCode::kInternal, "store holds an unreadable relay source");
    return std::optional<RelayClaim>(RelayClaim{*range, std::move((*found)->second)});
  }

  Status DeleteAliases(const std::string& partner, const std::string& customer,
                       const std::string& owner) {
    return Run("DELETE FROM user_aliases WHERE partner = ? AND customer = ? AND owner = ?", partner,
               customer, owner);
  }

  void ResetUsed() {
    for (sqlite::Statement* statement : used_) statement->Reset();
    used_.clear();
  }

  std::unique_ptr<sqlite::Database> db_;
  int64_t own_commits_ = 0;  // write transactions this connection committed
  std::unordered_map<std::string_view, sqlite::Statement> statements_;
  std::unordered_set<sqlite::Statement*> used_;  // since the transaction began
};

Status Unavailable(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               SqliteStoreOptions options) {
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (exists) {
    if (!fs::is_regular_file(path, ec))
      return Unavailable(fmt::format("store {} is not a regular file", path));
    if (access(path.c_str(), R_OK | W_OK) != 0) {
      return Unavailable(
          fmt::format("store {} is not writable by this user; gatewayd needs to write it", path));
    }
  } else if (fs::path parent = fs::path(path).parent_path(); !parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) return Unavailable(fmt::format("cannot create {}: {}", parent.string(), ec.message()));
  }
  auto db = sqlite::Database::Open(path, !exists, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  sqlite::Database& d = **db;

  // Read before writing anything, so a foreign or damaged file is left as it was.
  auto version_statement = d.Prepare("PRAGMA user_version");
  if (!version_statement.ok()) {
    return Unavailable(fmt::format("store {} is not a gatewayd store or is corrupt ({})", path,
                                   version_statement.status().message()));
  }
  Status status;
  version_statement->Step(status);
  if (!status.ok()) {
    return Unavailable(
        fmt::format("store {} is not a gatewayd store or is corrupt ({})", path, status.message()));
  }
  int64_t version = version_statement->Int(0);
  version_statement->Reset();
  if (version > kSchemaVersion) {
    return Unavailable(
        fmt::format("store {} has schema version {}, newer than this gatewayd understands ({})",
                    path, version, kSchemaVersion));
  }
  if (exists) {
    auto check = d.Prepare("PRAGMA quick_check");
    if (!check.ok()) return Unavailable(fmt::format("store {} is corrupt", path));
    check->Step(status);
    std::string verdict = check->Text(0);
    check->Reset();
    if (!status.ok() || verdict != "ok") {
      return Unavailable(fmt::format("store {} is corrupt ({}); it was not changed", path,
                                     status.ok() ? verdict : status.message()));
    }
  }
  if (d.ReadOnly()) return Unavailable(fmt::format("store {} is read-only", path));
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (Status s = d.Execute(pragma); !s.ok())
      return Unavailable(fmt::format("store {}: {}", path, s.message()));
  }
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    std::string sql =
        fmt::format("BEGIN; {} PRAGMA user_version = {}; COMMIT;", kMigrations[v], v + 1);
    if (Status s = d.Execute(sql); !s.ok()) {
      d.Execute("ROLLBACK");
      return Unavailable(
          fmt::format("store {}: migration to version {} failed: {}", path, v + 1, s.message()));
    }
  }
  return std::unique_ptr<Store>(new SqliteStore(std::move(*db)));
}

}  // namespace gw
