#include "gateway/service.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <regex>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/schema.h"
#include "json_codec.h"
#include "sqlite.h"

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
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

const std::string kEmptyDigest(32, '0');

// The columns ReadCustomer reads, in its order. A macro so that queries built from it
// stay string literals (the statement cache keys on them).
#define kSelectCustomers                                                               \
  "SELECT name, version, owner, applied_revision, labels, spec, secret_fingerprints, " \
  "user_count, users_digest, created_at, updated_at FROM customers "

std::string Now() {
  auto now = std::chrono::system_clock::now();
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(now)), millis);
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status Invalid(std::string message, std::string field) {
  return Status(StatusCode::kInvalidArgument, std::move(message), std::move(field));
}

bool ValidName(const std::string& name) {
  static const std::regex kName("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
  return std::regex_match(name, kName);
}

// The customer's normalised domains from its spec (already schema-valid).
Result<std::vector<std::string>> SpecDomains(const json& spec) {
  std::vector<std::string> domains;
  std::vector<std::pair<std::string, std::string>> written = {
      {spec["domains"]["primary"].get<std::string>(), "/spec/domains/primary"}};
  if (spec["domains"].contains("aliases")) {
    size_t i = 0;
    for (const auto& alias : spec["domains"]["aliases"]) {
      written.emplace_back(alias.get<std::string>(), fmt::format("/spec/domains/aliases/{}", i++));
    }
  }
  for (const auto& [text, field] : written) {
    auto domain = NormalizeDomain(text);
    if (!domain.ok()) return Invalid(domain.status().message(), field);
    if (std::find(domains.begin(), domains.end(), *domain) != domains.end()) {
      return Invalid(fmt::format("domain '{}' is listed twice", text), field);
    }
    domains.push_back(*domain);
  }
  return domains;
}

std::string DomainOf(const std::string& address) {
  return address.substr(address.rfind('@') + 1);
}

}  // namespace

struct Service::Impl {
  ServiceOptions options;
  std::unique_ptr<sqlite::Database> db;
  std::mutex mutex;
  std::unordered_map<std::string_view, sqlite::Statement> statements;
  std::unordered_set<sqlite::Statement*> used;  // since the session began

  // One public call: holds the mutex, and at the end resets every statement it used. A
  // statement left stepped holds its read transaction open, and the connection would go
  // on seeing that snapshot, blind to what other processes write to the store.
  class Session {
   public:
    explicit Session(Impl& impl) : impl_(impl), lock_(impl.mutex) {}
    ~Session() { impl_.ResetUsed(); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

   private:
    Impl& impl_;
    std::lock_guard<std::mutex> lock_;
  };

  // A prepared statement for `sql` (a string literal), reset and ready to bind; prepared
  // once per store. The pointer stays valid while the service lives. Only within a Session.
  Result<sqlite::Statement*> Prepare(std::string_view sql) {
    auto it = statements.find(sql);
    if (it == statements.end()) {
      auto prepared = db->Prepare(sql);
      if (!prepared.ok()) return prepared.status();
      it = statements.emplace(sql, std::move(*prepared)).first;
    }
    it->second.Reset();
    used.insert(&it->second);
    return &it->second;
  }

  // Ends the read transaction that statements left stepped keep open.
  void ResetUsed() {
    for (sqlite::Statement* statement : used) statement->Reset();
    used.clear();
  }

  // Runs `body` in one write transaction; rolls back on any error.
  template <typename T, typename Body>
  Result<T> Write(Body body) {
    // A connection inside a read transaction cannot wait for another process's write
    // lock (SQLite answers busy at once): end it, so the busy timeout applies.
    ResetUsed();
    if (Status s = db->Execute("BEGIN IMMEDIATE"); !s.ok()) return s;
    Result<T> result = body();
    if (!result.ok()) {
      db->Execute("ROLLBACK");
      return result;
    }
    if (Status s = db->Execute("COMMIT"); !s.ok()) {
      db->Execute("ROLLBACK");
      return s;
    }
    return result;
  }

