// The Store on PostgreSQL (postgres.h): the same tables and guarantees as the SQLite
// store, for several gatewayd replicas on one database. Every transaction is
// SERIALIZABLE and is run again when PostgreSQL finds it conflicted with a concurrent one,
// so the Service's checks (versions, claims, the lease) hold across replicas exactly as
// they do in one process. Text keys compare bytewise (COLLATE "C"), as SQLite's do, so
// paging by address gives the same pages on both.
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/json_codec.h"
#include "gateway/store.h"
#include "store/postgres.h"
#include "store/relay_overlap.h"

namespace gw {
namespace {

using nlohmann::json;
using pg::Param;

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
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

#define kSelectCustomers                                                               \
  "SELECT name, version, owner, applied_revision, labels, spec, secret_fingerprints, " \
  "user_count, users_digest, created_at, updated_at FROM customers "

Customer ReadCustomer(const pg::Rows& rows, int r) {
  Customer c;
  c.name = rows.Text(r, 0);
  c.version = rows.Int(r, 1);
  c.owner = rows.Text(r, 2);
  c.applied_revision = rows.Text(r, 3);
  c.labels = json::parse(rows.Text(r, 4)).get<std::map<std::string, std::string>>();
  c.spec = json::parse(rows.Text(r, 5));
  c.secret_fingerprints = json::parse(rows.Text(r, 6)).get<std::map<std::string, std::string>>();
  c.user_count = rows.Int(r, 7);
  c.users_digest = rows.Text(r, 8);
  c.created_at = rows.Text(r, 9);
  c.updated_at = rows.Text(r, 10);
  return c;
}

#define kSelectQuarantine                                                                 \
  "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, " \
  "released_at FROM quarantine "

QuarantinedMessage ReadQuarantined(const pg::Rows& rows, int r) {
  QuarantinedMessage m;
  m.id = rows.Int(r, 0);
  m.customer = rows.Text(r, 1);
  m.received_at = rows.Text(r, 2);
  m.sender = rows.Text(r, 3);
  m.recipients = json::parse(rows.Text(r, 4)).get<std::vector<std::string>>();
  m.subject = rows.Text(r, 5);
  m.size = rows.Int(r, 6);
  m.reason = rows.Text(r, 7);
  m.detail = rows.Text(r, 8);
  m.released_at = rows.Text(r, 9);
  return m;
}

class PostgresStore : public Store {
 public:
  explicit PostgresStore(std::unique_ptr<pg::Connection> db) : db_(std::move(db)) {}

  Status Transaction(bool write, const std::function<Status()>& body) override {
    return db_->Transaction(write, [&]() -> Status {
      if (Status s = body(); !s.ok()) return s;
      return write ? db_->Query("UPDATE store_changes SET change = change + 1").status()
                   : Status::Ok();
    });
  }

  Result<int64_t> ChangeMark() override { return Single("SELECT change FROM store_changes", {}); }

