// The Store's statements, once for both databases (sql.h says which SQL they share).
// Batches of users travel as one JSON array parameter: one statement per batch whatever
// its size, which a networked database needs and an embedded one does not mind.
#include "store/sql_store.h"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/relay_overlap.h"

namespace gw {
namespace {

using nlohmann::json;
using sql::Param;
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

#define kSelectQuarantine                                                                 \
  "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, " \
  "released_at FROM quarantine "

QuarantinedMessage ReadQuarantined(const Row& row) {
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

// Whether a user's JSON record has `field` true (false when absent).
#define kUserFlag(record, field) "coalesce(CAST(" record " ->> '" field "' AS BOOLEAN), false)"

class SqlStore : public Store {
 public:
  explicit SqlStore(std::unique_ptr<sql::Connection> db)
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
            addresses_) {}

  Status Transaction(bool write, const std::function<Status()>& body) override {
    return db_->Transaction(write, /*change=*/true, body);
  }

  Result<int64_t> ChangeMark() override { return db_->ChangeMark(); }

  Result<std::vector<CustomerMark>> ListCustomerMarks() override {
    std::vector<CustomerMark> marks;
    Status listed = db_->Select(
        "SELECT partner, name, version, users_digest FROM customers ORDER BY partner, name", {},
        [&](const Row& row) {
          marks.push_back({{row.Text(0), row.Text(1)}, row.Int(2), row.Text(3), {}});
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

  Result<std::vector<std::pair<std::string, std::string>>> ListRecipients(
      const std::string& partner, const std::string& customer) override {
    std::vector<std::pair<std::string, std::string>> recipients;
    Status status = db_->Select(
        "SELECT address, address FROM users WHERE partner = $1 AND customer = $2 AND " kUserFlag(
            "record", "active") " UNION ALL SELECT a.alias, a.owner FROM user_aliases a JOIN "
                                "users u ON u.partner = a.partner AND u.customer = a.customer AND "
                                "u.address = a.owner WHERE a.partner = $1 AND a.customer = $2 "
                                "AND " kUserFlag("u.record", "active"),
        {partner, customer},
        [&](const Row& row) { recipients.emplace_back(row.Text(0), row.Text(1)); });
    if (!status.ok()) return status;
    return recipients;
  }

  Result<bool> PartnerExists(const std::string& partner) override {
    return Exists("SELECT 1 FROM partners WHERE name = $1", {partner});
  }

  Result<bool> InsertPartner(const std::string& partner, const std::string& created_at) override {
    auto inserted = db_->Execute(
        "INSERT INTO partners(name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        {partner, created_at});
    if (!inserted.ok()) return inserted.status();
    return *inserted > 0;
  }

  Result<std::vector<std::string>> ListPartners() override {
    return Column("SELECT name FROM partners ORDER BY name", {});
  }

  Result<int64_t> PartnerRevision(const std::string& partner) override {
    auto revision = First<int64_t>("SELECT revision FROM partners WHERE name = $1", {partner},
                                   [](const Row& row) { return row.Int(0); });
    if (!revision.ok()) return revision.status();
    return revision->value_or(0);
  }

  Status BumpPartnerRevision(const std::string& partner) override {
    return Run("UPDATE partners SET revision = revision + 1 WHERE name = $1", {partner});
  }

  Result<std::optional<Customer>> LoadCustomer(const std::string& partner,
                                               const std::string& name) override {
    return First<Customer>(kSelectCustomers "WHERE partner = $1 AND name = $2", {partner, name},
                           ReadCustomer);
  }

  Result<std::vector<Customer>> ListCustomers(const std::string& partner) override {
    std::vector<Customer> customers;
    Status status = db_->Select(kSelectCustomers "WHERE partner = $1 ORDER BY name", {partner},
                                [&](const Row& row) { customers.push_back(ReadCustomer(row)); });
    if (!status.ok()) return status;
    return customers;
  }

  Status SaveCustomer(const std::string& partner, const Customer& c) override {
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

  Result<std::vector<ClaimOwner>> TakeCustomersToRecompile() override {
    std::vector<ClaimOwner> owners;
    Status listed =
        db_->Select("SELECT partner, name FROM customers_to_recompile", {}, [&](const Row& row) {
          owners.push_back({row.Text(0), row.Text(1)});
        });
    if (!listed.ok()) return listed;
    if (Status s = Run("DELETE FROM customers_to_recompile", {}); !s.ok()) return s;
    return owners;
  }

  Result<std::optional<ClaimOwner>> DomainOwner(const std::string& domain) override {
    return First<ClaimOwner>(
        "SELECT partner, customer FROM domain_claims WHERE domain = $1 AND verified_at <> ''",
        {domain}, [](const Row& row) {
          return ClaimOwner{row.Text(0), row.Text(1)};
        });
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
  "check_detail FROM domain_claims WHERE (CAST($3 AS INTEGER) = 0 OR verified_at = '') "
    const char* sql =
        !customer.empty()  ? kSelectClaims "AND partner = $1 AND customer = $2 ORDER BY domain"
        : !partner.empty() ? kSelectClaims "AND partner = $1 AND $2 = '' ORDER BY customer, domain"
                           : kSelectClaims
            "AND $1 = '' AND $2 = '' ORDER BY partner, customer, domain";
#undef kSelectClaims
    std::vector<DomainClaim> claims;
    Status status =
        db_->Select(sql, {partner, customer, pending_only ? 1 : 0}, [&](const Row& row) {
          claims.push_back({row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4),
                            row.Text(5), row.Text(6), row.Text(7)});
        });
    if (!status.ok()) return status;
    return claims;
  }

  Result<std::optional<DomainProof>> LoadDomainProof(const std::string& partner,
                                                     const std::string& domain) override {
    return First<DomainProof>(
        "SELECT token, verified_at, released_at FROM domain_proofs WHERE partner = $1 AND "
        "domain = $2",
        {partner, domain}, [&](const Row& row) {
          return DomainProof{partner, domain, row.Text(0), row.Text(1), row.Text(2)};
        });
  }

  Status SaveDomainProof(const DomainProof& p) override {
    return Run(
        "INSERT INTO domain_proofs(partner, domain, token, verified_at, released_at) VALUES ($1, "
        "$2, $3, $4, $5) ON CONFLICT (partner, domain) DO UPDATE SET token = EXCLUDED.token, "
        "verified_at = EXCLUDED.verified_at, released_at = EXCLUDED.released_at",
        {p.partner, p.domain, p.token, p.verified_at, p.released_at});
  }

  Status SaveDomainCheck(const DomainClaim& claim) override {
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

  Result<std::map<std::string, std::string>> UserHashesOf(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return std::map<std::string, std::string>();
    return Pairs(user_hashes_, {partner, customer, json(addresses).dump()});
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
    if (Status s = Run(put_users_, {partner, customer, records.dump()}); !s.ok()) return s;
    if (!replaced.empty()) {
      if (Status s = Run(remove_aliases_, {partner, customer, replaced.dump()}); !s.ok()) return s;
    }
    if (aliases.empty()) return Status::Ok();
    // An alias may move to this user from one not rewritten yet: the upsert takes it.
    return Run(put_aliases_, {partner, customer, aliases.dump()});
  }

  Status RemoveUsers(const std::string& partner, const std::string& customer,
                     const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return Status::Ok();
    std::string list = json(addresses).dump();
    for (const std::string* sql : {&remove_users_, &remove_passwords_, &remove_aliases_}) {
      if (Status s = Run(*sql, {partner, customer, list}); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Result<bool> HasAliases(const std::string& partner, const std::string& customer) override {
    return Exists("SELECT 1 FROM user_aliases WHERE partner = $1 AND customer = $2 LIMIT 1",
                  {partner, customer});
  }

  Result<std::map<std::string, std::string>> AliasOwners(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return std::map<std::string, std::string>();
    return Pairs(alias_owners_, {partner, customer, json(addresses).dump()});
  }

  Result<std::vector<User>> ListUsers(const std::string& partner, const std::string& customer,
                                      const std::string& after, size_t limit) override {
    std::vector<User> users;
    Status unreadable;
    Status status = db_->Select(
        "SELECT record FROM users WHERE partner = $1 AND customer = $2 AND address > $3 ORDER BY "
        "address LIMIT $4",
        {partner, customer, after, static_cast<int64_t>(limit)}, [&](const Row& row) {
          auto user = UserFromJson(json::parse(row.Text(0)), "");
          if (user.ok()) {
            users.push_back(std::move(*user));
          } else if (unreadable.ok()) {
            unreadable = Status(StatusCode::kInternal,
                                "store holds an unreadable user: " + user.status().message());
          }
        });
    if (!status.ok()) return status;
    if (!unreadable.ok()) return unreadable;
    return users;
  }

  Result<std::pair<int64_t, std::string>> UsersInDomain(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& domain) override {
    auto found = First<std::pair<int64_t, std::string>>(
        "SELECT count(*), coalesce(min(address), '') FROM users WHERE partner = $1 AND "
        "customer = $2 AND address LIKE $3",
        {partner, customer, "%@" + domain},
        [](const Row& row) { return std::make_pair(row.Int(0), row.Text(1)); });
    if (!found.ok()) return found.status();
    return found->value_or(std::make_pair(int64_t{0}, std::string()));
  }

  Result<std::optional<Lease>> GetLease(const std::string& partner) override {
    return First<Lease>("SELECT holder, expires_at FROM leases WHERE partner = $1", {partner},
                        [](const Row& row) {
                          return Lease{row.Text(0), row.Int(1)};
                        });
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
    auto id = First<int64_t>(
        "INSERT INTO quarantine(partner, customer, received_at, sender, recipients, subject, "
        "size, reason, detail, released_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "'', $10) RETURNING id",
        {partner, m.customer, m.received_at, m.sender, json(m.recipients).dump(), m.subject,
         static_cast<int64_t>(message.size()), m.reason, m.detail, Param::Bytes(message)},
        [](const Row& row) { return row.Int(0); });
    if (!id.ok()) return id.status();
    if (!*id) return Status(StatusCode::kInternal, "the store assigned the message no id");
    return **id;
  }

  Result<std::vector<QuarantinedMessage>> ListQuarantined(const std::string& partner,
                                                          const std::string& customer,
                                                          int64_t after, size_t limit) override {
    std::vector<QuarantinedMessage> out;
    Status status = db_->Select(
        kSelectQuarantine "WHERE partner = $1 AND customer = $2 AND id > $3 ORDER BY id LIMIT $4",
        {partner, customer, after, static_cast<int64_t>(limit)},
        [&](const Row& row) { out.push_back(ReadQuarantined(row)); });
    if (!status.ok()) return status;
    return out;
  }

  Result<std::optional<std::pair<QuarantinedMessage, std::string>>> LoadQuarantined(
      const std::string& partner, const std::string& customer, int64_t id) override {
    return First<std::pair<QuarantinedMessage, std::string>>(
        "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, "
        "released_at, message FROM quarantine WHERE partner = $1 AND customer = $2 AND id = $3",
        {partner, customer, id},
        [](const Row& row) { return std::make_pair(ReadQuarantined(row), row.Bytes(10)); });
  }

  Status MarkReleased(const std::string& partner, const std::string& customer, int64_t id,
                      const std::string& released_at) override {
    return Run(
        "UPDATE quarantine SET released_at = $1 WHERE partner = $2 AND customer = $3 AND id = $4",
        {released_at, partner, customer, id});
  }

  Result<int64_t> PurgeQuarantine(const std::string& before) override {
    return db_->Execute("DELETE FROM quarantine WHERE received_at < $1", {before});
  }

  Result<SpamReportState> LoadSpamReportState(const std::string& partner,
                                              const std::string& customer) override {
    SpamReportState state;
    auto checked =
        FirstText("SELECT checked_at FROM spam_reports WHERE partner = $1 AND customer = $2",
                  {partner, customer});
    if (!checked.ok()) return checked.status();
    state.checked_at = checked->value_or("");
    Status marks = db_->Select(
        "SELECT recipient, reported_through FROM spam_report_marks WHERE partner = $1 AND "
        "customer = $2",
        {partner, customer},
        [&](const Row& row) { state.reported_through[row.Text(0)] = row.Int(1); });
    if (!marks.ok()) return marks;
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
    return Column("SELECT address FROM users WHERE partner = $1 AND customer = $2 AND " kUserFlag(
                      "record", "active") " AND " kUserFlag("record", "continuity"),
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
    std::vector<ContinuityOutage> outages;
    Status status = db_->Select(
        "SELECT partner, customer, started_at, ended_at, reason, CASE WHEN delivered THEN 1 ELSE "
        "0 END FROM continuity_outages WHERE ended_at = '' OR NOT delivered OR ended_at >= $1 "
        "ORDER BY partner, customer, started_at",
        {ended_since}, [&](const Row& row) {
          outages.push_back(
              {row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4), row.Int(5) != 0});
        });
    if (!status.ok()) return status;
    return outages;
  }

  Result<std::string> HoldJob(const std::string& job, const std::string& holder, int64_t now_ms,
                              int64_t until_ms) override {
    std::string holder_now;
    Status status = db_->Transaction(/*write=*/true, /*change=*/false, [&]() -> Status {
      if (Status s =
              Run("INSERT INTO job_leases(job, holder, expires_ms) VALUES ($1, $2, $3) ON CONFLICT "
                  "(job) DO UPDATE SET holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms "
                  "WHERE job_leases.holder = EXCLUDED.holder OR job_leases.expires_ms <= $4",
                  {job, holder, until_ms, now_ms});
          !s.ok())
        return s;
      auto found = FirstText("SELECT holder FROM job_leases WHERE job = $1", {job});
      if (!found.ok()) return found.status();
      holder_now = found->value_or("");
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return holder_now;
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
    std::vector<AuditEntry> entries;
    Status status = db_->Select(
        "SELECT id, at, partner, actor, action, target, detail FROM audit WHERE partner = $1 AND "
        "id > $2 ORDER BY id LIMIT $3",
        {partner, after, static_cast<int64_t>(limit)}, [&](const Row& row) {
          entries.push_back({row.Int(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4),
                             row.Text(5), json::parse(row.Text(6))});
        });
    if (!status.ok()) return status;
    return entries;
  }

 private:
  using Params = sql::Connection::Params;

  Status Run(std::string_view sql, Params params) {
    return db_->Execute(sql, params).status();
  }

  Result<bool> Exists(std::string_view sql, Params params) {
    bool found = false;
    Status status = db_->Select(sql, params, [&](const Row&) { found = true; });
    if (!status.ok()) return status;
    return found;
  }

  // The first row of `sql`, read by `read`, or nothing.
  template <typename T, typename Read>
  Result<std::optional<T>> First(std::string_view sql, Params params, Read read) {
    std::optional<T> first;
    Status status = db_->Select(sql, params, [&](const Row& row) {
      if (!first) first.emplace(read(row));
    });
    if (!status.ok()) return status;
    return first;
  }

  Result<std::optional<std::string>> FirstText(std::string_view sql, Params params) {
    return First<std::string>(sql, params, [](const Row& row) { return row.Text(0); });
  }

  Result<std::vector<std::string>> Column(std::string_view sql, Params params) {
    std::vector<std::string> out;
    Status status = db_->Select(sql, params, [&](const Row& row) { out.push_back(row.Text(0)); });
    if (!status.ok()) return status;
    return out;
  }

  // The first two columns of the rows, as keys and values.
  Result<std::map<std::string, std::string>> Pairs(std::string_view sql, Params params) {
    std::map<std::string, std::string> pairs;
    Status status =
        db_->Select(sql, params, [&](const Row& row) { pairs.emplace(row.Text(0), row.Text(1)); });
    if (!status.ok()) return status;
    return pairs;
  }

  Result<std::optional<RelayClaim>> FirstRelay(std::string_view sql, Params params) {
    auto found = First<std::pair<std::string, ClaimOwner>>(sql, params, [](const Row& row) {
      return std::make_pair(row.Text(0), ClaimOwner{row.Text(1), row.Text(2)});
    });
    if (!found.ok()) return found.status();
    if (!*found) return std::optional<RelayClaim>();
    auto range = IpRange::Parse((*found)->first);
    if (!range.ok()) return Status(StatusCode::kInternal, "store holds an unreadable relay source");
    return std::optional<RelayClaim>(RelayClaim{*range, std::move((*found)->second)});
  }

  std::unique_ptr<sql::Connection> db_;
  // Statements that read a JSON array parameter, spelled for this database once.
  const std::string addresses_, user_hashes_, alias_owners_, put_users_, put_aliases_,
      remove_users_, remove_passwords_, remove_aliases_;
};

#undef kUserFlag

}  // namespace

std::unique_ptr<Store> MakeSqlStore(std::unique_ptr<sql::Connection> connection) {
  return std::make_unique<SqlStore>(std::move(connection));
}

}  // namespace gw