  Status CheckPartner(const Actor& actor, const std::string& partner) {
    if (!actor.is_operator && actor.partner != partner) {
      return Status(StatusCode::kNotFound, fmt::format("partner '{}' not found", partner));
    }
    auto statement = Prepare("SELECT 1 FROM partners WHERE name = ?");
    if (!statement.ok()) return statement.status();
    (*statement)->Bind(1, partner);
    Status status;
    bool found = (*statement)->Step(status);
    if (!status.ok()) return status;
    if (!found)
      return Status(StatusCode::kNotFound, fmt::format("partner '{}' not found", partner));
    return Status::Ok();
  }

  Result<std::optional<Customer>> LoadCustomer(const std::string& partner,
                                               const std::string& name) {
    auto statement = Prepare(kSelectCustomers "WHERE partner = ? AND name = ?");
    if (!statement.ok()) return statement.status();
    (*statement)->Bind(1, partner).Bind(2, name);
    Status status;
    if (!(*statement)->Step(status)) {
      if (!status.ok()) return status;
      return std::optional<Customer>();
    }
    return std::optional<Customer>(ReadCustomer(**statement));
  }

  static Customer ReadCustomer(const sqlite::Statement& row) {
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

  Status BumpRevision(const std::string& partner) {
    auto statement = Prepare("UPDATE partners SET revision = revision + 1 WHERE name = ?");
    if (!statement.ok()) return statement.status();
    return (*statement)->Bind(1, partner).Run();
  }

  Status Audit(const Actor& actor, const std::string& partner, const std::string& action,
               const std::string& target, const json& detail) {
    auto statement = Prepare(
        "INSERT INTO audit(at, partner, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)");
    if (!statement.ok()) return statement.status();
    return (*statement)
        ->Bind(1, Now())
        .Bind(2, partner)
        .Bind(3, actor.name)
        .Bind(4, action)
        .Bind(5, target)
        .Bind(6, detail.dump())
        .Run();
  }

  Result<std::vector<std::string>> CustomerDomains(const std::string& partner,
                                                   const std::string& customer) {
    auto statement = Prepare("SELECT domain FROM domains WHERE partner = ? AND customer = ?");
    if (!statement.ok()) return statement.status();
    (*statement)->Bind(1, partner).Bind(2, customer);
    std::vector<std::string> domains;
    Status status;
    while ((*statement)->Step(status)) domains.push_back((*statement)->Text(0));
    if (!status.ok()) return status;
    return domains;
  }
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() = default;

Result<std::unique_ptr<Service>> Service::Open(const std::string& path, ServiceOptions options) {
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (exists) {
    if (!fs::is_regular_file(path, ec)) {
      return Status(StatusCode::kUnavailable, fmt::format("store {} is not a regular file", path));
    }
    if (access(path.c_str(), R_OK | W_OK) != 0) {
      return Status(
          StatusCode::kUnavailable,
          fmt::format("store {} is not writable by this user; gatewayd needs to write it", path));
    }
  } else if (fs::path parent = fs::path(path).parent_path(); !parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec)
      return Status(StatusCode::kUnavailable,
                    fmt::format("cannot create {}: {}", parent.string(), ec.message()));
  }
  auto db = sqlite::Database::Open(path, !exists, options.busy_timeout_ms);
  if (!db.ok()) return db.status();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->db = std::move(*db);
  sqlite::Database& d = *impl->db;

  // Read before writing anything, so a foreign or damaged file is left as it was.
  auto version_statement = d.Prepare("PRAGMA user_version");
  if (!version_statement.ok()) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("store {} is not a gatewayd store or is corrupt ({})", path,
                              version_statement.status().message()));
  }
  Status status;
  version_statement->Step(status);
  if (!status.ok()) {
    return Status(
        StatusCode::kUnavailable,
        fmt::format("store {} is not a gatewayd store or is corrupt ({})", path, status.message()));
  }
  int64_t version = version_statement->Int(0);
  version_statement->Reset();
  if (version > kSchemaVersion) {
    return Status(
        StatusCode::kUnavailable,
        fmt::format("store {} has schema version {}, newer than this gatewayd understands ({})",
                    path, version, kSchemaVersion));
  }
  if (exists) {
    auto check = d.Prepare("PRAGMA quick_check");
    if (!check.ok())
      return Status(StatusCode::kUnavailable, fmt::format("store {} is corrupt", path));
    check->Step(status);
    std::string verdict = check->Text(0);
    check->Reset();
    if (!status.ok() || verdict != "ok") {
      return Status(StatusCode::kUnavailable,
                    fmt::format("store {} is corrupt ({}); it was not changed", path,
                                status.ok() ? verdict : status.message()));
    }
  }
  if (d.ReadOnly())
    return Status(StatusCode::kUnavailable, fmt::format("store {} is read-only", path));
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (Status s = d.Execute(pragma); !s.ok()) {
      return Status(StatusCode::kUnavailable, fmt::format("store {}: {}", path, s.message()));
    }
  }
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    std::string sql =
        fmt::format("BEGIN; {} PRAGMA user_version = {}; COMMIT;", kMigrations[v], v + 1);
    if (Status s = d.Execute(sql); !s.ok()) {
      d.Execute("ROLLBACK");
      return Status(
          StatusCode::kUnavailable,
          fmt::format("store {}: migration to version {} failed: {}", path, v + 1, s.message()));
    }
  }
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