  Result<std::vector<CustomerMark>> ListCustomerMarks() override {
    auto rows = db_->Query(
        "SELECT partner, name, version, users_digest, (SELECT coalesce(json_agg(domain ORDER BY "
        "domain), '[]') FROM domain_claims d WHERE d.partner = c.partner AND d.customer = c.name "
        "AND verified_at = '') FROM customers c");
    if (!rows.ok()) return rows.status();
    std::vector<CustomerMark> marks;
    for (int r = 0; r < rows->size(); ++r) {
      marks.push_back({{rows->Text(r, 0), rows->Text(r, 1)},
                       rows->Int(r, 2),
                       rows->Text(r, 3),
                       json::parse(rows->Text(r, 4)).get<std::vector<std::string>>()});
    }
    return marks;
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListRecipients(
      const std::string& partner, const std::string& customer) override {
    auto rows = db_->Query(
        "SELECT address, address FROM users WHERE partner = $1 AND customer = $2 AND "
        "(record->>'active')::boolean "
        "UNION ALL SELECT a.alias, a.owner FROM user_aliases a JOIN users u ON u.partner = "
        "a.partner AND u.customer = a.customer AND u.address = a.owner WHERE a.partner = $1 AND "
        "a.customer = $2 AND (u.record->>'active')::boolean",
        {partner, customer});
    if (!rows.ok()) return rows.status();
    std::vector<std::pair<std::string, std::string>> recipients;
    for (int r = 0; r < rows->size(); ++r)
      recipients.emplace_back(rows->Text(r, 0), rows->Text(r, 1));
    return recipients;
  }

  Result<bool> PartnerExists(const std::string& partner) override {
    return Exists("SELECT 1 FROM partners WHERE name = $1", {partner});
  }

  Result<bool> InsertPartner(const std::string& partner, const std::string& created_at) override {
    auto inserted =
        db_->Query("INSERT INTO partners(name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   {partner, created_at});
    if (!inserted.ok()) return inserted.status();
    return inserted->Affected() > 0;
  }

  Result<std::vector<std::string>> ListPartners() override {
    return Column("SELECT name FROM partners ORDER BY name", {});
  }

  Result<int64_t> PartnerRevision(const std::string& partner) override {
    auto rows = db_->Query("SELECT revision FROM partners WHERE name = $1", {partner});
    if (!rows.ok()) return rows.status();
    return rows->size() ? rows->Int(0, 0) : 0;
  }

  Status BumpPartnerRevision(const std::string& partner) override {
    return Run("UPDATE partners SET revision = revision + 1 WHERE name = $1", {partner});
  }

  Result<std::optional<Customer>> LoadCustomer(const std::string& partner,
                                               const std::string& name) override {
    auto rows = db_->Query(kSelectCustomers "WHERE partner = $1 AND name = $2", {partner, name});
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<Customer>();
    return std::optional<Customer>(ReadCustomer(*rows, 0));
  }

  Result<std::vector<Customer>> ListCustomers(const std::string& partner) override {
    auto rows = db_->Query(kSelectCustomers "WHERE partner = $1 ORDER BY name", {partner});
    if (!rows.ok()) return rows.status();
    std::vector<Customer> customers;
    for (int r = 0; r < rows->size(); ++r) customers.push_back(ReadCustomer(*rows, r));
    return customers;
  }

  Status SaveCustomer(const std::string& partner, const Customer& c,
                      const nlohmann::json& config) override {
    return Run(
        "INSERT INTO customers(partner, name, version, owner, applied_revision, labels, spec, "
        "secret_fingerprints, user_count, users_digest, created_at, updated_at, config) VALUES "
        "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (partner, name) DO UPDATE SET "
        "version = EXCLUDED.version, owner = EXCLUDED.owner, applied_revision = "
        "EXCLUDED.applied_revision, labels = EXCLUDED.labels, spec = EXCLUDED.spec, "
        "secret_fingerprints = EXCLUDED.secret_fingerprints, user_count = EXCLUDED.user_count, "
        "users_digest = EXCLUDED.users_digest, created_at = EXCLUDED.created_at, updated_at = "
        "EXCLUDED.updated_at, config = EXCLUDED.config",
        {partner, c.name, c.version, c.owner, c.applied_revision, json(c.labels).dump(),
         c.spec.dump(), json(c.secret_fingerprints).dump(), c.user_count, c.users_digest,
         c.created_at, c.updated_at, config.dump()});
  }

  Status DeleteCustomer(const std::string& partner, const std::string& name) override {
    for (const char* sql : {"DELETE FROM users WHERE partner = $1 AND customer = $2",
                            "DELETE FROM user_aliases WHERE partner = $1 AND customer = $2",
                            "DELETE FROM domain_claims WHERE partner = $1 AND customer = $2",
                            "DELETE FROM relay_sources WHERE partner = $1 AND customer = $2",
                            "DELETE FROM quarantine WHERE partner = $1 AND customer = $2",
                            "DELETE FROM spam_reports WHERE partner = $1 AND customer = $2",
                            "DELETE FROM spam_report_marks WHERE partner = $1 AND customer = $2",
                            "DELETE FROM continuity_passwords WHERE partner = $1 AND customer = $2",
                            "DELETE FROM continuity_outages WHERE partner = $1 AND customer = $2",
                            "DELETE FROM customers WHERE partner = $1 AND name = $2"}) {
      if (Status s = Run(sql, {partner, name}); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status SetUserSummary(const std::string& partner, const std::string& name, int64_t user_count,
                        const std::string& users_digest) override {
    return Run(
        "UPDATE customers SET user_count = $1, users_digest = $2 WHERE partner = $3 AND name = $4",
        {user_count, users_digest, partner, name});
  }

  Result<std::vector<ClaimOwner>> CustomersWithoutConfig() override {
    auto rows = db_->Query("SELECT partner, name FROM customers WHERE config = ''");
    if (!rows.ok()) return rows.status();
    std::vector<ClaimOwner> out;
    for (int r = 0; r < rows->size(); ++r) out.push_back({rows->Text(r, 0), rows->Text(r, 1)});
    return out;
  }

  Result<std::optional<ClaimOwner>> DomainOwner(const std::string& domain) override {
    auto rows = db_->Query(
        "SELECT partner, customer FROM domain_claims WHERE domain = $1 AND verified_at <> ''",
        {domain});
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<ClaimOwner>();
    return std::optional<ClaimOwner>(ClaimOwner{rows->Text(0, 0), rows->Text(0, 1)});
  }

  Result<std::vector<std::string>> CustomerDomains(const std::string& partner,
                                                   const std::string& customer) override {
    return Column("SELECT domain FROM domain_claims WHERE partner = $1 AND customer = $2",
                  {partner, customer});
  }

  Result<std::vector<DomainClaim>> ListDomainClaims(const std::string& partner,
                                                    const std::string& customer,
                                                    bool pending_only) override {
    // One statement per case, so that a customer's claims are read by index.
#define kSelectClaims                                                              \
  "SELECT domain, partner, customer, token, claimed_at, verified_at, checked_at, " \
  "check_detail FROM domain_claims WHERE ($3::int = 0 OR verified_at = '') "
    const char* sql =
        !customer.empty()  ? kSelectClaims "AND partner = $1 AND customer = $2 ORDER BY domain"
        : !partner.empty() ? kSelectClaims "AND partner = $1 AND $2 = '' ORDER BY customer, domain"
                           : kSelectClaims
            "AND $1 = '' AND $2 = '' ORDER BY partner, customer, domain";
#undef kSelectClaims
    auto rows = db_->Query(sql, {partner, customer, pending_only ? 1 : 0});
    if (!rows.ok()) return rows.status();
    std::vector<DomainClaim> claims;
    for (int r = 0; r < rows->size(); ++r) {
      claims.push_back({rows->Text(r, 0), rows->Text(r, 1), rows->Text(r, 2), rows->Text(r, 3),
                        rows->Text(r, 4), rows->Text(r, 5), rows->Text(r, 6), rows->Text(r, 7)});
    }
    return claims;
  }

  Result<std::optional<DomainProof>> LoadDomainProof(const std::string& partner,
                                                     const std::string& domain) override {
    auto rows = db_->Query(
        "SELECT token, verified_at, released_at FROM domain_proofs WHERE partner = $1 AND "
        "domain = $2",
        {partner, domain});
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<DomainProof>();
    return std::optional<DomainProof>(
        DomainProof{partner, domain, rows->Text(0, 0), rows->Text(0, 1), rows->Text(0, 2)});
  }

  Status SaveDomainProof(const DomainProof& p) override {
    return Run(
        "INSERT INTO domain_proofs(partner, domain, token, verified_at, released_at) VALUES ($1, "
        "$2, $3, $4, $5) ON CONFLICT (partner, domain) DO UPDATE SET token = EXCLUDED.token, "
        "verified_at = EXCLUDED.verified_at, released_at = EXCLUDED.released_at",
        {p.partner, p.domain, p.token, p.verified_at, p.released_at});
  }

  Status SaveDomainCheck(const DomainClaim& claim) override {
    auto updated = db_->Query(
        "UPDATE domain_claims SET verified_at = $1, checked_at = $2, check_detail = $3 WHERE "
        "domain = $4 AND partner = $5 AND customer = $6",
        {claim.verified_at, claim.checked_at, claim.check_detail, claim.domain, claim.partner,
         claim.customer});
    if (!updated.ok()) return updated.status();
    if (updated->Affected() == 0)
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
              "SELECT source, partner, customer FROM relay_sources WHERE family = $1 AND "
              "first = $2 AND prefix BETWEEN $3 AND $4 AND NOT (partner = $5 AND customer = $6) "
              "LIMIT 1",
              {family, first, shortest, longest, except.partner, except.customer});
        },
        [&](const std::string& first, const std::string& last) {
          return FirstRelay(
              "SELECT source, partner, customer FROM relay_sources WHERE family = $1 AND "
              "first >= $2 AND first <= $3 AND NOT (partner = $4 AND customer = $5) LIMIT 1",
              {family, first, last, except.partner, except.customer});
        });
  }

  Status ReplaceClaims(const ClaimOwner& owner, const std::vector<DomainClaim>& domains,
                       const std::vector<IpRange>& relay_sources) override {
    for (const char* sql : {"DELETE FROM domain_claims WHERE partner = $1 AND customer = $2",
                            "DELETE FROM relay_sources WHERE partner = $1 AND customer = $2"}) {
      if (Status s = Run(sql, {owner.partner, owner.customer}); !s.ok()) return s;
    }
    for (const auto& c : domains) {
      if (Status s =
              Run("INSERT INTO domain_claims(domain, partner, customer, token, claimed_at, "
                  "verified_at, checked_at, check_detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  {c.domain, owner.partner, owner.customer, c.token, c.claimed_at, c.verified_at,
                   c.checked_at, c.check_detail});
          !s.ok())
        return s;
    }
    for (const auto& range : relay_sources) {
      if (Status s =
              Run("INSERT INTO relay_sources(family, first, prefix, partner, customer, source) "
                  "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                  {range.is_v6() ? 6 : 4, range.FirstHex(), range.prefix_length(), owner.partner,
                   owner.customer, range.ToString()});
          !s.ok())
        return s;
    }
    return Status::Ok();
  }

