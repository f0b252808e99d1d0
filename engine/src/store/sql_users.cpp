// The Store's users, aliases and continuity passwords (sql_store_impl.h).

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/sql_store_impl.h"

namespace gw {

using nlohmann::json;
using sql::Row;

// Whether a user's JSON record has `field` true (false when absent).
#define kUserFlag(record, field) "coalesce(CAST(" record " ->> '" field "' AS BOOLEAN), false)"

Result<std::vector<std::pair<std::string, std::string>>> SqlStore::ListRecipients(
    const std::string& partner, const std::string& customer) {
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

Result<std::optional<std::string>> SqlStore::UserHashOf(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& address) {
  return FirstText("SELECT hash FROM users WHERE partner = $1 AND customer = $2 AND address = $3",
                   {partner, customer, address});
}

Result<std::map<std::string, std::string>> SqlStore::UserHashesOf(
    const std::string& partner, const std::string& customer,
    const std::vector<std::string>& addresses) {
  if (addresses.empty()) return std::map<std::string, std::string>();
  return Pairs(user_hashes_, {partner, customer, json(addresses).dump()});
}

Status SqlStore::PutUsers(const std::string& partner, const std::string& customer,
                          const std::vector<UserWrite>& users) {
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

Status SqlStore::RemoveUsers(const std::string& partner, const std::string& customer,
                             const std::vector<std::string>& addresses) {
  if (addresses.empty()) return Status::Ok();
  std::string list = json(addresses).dump();
  for (const std::string* sql : {&remove_users_, &remove_passwords_, &remove_aliases_}) {
    if (Status s = Run(*sql, {partner, customer, list}); !s.ok()) return s;
  }
  auto removed = db_->Execute(remove_personal_, {partner, customer, list});
  if (!removed.ok()) return removed.status();
  return *removed > 0 ? BumpPersonalLists(partner, customer) : Status::Ok();
}

Result<bool> SqlStore::HasAliases(const std::string& partner, const std::string& customer) {
  return Exists("SELECT 1 FROM user_aliases WHERE partner = $1 AND customer = $2 LIMIT 1",
                {partner, customer});
}

Result<std::map<std::string, std::string>> SqlStore::AliasOwners(
    const std::string& partner, const std::string& customer,
    const std::vector<std::string>& addresses) {
  if (addresses.empty()) return std::map<std::string, std::string>();
  return Pairs(alias_owners_, {partner, customer, json(addresses).dump()});
}

Result<std::vector<User>> SqlStore::ListUsers(const std::string& partner,
                                              const std::string& customer, const std::string& after,
                                              size_t limit) {
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

Result<std::pair<int64_t, std::string>> SqlStore::UsersInDomain(const std::string& partner,
                                                                const std::string& customer,
                                                                const std::string& domain) {
  auto found = First<std::pair<int64_t, std::string>>(
      "SELECT count(*), coalesce(min(address), '') FROM users WHERE partner = $1 AND "
      "customer = $2 AND address LIKE $3",
      {partner, customer, "%@" + domain},
      [](const Row& row) { return std::make_pair(row.Int(0), row.Text(1)); });
  if (!found.ok()) return found.status();
  return found->value_or(std::make_pair(int64_t{0}, std::string()));
}

Result<std::vector<std::string>> SqlStore::ListContinuityUsers(const std::string& partner,
                                                               const std::string& customer) {
  return Column("SELECT address FROM users WHERE partner = $1 AND customer = $2 AND " kUserFlag(
                    "record", "active") " AND " kUserFlag("record", "continuity"),
                {partner, customer});
}

Status SqlStore::SetContinuityPassword(const std::string& partner, const std::string& customer,
                                       const std::string& address, const std::string& hash,
                                       const std::string& set_at) {
  return Run(
      "INSERT INTO continuity_passwords(partner, customer, address, hash, set_at) VALUES ($1, "
      "$2, $3, $4, $5) ON CONFLICT (partner, customer, address) DO UPDATE SET hash = "
      "EXCLUDED.hash, set_at = EXCLUDED.set_at",
      {partner, customer, address, hash, set_at});
}

Result<std::optional<std::string>> SqlStore::ContinuityPassword(const std::string& partner,
                                                                const std::string& customer,
                                                                const std::string& address) {
  return FirstText(
      "SELECT hash FROM continuity_passwords WHERE partner = $1 AND customer = $2 AND "
      "address = $3",
      {partner, customer, address});
}

#undef kUserFlag

}  // namespace gw