Status Service::PutPartner(const Actor& actor, const std::string& partner) {
  if (!actor.is_operator) {
    // A partner may confirm its own partner exists (gwctl does before every plan), so
    // that costs neither a refusal nor a write; only an operator creates one.
    if (actor.partner == partner) {
      Impl::Session session(*impl_);
      if (impl_->CheckPartner(actor, partner).ok()) return Status::Ok();
    }
    return Status(StatusCode::kPermissionDenied, "only an operator can create partners");
  }
  if (!ValidName(partner))
    return Invalid(fmt::format("'{}' is not a valid partner name", partner), "/name");
  Impl::Session session(*impl_);
  auto result = impl_->Write<bool>([&]() -> Result<bool> {
    auto statement =
        impl_->Prepare("INSERT OR IGNORE INTO partners(name, created_at) VALUES (?, ?)");
    if (!statement.ok()) return statement.status();
    if (Status s = (*statement)->Bind(1, partner).Bind(2, Now()).Run(); !s.ok()) return s;
    if (impl_->db->Changes() == 0) return false;
    if (Status s = impl_->Audit(actor, partner, "partner.create", partner, json::object()); !s.ok())
      return s;
    return true;
  });
  return result.status();
}

Result<std::vector<std::string>> Service::ListPartners(const Actor& actor) {
  if (!actor.is_operator)
    return Status(StatusCode::kPermissionDenied, "only an operator can list partners");
  Impl::Session session(*impl_);
  auto statement = impl_->Prepare("SELECT name FROM partners ORDER BY name");
  if (!statement.ok()) return statement.status();
  std::vector<std::string> partners;
  Status status;
  while ((*statement)->Step(status)) partners.push_back((*statement)->Text(0));
  if (!status.ok()) return status;
  return partners;
}

Result<std::vector<Customer>> Service::ListCustomers(const Actor& actor,
                                                     const std::string& partner) {
  auto state = GetState(actor, partner);
  if (!state.ok()) return state.status();
  return std::move(state->customers);
}