  Result<std::optional<std::string>> UserHashOf(const std::string& partner,
                                                const std::string& customer,
                                                const std::string& address) override {
    return FirstText("SELECT hash FROM users WHERE partner = $1 AND customer = $2 AND address = $3",
                     {partner, customer, address});
  }

  // The batch statements take their rows as one JSON parameter (jsonb_to_recordset):
  // one round trip per statement whatever the batch's size, and no SQL built from values.
  Result<std::map<std::string, std::string>> UserHashesOf(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return std::map<std::string, std::string>();
    return Pairs(
        "SELECT address, hash FROM users WHERE partner = $1 AND customer = $2 AND address IN "
        "(SELECT jsonb_array_elements_text($3::jsonb))",
        {partner, customer, json(addresses).dump()});
  }

  Status PutUsers(const std::string& partner, const std::string& customer,
                  const std::vector<UserWrite>& users) override {
    if (users.empty()) return Status::Ok();
    json records = json::array(), replaced = json::array(), aliases = json::array();
    for (const auto& [user, hash, replacing] : users) {
      records.push_back({{"address", user->address}, {"record", ToJson(*user)}, {"hash", hash}});
      if (replacing) replaced.push_back(user->address);
      for (const auto& alias : user->aliases)
        aliases.push_back({{"alias", alias}, {"owner", user->address}});
    }
    if (Status s = Run("INSERT INTO users(partner, customer, address, record, hash) SELECT $1, $2, "
                       "u.address, u.record, u.hash FROM jsonb_to_recordset($3::jsonb) AS "
                       "u(address text, record jsonb, hash text) ON CONFLICT (partner, customer, "
                       "address) DO UPDATE SET record = EXCLUDED.record, hash = EXCLUDED.hash",
                       {partner, customer, records.dump()});
        !s.ok())
      return s;
    if (!replaced.empty()) {
      if (Status s = DeleteAliases(partner, customer, replaced); !s.ok()) return s;
    }
    if (aliases.empty()) return Status::Ok();
    // An alias may move to this user from one not rewritten yet: the upsert takes it.
    return Run(
        "INSERT INTO user_aliases(partner, customer, alias, owner) SELECT $1, $2, a.alias, "
        "a.owner FROM jsonb_to_recordset($3::jsonb) AS a(alias text, owner text) ON CONFLICT "
        "(partner, customer, alias) DO UPDATE SET owner = EXCLUDED.owner",
        {partner, customer, aliases.dump()});
  }

