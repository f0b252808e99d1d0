// The Store's statements, once for both databases (sql.h says which SQL they share).
// Batches of users travel as one JSON array parameter: one statement per batch whatever
// its size, which a networked database needs and an embedded one does not mind.
#include "store/sql_store.h"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/relay_overlap.h"
#include "store/sql_store_impl.h"

namespace gw {
namespace {

using nlohmann::json;
using sql::Row;

#define kSelectCustomers                                                               \
  "SELECT name, version, owner, applied_revision, labels, spec, secret_fingerprints, " \
  "user_count, users_digest, created_at, updated_at FROM customers "

Customer ReadCustomer(const Row& row) {
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

}  // namespace

SqlStore::SqlStore(std::unique_ptr<sql::Connection> db)
    : db_(std::move(db)),
      addresses_(fmt::format("(SELECT value FROM {})", db_->JsonArrayRows(3, true))),
      user_hashes_(
          "SELECT address, hash FROM users WHERE partner = $1 AND customer = $2 AND "
          "address IN " +
          addresses_),
      alias_owners_(
          "SELECT alias, owner FROM user_aliases WHERE partner = $1 AND customer = $2 "
          "AND alias IN " +
          addresses_),
      put_users_(fmt::format(
          "INSERT INTO users(partner, customer, address, record, hash) SELECT $1, $2, value "
          "->> 'address', value -> 'record', value ->> 'hash' FROM {} WHERE true ON CONFLICT "
          "(partner, customer, address) DO UPDATE SET record = EXCLUDED.record, hash = "
          "EXCLUDED.hash",
          db_->JsonArrayRows(3, false))),
      put_aliases_(fmt::format(
          "INSERT INTO user_aliases(partner, customer, alias, owner) SELECT $1, $2, value ->> "
          "'alias', value ->> 'owner' FROM {} WHERE true ON CONFLICT (partner, customer, alias) "
          "DO UPDATE SET owner = EXCLUDED.owner",
          db_->JsonArrayRows(3, false))),
      remove_users_("DELETE FROM users WHERE partner = $1 AND customer = $2 AND address IN " +
                    addresses_),
      remove_passwords_(
          "DELETE FROM continuity_passwords WHERE partner = $1 AND customer = $2 AND address "
          "IN " +
          addresses_),
      remove_aliases_(
          "DELETE FROM user_aliases WHERE partner = $1 AND customer = $2 AND owner IN " +
          addresses_),
      remove_personal_(
          "DELETE FROM personal_lists WHERE partner = $1 AND customer = $2 AND address IN " +
          addresses_) {}

Result<std::vector<CustomerMark>> SqlStore::ListCustomerMarks() {
  std::vector<CustomerMark> marks;
  Status listed = db_->Select(
      "SELECT c.partner, c.name, c.version, c.users_digest, coalesce(r.revision, 0) FROM "
      "customers c LEFT JOIN personal_list_revisions r ON r.partner = c.partner AND r.customer "
      "= c.name ORDER BY c.partner, c.name",
      {}, [&](const Row& row) {
        marks.push_back({{row.Text(0), row.Text(1)}, row.Int(2), row.Text(3), {}, row.Int(4)});
      });
  if (!listed.ok()) return listed;
  std::map<std::pair<std::string, std::string>, CustomerMark*> by_customer;
  for (CustomerMark& mark : marks)
    by_customer[{mark.customer.partner, mark.customer.customer}] = &mark;
  Status pending = db_->Select(
      "SELECT partner, customer, domain FROM domain_claims WHERE verified_at = '' ORDER BY "
      "partner, customer, domain",
      {}, [&](const Row& row) {
        auto it = by_customer.find({row.Text(0), row.Text(1)});
        if (it != by_customer.end()) it->second->pending_domains.push_back(row.Text(2));
      });
  if (!pending.ok()) return pending;
  return marks;
}

Result<bool> SqlStore::PartnerExists(const std::string& partner) {
  return Exists("SELECT 1 FROM partners WHERE name = $1", {partner});
}

Result<bool> SqlStore::InsertPartner(const std::string& partner, const std::string& created_at) {
  auto inserted =
      db_->Execute("INSERT INTO partners(name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   {partner, created_at});
  if (!inserted.ok()) return inserted.status();
  return *inserted > 0;
}

Result<std::vector<std::string>> SqlStore::ListPartners() {
  return Column("SELECT name FROM partners ORDER BY name", {});
}

Result<int64_t> SqlStore::PartnerRevision(const std::string& partner) {
  auto revision = First<int64_t>("SELECT revision FROM partners WHERE name = $1", {partner},
                                 [](const Row& row) { return row.Int(0); });
  if (!revision.ok()) return revision.status();
  return revision->value_or(0);
}

Status SqlStore::BumpPartnerRevision(const std::string& partner) {
  return Run("UPDATE partners SET revision = revision + 1 WHERE name = $1", {partner});
}

Result<std::optional<Customer>> SqlStore::LoadCustomer(const std::string& partner,
                                                       const std::string& name) {
  return First<Customer>(kSelectCustomers "WHERE partner = $1 AND name = $2", {partner, name},
                         ReadCustomer);
}

Result<std::vector<Customer>> SqlStore::ListCustomers(const std::string& partner) {
  std::vector<Customer> customers;
  Status status = db_->Select(kSelectCustomers "WHERE partner = $1 ORDER BY name", {partner},
                              [&](const Row& row) { customers.push_back(ReadCustomer(row)); });
  if (!status.ok()) return status;
  return customers;
}

Status SqlStore::SaveCustomer(const std::string& partner, const Customer& c) {
  return Run(
      "INSERT INTO customers(partner, name, version, owner, applied_revision, labels, spec, "
      "secret_fingerprints, user_count, users_digest, created_at, updated_at) VALUES "
      "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (partner, name) DO UPDATE SET "
      "version = EXCLUDED.version, owner = EXCLUDED.owner, applied_revision = "
      "EXCLUDED.applied_revision, labels = EXCLUDED.labels, spec = EXCLUDED.spec, "
      "secret_fingerprints = EXCLUDED.secret_fingerprints, user_count = EXCLUDED.user_count, "
      "users_digest = EXCLUDED.users_digest, created_at = EXCLUDED.created_at, updated_at = "
      "EXCLUDED.updated_at",
      {partner, c.name, c.version, c.owner, c.applied_revision, json(c.labels).dump(),
       c.spec.dump(), json(c.secret_fingerprints).dump(), c.user_count, c.users_digest,
       c.created_at, c.updated_at});
}

Status SqlStore::DeleteCustomer(const std::string& partner, const std::string& name) {
  for (const char* sql : {"DELETE FROM users WHERE partner = $1 AND customer = $2",
                          "DELETE FROM user_aliases WHERE partner = $1 AND customer = $2",
                          "DELETE FROM domain_claims WHERE partner = $1 AND customer = $2",
                          "DELETE FROM relay_sources WHERE partner = $1 AND customer = $2",
                          "DELETE FROM quarantine WHERE partner = $1 AND customer = $2",
                          "DELETE FROM spam_reports WHERE partner = $1 AND customer = $2",
                          "DELETE FROM spam_report_marks WHERE partner = $1 AND customer = $2",
                          "DELETE FROM continuity_passwords WHERE partner = $1 AND customer = $2",
                          "DELETE FROM continuity_outages WHERE partner = $1 AND customer = $2",
                          "DELETE FROM personal_lists WHERE partner = $1 AND customer = $2",
                          "DELETE FROM quarantine_actions WHERE partner = $1 AND customer = $2",
                          "DELETE FROM personal_list_revisions WHERE partner = $1 AND customer "
                          "= $2",
                          "DELETE FROM access_tokens WHERE partner = $1 AND customer = $2",
                          "DELETE FROM customers WHERE partner = $1 AND name = $2"}) {
    if (Status s = Run(sql, {partner, name}); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SqlStore::SetUserSummary(const std::string& partner, const std::string& name,
                                int64_t user_count, const std::string& users_digest) {
  return Run(
      "UPDATE customers SET user_count = $1, users_digest = $2 WHERE partner = $3 AND name = $4",
      {user_count, users_digest, partner, name});
}

Result<std::vector<ClaimOwner>> SqlStore::TakeCustomersToRecompile() {
  std::vector<ClaimOwner> owners;
  Status listed =
      db_->Select("SELECT partner, name FROM customers_to_recompile", {}, [&](const Row& row) {
        owners.push_back({row.Text(0), row.Text(1)});
      });
  if (!listed.ok()) return listed;
  if (Status s = Run("DELETE FROM customers_to_recompile", {}); !s.ok()) return s;
  return owners;
}

Result<std::optional<ClaimOwner>> SqlStore::DomainOwner(const std::string& domain) {
  return First<ClaimOwner>(
      "SELECT partner, customer FROM domain_claims WHERE domain = $1 AND verified_at <> ''",
      {domain}, [](const Row& row) {
        return ClaimOwner{row.Text(0), row.Text(1)};
      });
}

Result<std::vector<std::string>> SqlStore::CustomerDomains(const std::string& partner,
                                                           const std::string& customer) {
  return Column("SELECT domain FROM domain_claims WHERE partner = $1 AND customer = $2",
                {partner, customer});
}

Result<std::vector<DomainClaim>> SqlStore::ListDomainClaims(const std::string& partner,
                                                            const std::string& customer,
                                                            bool pending_only) {
  // One statement per case, so that a customer's claims are read by index.
#define kSelectClaims                                                              \
  "SELECT domain, partner, customer, token, claimed_at, verified_at, checked_at, " \
  "check_detail FROM domain_claims WHERE (CAST($3 AS INTEGER) = 0 OR verified_at = '') "
  const char* sql =
      !customer.empty()  ? kSelectClaims "AND partner = $1 AND customer = $2 ORDER BY domain"
      : !partner.empty() ? kSelectClaims "AND partner = $1 AND $2 = '' ORDER BY customer, domain"
                         : kSelectClaims
          "AND $1 = '' AND $2 = '' ORDER BY partner, customer, domain";
#undef kSelectClaims
  std::vector<DomainClaim> claims;
  Status status = db_->Select(sql, {partner, customer, pending_only ? 1 : 0}, [&](const Row& row) {
    claims.push_back({row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4), row.Text(5),
                      row.Text(6), row.Text(7)});
  });
  if (!status.ok()) return status;
  return claims;
}

Result<std::optional<DomainProof>> SqlStore::LoadDomainProof(const std::string& partner,
                                                             const std::string& domain) {
  return First<DomainProof>(
      "SELECT token, verified_at, released_at FROM domain_proofs WHERE partner = $1 AND "
      "domain = $2",
      {partner, domain}, [&](const Row& row) {
        return DomainProof{partner, domain, row.Text(0), row.Text(1), row.Text(2)};
      });
}

Status SqlStore::SaveDomainProof(const DomainProof& p) {
  return Run(
      "INSERT INTO domain_proofs(partner, domain, token, verified_at, released_at) VALUES ($1, "
      "$2, $3, $4, $5) ON CONFLICT (partner, domain) DO UPDATE SET token = EXCLUDED.token, "
      "verified_at = EXCLUDED.verified_at, released_at = EXCLUDED.released_at",
      {p.partner, p.domain, p.token, p.verified_at, p.released_at});
}

Status SqlStore::SaveDomainCheck(const DomainClaim& claim) {
  auto updated = db_->Execute(
      "UPDATE domain_claims SET verified_at = $1, checked_at = $2, check_detail = $3 WHERE "
      "domain = $4 AND partner = $5 AND customer = $6",
      {claim.verified_at, claim.checked_at, claim.check_detail, claim.domain, claim.partner,
       claim.customer});
  if (!updated.ok()) return updated.status();
  if (*updated == 0)
    return Status(StatusCode::kNotFound, fmt::format("no claim on domain '{}'", claim.domain));
  return Status::Ok();
}

Result<std::optional<RelayClaim>> SqlStore::RelayOverlap(const IpRange& range,
                                                         const ClaimOwner& except) {
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

Status SqlStore::ReplaceClaims(const ClaimOwner& owner, const std::vector<DomainClaim>& domains,
                               const std::vector<IpRange>& relay_sources) {
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

std::unique_ptr<Store> MakeSqlStore(std::unique_ptr<sql::Connection> connection) {
  return std::make_unique<SqlStore>(std::move(connection));
}

}  // namespace gw