Result<PartnerState> Service::GetState(const Actor& actor, const std::string& partner) {
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  if (Status s = impl_->db->Execute("BEGIN"); !s.ok()) return s;
  PartnerState state;
  state.partner = partner;
  Status status;
  auto revision = impl_->Prepare("SELECT revision FROM partners WHERE name = ?");
  if (revision.ok()) {
    (*revision)->Bind(1, partner);
    if ((*revision)->Step(status)) state.revision = (*revision)->Int(0);
  } else {
    status = revision.status();
  }
  auto rows = impl_->Prepare(kSelectCustomers "WHERE partner = ? ORDER BY name");
  if (status.ok() && rows.ok()) {
    (*rows)->Bind(1, partner);
    while ((*rows)->Step(status)) state.customers.push_back(Impl::ReadCustomer(**rows));
  } else if (status.ok()) {
    status = rows.status();
  }
  impl_->db->Execute("COMMIT");
  if (!status.ok()) return status;
  return state;
}

Result<Customer> Service::GetCustomer(const Actor& actor, const std::string& partner,
                                      const std::string& name) {
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  auto customer = impl_->LoadCustomer(partner, name);
  if (!customer.ok()) return customer.status();
  if (!*customer)
    return Status(StatusCode::kNotFound, fmt::format("customer '{}' not found", name));
  return std::move(**customer);
}