  Status RemoveUsers(const std::string& partner, const std::string& customer,
                     const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return Status::Ok();
    json list = addresses;
    for (const char* sql :
         {"DELETE FROM users WHERE partner = $1 AND customer = $2 AND address IN (SELECT "
          "jsonb_array_elements_text($3::jsonb))",
          "DELETE FROM continuity_passwords WHERE partner = $1 AND customer = $2 AND address IN "
          "(SELECT jsonb_array_elements_text($3::jsonb))"}) {
      if (Status s = Run(sql, {partner, customer, list.dump()}); !s.ok()) return s;
    }
    return DeleteAliases(partner, customer, list);
  }

  Result<bool> HasAliases(const std::string& partner, const std::string& customer) override {
    return Exists("SELECT 1 FROM user_aliases WHERE partner = $1 AND customer = $2 LIMIT 1",
                  {partner, customer});
  }

  Result<std::map<std::string, std::string>> AliasOwners(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return std::map<std::string, std::string>();
    return Pairs(
        "SELECT alias, owner FROM user_aliases WHERE partner = $1 AND customer = $2 AND alias IN "
        "(SELECT jsonb_array_elements_text($3::jsonb))",
        {partner, customer, json(addresses).dump()});
  }

  Result<std::vector<User>> ListUsers(const std::string& partner, const std::string& customer,
                                      const std::string& after, size_t limit) override {
    auto rows = db_->Query(
        "SELECT record FROM users WHERE partner = $1 AND customer = $2 AND address > $3 ORDER BY "
        "address LIMIT $4",
        {partner, customer, after, static_cast<int64_t>(limit)});
    if (!rows.ok()) return rows.status();
    std::vector<User> users;
    for (int r = 0; r < rows->size(); ++r) {
      auto user = UserFromJson(json::parse(rows->Text(r, 0)), "");
      if (!user.ok())
        return Status(StatusCode::kInternal,
                      "store holds an unreadable user: " + user.status().message());
      users.push_back(std::move(*user));
    }
    return users;
  }

  Result<std::pair<int64_t, std::string>> UsersInDomain(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& domain) override {
    auto rows = db_->Query(
        "SELECT count(*), coalesce(min(address), '') FROM users WHERE partner = $1 AND "
        "customer = $2 AND address LIKE $3",
        {partner, customer, "%@" + domain});
    if (!rows.ok()) return rows.status();
    return std::make_pair(rows->Int(0, 0), rows->Text(0, 1));
  }

  Result<std::optional<Lease>> GetLease(const std::string& partner) override {
    auto rows = db_->Query("SELECT holder, expires_at FROM leases WHERE partner = $1", {partner});
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<Lease>();
    return std::optional<Lease>(Lease{rows->Text(0, 0), rows->Int(0, 1)});
  }

  Status PutLease(const std::string& partner, const Lease& lease) override {
    return Run(
        "INSERT INTO leases(partner, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT "
        "(partner) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at",
        {partner, lease.holder, lease.expires_at_unix});
  }

  Status DeleteLease(const std::string& partner, const std::string& holder) override {
    return Run("DELETE FROM leases WHERE partner = $1 AND holder = $2", {partner, holder});
  }

  Result<int64_t> AddQuarantined(const std::string& partner, const QuarantinedMessage& m,
                                 const std::string& message) override {
    return Single(
        "INSERT INTO quarantine(partner, customer, received_at, sender, recipients, subject, "
        "size, reason, detail, released_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "'', $10) RETURNING id",
        {partner, m.customer, m.received_at, m.sender, json(m.recipients).dump(), m.subject,
         static_cast<int64_t>(message.size()), m.reason, m.detail, Param::Bytes(message)});
  }