Result<Customer> Service::PutCustomer(const Actor& actor, const std::string& partner,
                                      const std::string& name, const CustomerWrite& write,
                                      WriteCondition condition) {
  // Shape first, with the very schema gwctl validates manifests with.
  json document = {{"apiVersion", "gwctl/v1"},
                   {"kind", "Customer"},
                   {"metadata", {{"name", name}, {"labels", write.labels}}},
                   {"spec", write.spec}};
  auto violations = SchemaSet::Builtin().Validate("customer.schema.json", document);
  if (!violations.empty()) {
    const SchemaViolation& first = violations.front();
    std::string field = first.pointer.rfind("/metadata/name", 0) == 0     ? "/name"
                        : first.pointer.rfind("/metadata/labels", 0) == 0 ? first.pointer.substr(9)
                                                                          : first.pointer;
    return Invalid(first.message, field);
  }
  auto domains = SpecDomains(write.spec);
  if (!domains.ok()) return domains.status();
  std::map<std::string, std::string> fingerprints;
  for (const auto& [pointer, value] : write.secrets) {
    if (pointer.empty() || pointer.front() != '/') {
      return Invalid(
          fmt::format("secret key '{}' must be a JSON pointer such as /panelLogin/password",
                      pointer),
          "/secrets");
    }
    fingerprints[pointer] = SecretFingerprint(partner, name, pointer, value);
  }

  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  return impl_->Write<Customer>([&]() -> Result<Customer> {
    auto existing = impl_->LoadCustomer(partner, name);
    if (!existing.ok()) return existing.status();
    if (condition.kind == WriteCondition::Kind::kCreateOnly && *existing) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("customer '{}' already exists", name));
    }
    if (condition.kind == WriteCondition::Kind::kVersion) {
      if (!*existing)
        return Status(StatusCode::kNotFound, fmt::format("customer '{}' not found", name));
      if ((*existing)->version != condition.version) {
        return Status(StatusCode::kFailedPrecondition,
                      fmt::format("customer '{}' is at version {}, not {}", name,
                                  (*existing)->version, condition.version));
      }
    }
    const Customer* before = existing->has_value() ? &**existing : nullptr;
    if (before && before->spec == write.spec && before->labels == write.labels &&
        before->owner == write.owner && before->applied_revision == write.applied_revision &&
        before->secret_fingerprints == fingerprints) {
      return *before;  // identical: no new version
    }
    // Domains: free, or already this customer's.
    auto lookup = impl_->Prepare("SELECT partner, customer FROM domains WHERE domain = ?");
    if (!lookup.ok()) return lookup.status();
    for (size_t i = 0; i < domains->size(); ++i) {
      (*lookup)->Bind(1, (*domains)[i]);
      Status status;
      bool held = (*lookup)->Step(status);
      bool ours = held && (*lookup)->Text(0) == partner && (*lookup)->Text(1) == name;
      (*lookup)->Reset();
      if (!status.ok()) return status;
      if (held && !ours) {
        return Status(
            StatusCode::kConflict,
            fmt::format("domain '{}' is already held by another customer on this gateway",
                        (*domains)[i]),
            i == 0 ? "/spec/domains/primary" : fmt::format("/spec/domains/aliases/{}", i - 1));
      }
    }
    if (before) {
      // Users must stay inside the customer's domains.
      auto old_domains = impl_->CustomerDomains(partner, name);
      if (!old_domains.ok()) return old_domains.status();
      for (const auto& old_domain : *old_domains) {
        if (std::find(domains->begin(), domains->end(), old_domain) != domains->end()) continue;
        auto count = impl_->Prepare(
            "SELECT count(*), min(address) FROM users WHERE partner = ? AND customer = ? AND "
            "address LIKE ?");
        if (!count.ok()) return count.status();
        (*count)->Bind(1, partner).Bind(2, name).Bind(3, "%@" + old_domain);
        Status status;
        (*count)->Step(status);
        if (!status.ok()) return status;
        if ((*count)->Int(0) > 0) {
          return Status(
              StatusCode::kConflict,
              fmt::format(
                  "{} users are in domain '{}', which this change removes (first: {}); remove them "
                  "first",
                  (*count)->Int(0), old_domain, (*count)->Text(1)),
              "/spec/domains");
        }
      }
    }
    Customer after;
    after.name = name;
    after.version = before ? before->version + 1 : 1;
    after.owner = write.owner;
    after.applied_revision = write.applied_revision;
    after.labels = write.labels;
    after.spec = write.spec;
    after.secret_fingerprints = fingerprints;
    after.user_count = before ? before->user_count : 0;
    after.users_digest = before ? before->users_digest : kEmptyDigest;
    after.updated_at = Now();
    after.created_at = before ? before->created_at : after.updated_at;
    auto upsert = impl_->Prepare(
        "INSERT OR REPLACE INTO customers(partner, name, version, owner, applied_revision, labels, "
        "spec, "
        "secret_fingerprints, user_count, users_digest, created_at, updated_at) VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!upsert.ok()) return upsert.status();
    (*upsert)
        ->Bind(1, partner)
        .Bind(2, name)
        .Bind(3, after.version)
        .Bind(4, after.owner)
        .Bind(5, after.applied_revision)
        .Bind(6, json(after.labels).dump())
        .Bind(7, after.spec.dump())
        .Bind(8, json(fingerprints).dump())
        .Bind(9, after.user_count)
        .Bind(10, after.users_digest)
        .Bind(11, after.created_at)
        .Bind(12, after.updated_at);
    if (Status s = (*upsert)->Run(); !s.ok()) return s;
    auto clear = impl_->Prepare("DELETE FROM domains WHERE partner = ? AND customer = ?");
    if (!clear.ok()) return clear.status();
    if (Status s = (*clear)->Bind(1, partner).Bind(2, name).Run(); !s.ok()) return s;
    auto claim = impl_->Prepare("INSERT INTO domains(domain, partner, customer) VALUES (?, ?, ?)");
    if (!claim.ok()) return claim.status();
    for (const auto& domain : *domains) {
      if (Status s = (*claim)->Bind(1, domain).Bind(2, partner).Bind(3, name).Run(); !s.ok())
        return s;
    }
    if (Status s = impl_->BumpRevision(partner); !s.ok()) return s;
    json detail = {{"version", after.version}};
    if (before) {
      std::vector<std::string> changed;
      for (const auto& [key, value] : after.spec.items()) {
        if (!before->spec.contains(key) || before->spec[key] != value) changed.push_back(key);
      }
      for (const auto& [key, value] : before->spec.items()) {
        if (!after.spec.contains(key)) changed.push_back(key);
      }
      detail["changed"] = changed;
      std::vector<std::string> secrets_changed;
      for (const auto& [pointer, fingerprint] : fingerprints) {
        auto old = before->secret_fingerprints.find(pointer);
        if (old == before->secret_fingerprints.end() || old->second != fingerprint)
          secrets_changed.push_back(pointer);
      }
      if (!secrets_changed.empty()) detail["secretsChanged"] = secrets_changed;
    }
    if (!write.applied_revision.empty()) detail["appliedRevision"] = write.applied_revision;
    if (Status s = impl_->Audit(actor, partner, before ? "customer.update" : "customer.create",
                                name, detail);
        !s.ok()) {
      return s;
    }
    return after;
  });
}

Status Service::DeleteCustomer(const Actor& actor, const std::string& partner,
                               const std::string& name, int64_t version) {
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        auto existing = impl_->LoadCustomer(partner, name);
        if (!existing.ok()) return existing.status();
        if (!*existing)
          return Status(StatusCode::kNotFound, fmt::format("customer '{}' not found", name));
        if ((*existing)->version != version) {
          return Status(StatusCode::kFailedPrecondition,
                        fmt::format("customer '{}' is at version {}, not {}", name,
                                    (*existing)->version, version));
        }
        for (const char* sql : {"DELETE FROM users WHERE partner = ? AND customer = ?",
                                "DELETE FROM domains WHERE partner = ? AND customer = ?",
                                "DELETE FROM customers WHERE partner = ? AND name = ?"}) {
          auto statement = impl_->Prepare(sql);
          if (!statement.ok()) return statement.status();
          if (Status s = (*statement)->Bind(1, partner).Bind(2, name).Run(); !s.ok()) return s;
        }
        if (Status s = impl_->BumpRevision(partner); !s.ok()) return s;
        json detail = {{"version", version}, {"users", (*existing)->user_count}};
        if (Status s = impl_->Audit(actor, partner, "customer.delete", name, detail); !s.ok())
          return s;
        return true;
      })
      .status();
}

Result<UserPage> Service::ListUsers(const Actor& actor, const std::string& partner,
                                    const std::string& customer, const std::string& after,
                                    size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  auto exists = impl_->LoadCustomer(partner, customer);
  if (!exists.ok()) return exists.status();
  if (!*exists)
    return Status(StatusCode::kNotFound, fmt::format("customer '{}' not found", customer));
  auto statement = impl_->Prepare(
      "SELECT record FROM users WHERE partner = ? AND customer = ? AND address > ? ORDER BY "
      "address LIMIT ?");
  if (!statement.ok()) return statement.status();
  (*statement)
      ->Bind(1, partner)
      .Bind(2, customer)
      .Bind(3, after)
      .Bind(4, static_cast<int64_t>(limit + 1));
  UserPage page;
  Status status;
  while ((*statement)->Step(status)) {
    auto user = UserFromJson(json::parse((*statement)->Text(0)), "");
    if (!user.ok())
      return Status(StatusCode::kInternal,
                    "store holds an unreadable user: " + user.status().message());
    page.users.push_back(std::move(*user));
  }
  if (!status.ok()) return status;
  if (page.users.size() > limit) {
    page.users.pop_back();
    page.next_after = page.users.back().address;
  }
  return page;
}