  Result<std::vector<QuarantinedMessage>> ListQuarantined(const std::string& partner,
                                                          const std::string& customer,
                                                          int64_t after, size_t limit) override {
    auto rows = db_->Query(kSelectQuarantine
                           "WHERE partner = $1 AND customer = $2 AND id > $3 ORDER BY id LIMIT $4",
                           {partner, customer, after, static_cast<int64_t>(limit)});
    if (!rows.ok()) return rows.status();
    std::vector<QuarantinedMessage> out;
    for (int r = 0; r < rows->size(); ++r) out.push_back(ReadQuarantined(*rows, r));
    return out;
  }

  Result<std::optional<std::pair<QuarantinedMessage, std::string>>> LoadQuarantined(
      const std::string& partner, const std::string& customer, int64_t id) override {
    auto rows = db_->Query(
        "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, "
        "released_at, message FROM quarantine WHERE partner = $1 AND customer = $2 AND id = $3",
        {partner, customer, id});
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<std::pair<QuarantinedMessage, std::string>>();
    return std::optional(std::make_pair(ReadQuarantined(*rows, 0), rows->Bytes(0, 10)));
  }

  Status MarkReleased(const std::string& partner, const std::string& customer, int64_t id,
                      const std::string& released_at) override {
    return Run(
        "UPDATE quarantine SET released_at = $1 WHERE partner = $2 AND customer = $3 AND id = $4",
        {released_at, partner, customer, id});
  }

  Result<int64_t> PurgeQuarantine(const std::string& before) override {
    auto deleted = db_->Query("DELETE FROM quarantine WHERE received_at < $1", {before});
    if (!deleted.ok()) return deleted.status();
    return deleted->Affected();
  }

  Result<SpamReportState> LoadSpamReportState(const std::string& partner,
                                              const std::string& customer) override {
    SpamReportState state;
    auto checked =
        FirstText("SELECT checked_at FROM spam_reports WHERE partner = $1 AND customer = $2",
                  {partner, customer});
    if (!checked.ok()) return checked.status();
    state.checked_at = checked->value_or("");
    auto marks = db_->Query(
        "SELECT recipient, reported_through FROM spam_report_marks WHERE partner = $1 AND "
        "customer = $2",
        {partner, customer});
    if (!marks.ok()) return marks.status();
    for (int r = 0; r < marks->size(); ++r)
      state.reported_through[marks->Text(r, 0)] = marks->Int(r, 1);
    return state;
  }

  Status SaveSpamReportState(const std::string& partner, const std::string& customer,
                             const SpamReportState& state) override {
    if (Status s =
            Run("INSERT INTO spam_reports(partner, customer, checked_at) VALUES ($1, $2, $3) ON "
                "CONFLICT (partner, customer) DO UPDATE SET checked_at = EXCLUDED.checked_at",
                {partner, customer, state.checked_at});
        !s.ok())
      return s;
    for (const auto& [recipient, id] : state.reported_through) {
      if (Status s = Run(
              "INSERT INTO spam_report_marks(partner, customer, recipient, reported_through) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT (partner, customer, recipient) DO UPDATE SET "
              "reported_through = EXCLUDED.reported_through",
              {partner, customer, recipient, id});
          !s.ok())
        return s;
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListContinuityUsers(const std::string& partner,
                                                       const std::string& customer) override {
    return Column(
        "SELECT address FROM users WHERE partner = $1 AND customer = $2 AND "
        "(record->>'active')::boolean AND coalesce((record->>'continuity')::boolean, false)",
        {partner, customer});
  }

  Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                               const std::string& address, const std::string& hash,
                               const std::string& set_at) override {
    return Run(
        "INSERT INTO continuity_passwords(partner, customer, address, hash, set_at) VALUES ($1, "
        "$2, $3, $4, $5) ON CONFLICT (partner, customer, address) DO UPDATE SET hash = "
        "EXCLUDED.hash, set_at = EXCLUDED.set_at",
        {partner, customer, address, hash, set_at});
  }

  Result<std::optional<std::string>> ContinuityPassword(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& address) override {
    return FirstText(
        "SELECT hash FROM continuity_passwords WHERE partner = $1 AND customer = $2 AND "
        "address = $3",
        {partner, customer, address});
  }

  Status StartOutage(const ContinuityOutage& o) override {
    return Run(
        "INSERT INTO continuity_outages(partner, customer, started_at, ended_at, reason, "
        "delivered) VALUES ($1, $2, $3, '', $4, false) ON CONFLICT DO NOTHING",
        {o.partner, o.customer, o.started_at, o.reason});
  }

  Status EndOutage(const std::string& partner, const std::string& customer,
                   const std::string& ended_at) override {
    return Run(
        "UPDATE continuity_outages SET ended_at = $1 WHERE partner = $2 AND customer = $3 AND "
        "ended_at = ''",
        {ended_at, partner, customer});
  }

  Status MarkOutagesDelivered(const std::string& partner, const std::string& customer) override {
    return Run(
        "UPDATE continuity_outages SET delivered = true WHERE partner = $1 AND customer = $2 AND "
        "ended_at <> ''",
        {partner, customer});
  }

  Result<std::vector<ContinuityOutage>> ListOutages(const std::string& ended_since) override {
    auto rows = db_->Query(
        "SELECT partner, customer, started_at, ended_at, reason, delivered FROM "
        "continuity_outages WHERE ended_at = '' OR NOT delivered OR ended_at >= $1 "
        "ORDER BY partner, customer, started_at",
        {ended_since});
    if (!rows.ok()) return rows.status();
    std::vector<ContinuityOutage> outages;
    for (int r = 0; r < rows->size(); ++r) {
      outages.push_back({rows->Text(r, 0), rows->Text(r, 1), rows->Text(r, 2), rows->Text(r, 3),
                         rows->Text(r, 4), rows->Text(r, 5) == "t"});
    }
    return outages;
  }

  Result<std::string> HoldJob(const std::string& job, const std::string& holder, int64_t now_ms,
                              int64_t until_ms) override {
    // One statement: the SELECT reads the snapshot from before the upsert, so it names
    // the other holder when the upsert left the row alone.
    auto holder_now = FirstText(
        "WITH mine AS (INSERT INTO job_leases(job, holder, expires_ms) VALUES ($1, $2, $3) ON "
        "CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms "
        "WHERE job_leases.holder = EXCLUDED.holder OR job_leases.expires_ms <= $4 RETURNING "
        "holder) SELECT holder FROM mine UNION ALL SELECT holder FROM job_leases WHERE job = $1 "
        "AND NOT EXISTS (SELECT 1 FROM mine)",
        {job, holder, until_ms, now_ms});
    if (!holder_now.ok()) return holder_now.status();
    return holder_now->value_or("");
  }

  Status ReleaseJob(const std::string& job, const std::string& holder) override {
    return Run("DELETE FROM job_leases WHERE job = $1 AND holder = $2", {job, holder});
  }

  Status AppendAudit(const AuditEntry& e) override {
    return Run(
        "INSERT INTO audit(at, partner, actor, action, target, detail) VALUES ($1, $2, $3, $4, "
        "$5, $6)",
        {e.at, e.partner, e.actor, e.action, e.target, e.detail.dump()});
  }

  Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                            size_t limit) override {
    auto rows = db_->Query(
        "SELECT id, at, partner, actor, action, target, detail FROM audit WHERE partner = $1 AND "
        "id > $2 ORDER BY id LIMIT $3",
        {partner, after, static_cast<int64_t>(limit)});
    if (!rows.ok()) return rows.status();
    std::vector<AuditEntry> entries;
    for (int r = 0; r < rows->size(); ++r) {
      entries.push_back({rows->Int(r, 0), rows->Text(r, 1), rows->Text(r, 2), rows->Text(r, 3),
                         rows->Text(r, 4), rows->Text(r, 5), json::parse(rows->Text(r, 6))});
    }
    return entries;
  }