Result<UserBatchResult> Service::BatchUsers(const Actor& actor, const std::string& partner,
                                            const std::string& customer, const UserBatch& batch) {
  if (batch.upsert.size() + batch.remove.size() > impl_->options.max_users_per_batch) {
    return Status(StatusCode::kResourceExhausted, fmt::format("a batch holds at most {} users",
                                                              impl_->options.max_users_per_batch));
  }
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  return impl_->Write<UserBatchResult>([&]() -> Result<UserBatchResult> {
    auto existing = impl_->LoadCustomer(partner, customer);
    if (!existing.ok()) return existing.status();
    if (!*existing)
      return Status(StatusCode::kNotFound, fmt::format("customer '{}' not found", customer));
    auto domain_list = impl_->CustomerDomains(partner, customer);
    if (!domain_list.ok()) return domain_list.status();
    std::set<std::string> domains(domain_list->begin(), domain_list->end());

    // Validate everything before writing anything.
    std::vector<User> upserts;
    upserts.reserve(batch.upsert.size());
    std::set<std::string> seen;
    for (size_t i = 0; i < batch.upsert.size(); ++i) {
      auto user = NormalizeUser(batch.upsert[i], fmt::format("/upsert/{}", i));
      if (!user.ok()) return user.status();
      for (size_t k = 0; k <= user->aliases.size(); ++k) {
        const std::string& address = k == 0 ? user->address : user->aliases[k - 1];
        std::string field = k == 0 ? fmt::format("/upsert/{}/address", i)
                                   : fmt::format("/upsert/{}/aliases/{}", i, k - 1);
        if (!domains.count(DomainOf(address))) {
          return Invalid(fmt::format("'{}' is not in customer '{}''s domains", address, customer),
                         field);
        }
      }
      if (!seen.insert(user->address).second) {
        return Invalid(fmt::format("'{}' appears twice in the batch", user->address),
                       fmt::format("/upsert/{}", i));
      }
      upserts.push_back(std::move(*user));
    }
    for (size_t i = 0; i < batch.remove.size(); ++i) {
      if (seen.count(batch.remove[i])) {
        return Invalid(fmt::format("'{}' is both upserted and removed", batch.remove[i]),
                       fmt::format("/delete/{}", i));
      }
    }

    UserBatchResult result;
    result.user_count = (*existing)->user_count;
    result.users_digest = (*existing)->users_digest;
    auto lookup =
        impl_->Prepare("SELECT hash FROM users WHERE partner = ? AND customer = ? AND address = ?");
    auto upsert = impl_->Prepare(
        "INSERT OR REPLACE INTO users(partner, customer, address, record, hash) VALUES (?, ?, ?, "
        "?, ?)");
    auto remove =
        impl_->Prepare("DELETE FROM users WHERE partner = ? AND customer = ? AND address = ?");
    if (!lookup.ok() || !upsert.ok() || !remove.ok()) return impl_->db->Error("prepare users");
    auto old_hash = [&](const std::string& address, std::string& hash) -> Result<bool> {
      (*lookup)->Bind(1, partner).Bind(2, customer).Bind(3, address);
      Status status;
      bool found = (*lookup)->Step(status);
      if (found) hash = (*lookup)->Text(0);
      (*lookup)->Reset();
      if (!status.ok()) return status;
      return found;
    };
    for (const auto& user : upserts) {
      std::string record = ToJson(user).dump();
      std::string hash = UserHash(user), previous;
      auto found = old_hash(user.address, previous);
      if (!found.ok()) return found.status();
      if (*found && previous == hash) continue;
      (*upsert)
          ->Bind(1, partner)
          .Bind(2, customer)
          .Bind(3, user.address)
          .Bind(4, ToJson(user).dump())
          .Bind(5, hash);
      if (Status s = (*upsert)->Run(); !s.ok()) return s;
      result.users_digest =
          XorHex(XorHex(result.users_digest, hash), *found ? previous : kEmptyDigest);
      if (!*found) ++result.user_count;
      ++result.upserted;
    }
    for (const auto& address : batch.remove) {
      std::string previous;
      auto found = old_hash(address, previous);
      if (!found.ok()) return found.status();
      if (!*found) continue;
      if (Status s = (*remove)->Bind(1, partner).Bind(2, customer).Bind(3, address).Run(); !s.ok())
        return s;
      result.users_digest = XorHex(result.users_digest, previous);
      --result.user_count;
      ++result.removed;
    }
    if (result.upserted == 0 && result.removed == 0) return result;
    auto update = impl_->Prepare(
        "UPDATE customers SET user_count = ?, users_digest = ? WHERE partner = ? AND name = ?");
    if (!update.ok()) return update.status();
    if (Status s = (*update)
                       ->Bind(1, result.user_count)
                       .Bind(2, result.users_digest)
                       .Bind(3, partner)
                       .Bind(4, customer)
                       .Run();
        !s.ok()) {
      return s;
    }
    if (Status s = impl_->BumpRevision(partner); !s.ok()) return s;
    json detail = {{"upserted", result.upserted},
                   {"removed", result.removed},
                   {"userCount", result.user_count}};
    if (Status s = impl_->Audit(actor, partner, "users.batch", customer, detail); !s.ok()) return s;
    return result;
  });
}