 private:
  Status Run(const char* sql, std::initializer_list<Param> params) {
    return db_->Query(sql, params).status();
  }

  Result<bool> Exists(const char* sql, std::initializer_list<Param> params) {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    return rows->size() > 0;
  }

  Result<int64_t> Single(const char* sql, std::initializer_list<Param> params) {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    if (rows->size() != 1) return Status(StatusCode::kInternal, "expected one row");
    return rows->Int(0, 0);
  }

  Result<std::vector<std::string>> Column(const char* sql, std::initializer_list<Param> params) {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    std::vector<std::string> out;
    for (int r = 0; r < rows->size(); ++r) out.push_back(rows->Text(r, 0));
    return out;
  }

  // The first two columns of the rows, as keys and values.
  Result<std::map<std::string, std::string>> Pairs(const char* sql,
                                                   std::initializer_list<Param> params) {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    std::map<std::string, std::string> pairs;
    for (int r = 0; r < rows->size(); ++r) pairs.emplace(rows->Text(r, 0), rows->Text(r, 1));
    return pairs;
  }

  Result<std::optional<std::string>> FirstText(const char* sql,
                                               std::initializer_list<Param> params) {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<std::string>();
    return std::optional<std::string>(rows->Text(0, 0));
  }

  Result<std::optional<RelayClaim>> FirstRelay(const char* sql,
                                               std::initializer_list<Param> params) {
    auto rows = db_->Query(sql, params);
    if (!rows.ok()) return rows.status();
    if (!rows->size()) return std::optional<RelayClaim>();
    auto range = IpRange::Parse(rows->Text(0, 0));
    if (!range.ok()) return Status(StatusCode::kInternal, "store holds an unreadable relay source");
    return std::optional<RelayClaim>(
        RelayClaim{*range, ClaimOwner{rows->Text(0, 1), rows->Text(0, 2)}});
  }

  // The aliases of the users `owners` (a JSON array of addresses).
  Status DeleteAliases(const std::string& partner, const std::string& customer,
                       const json& owners) {
    return Run(
        "DELETE FROM user_aliases WHERE partner = $1 AND customer = $2 AND owner IN (SELECT "
        "jsonb_array_elements_text($3::jsonb))",
        {partner, customer, owners.dump()});
  }

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

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url,
                                                 std::chrono::seconds connect_timeout) {
  auto db = pg::Connection::Open(url, connect_timeout);
  if (!db.ok()) return db.status();
  pg::Connection& d = **db;
  // Replicas starting together migrate one at a time (a transaction-scoped lock).
  Status migrated = d.Transaction(true, [&]() -> Status {
    if (Status s = d.Query("SELECT pg_advisory_xact_lock(7361029)").status(); !s.ok()) return s;
    if (Status s = d.Execute("CREATE TABLE IF NOT EXISTS gatewayd_schema(version INTEGER NOT NULL);"
                             "INSERT INTO gatewayd_schema SELECT 0 WHERE NOT EXISTS "
                             "(SELECT 1 FROM gatewayd_schema)");
        !s.ok())
      return s;
    auto version = d.Query("SELECT version FROM gatewayd_schema");
    if (!version.ok()) return version.status();
    int64_t v = version->Int(0, 0);
    if (v > kSchemaVersion) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("the PostgreSQL store at {} has schema version {}, newer than "
                                "this gatewayd understands ({})",
                                d.name(), v, kSchemaVersion));
    }
    for (; v < kSchemaVersion; ++v) {
      if (Status s = d.Execute(kMigrations[v]); !s.ok()) return s;
      if (Status s = d.Query("UPDATE gatewayd_schema SET version = $1", {v + 1}).status(); !s.ok())
        return s;
    }
    return Status::Ok();
  });
  if (!migrated.ok()) return migrated;
  return std::unique_ptr<Store>(new PostgresStore(std::move(*db)));
}

}  // namespace gw