Result<Lease> Service::TakeLease(const Actor& actor, const std::string& partner,
                                 const std::string& holder, int64_t ttl_seconds) {
  if (holder.empty()) return Invalid("a lease needs a holder", "/holder");
  if (ttl_seconds < 0 || ttl_seconds > 3600)
    return Invalid("ttl must be 0-3600 seconds", "/ttlSeconds");
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  return impl_->Write<Lease>([&]() -> Result<Lease> {
    int64_t now = UnixNow();
    auto current = impl_->Prepare("SELECT holder, expires_at FROM leases WHERE partner = ?");
    if (!current.ok()) return current.status();
    (*current)->Bind(1, partner);
    Status status;
    bool ours = false;  // held by `holder` and not expired: a renewal or a release
    if ((*current)->Step(status) && (*current)->Int(1) > now) {
      if ((*current)->Text(0) != holder) {
        return Status(
            StatusCode::kConflict,
            fmt::format("the apply lease of partner '{}' is held by '{}' for {} more seconds",
                        partner, (*current)->Text(0), (*current)->Int(1) - now));
      }
      ours = true;
    }
    if (!status.ok()) return status;
    if (ttl_seconds == 0) {
      auto release = impl_->Prepare("DELETE FROM leases WHERE partner = ? AND holder = ?");
      if (!release.ok()) return release.status();
      if (Status s = (*release)->Bind(1, partner).Bind(2, holder).Run(); !s.ok()) return s;
      if (ours) {
        if (Status s = impl_->Audit(actor, partner, "lease.release", holder, json::object());
            !s.ok())
          return s;
      }
      return Lease{holder, 0};
    }
    // Who held the lease when is in the audit log; renewals are not.
    if (!ours) {
      if (Status s = impl_->Audit(actor, partner, "lease.acquire", holder,
                                  json{{"ttlSeconds", ttl_seconds}});
          !s.ok())
        return s;
    }
    auto take = impl_->Prepare(
        "INSERT OR REPLACE INTO leases(partner, holder, expires_at) VALUES (?, ?, ?)");
    if (!take.ok()) return take.status();
    if (Status s = (*take)->Bind(1, partner).Bind(2, holder).Bind(3, now + ttl_seconds).Run();
        !s.ok())
      return s;
    return Lease{holder, now + ttl_seconds};
  });
}

Result<std::vector<AuditEntry>> Service::ListAudit(const Actor& actor, const std::string& partner,
                                                   int64_t after, size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  Impl::Session session(*impl_);
  if (Status s = impl_->CheckPartner(actor, partner); !s.ok()) return s;
  auto statement = impl_->Prepare(
      "SELECT id, at, partner, actor, action, target, detail FROM audit WHERE partner = ? AND id > "
      "? ORDER BY id "
      "LIMIT ?");
  if (!statement.ok()) return statement.status();
  (*statement)->Bind(1, partner).Bind(2, after).Bind(3, static_cast<int64_t>(limit));
  std::vector<AuditEntry> entries;
  Status status;
  while ((*statement)->Step(status)) {
    entries.push_back({(*statement)->Int(0), (*statement)->Text(1), (*statement)->Text(2),
                       (*statement)->Text(3), (*statement)->Text(4), (*statement)->Text(5),
                       json::parse((*statement)->Text(6))});
  }
  if (!status.ok()) return status;
  return entries;
}

}  // namespace gw
