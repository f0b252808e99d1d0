// Service: a customer's users in batches, and their continuity passwords.
#include "gateway/service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/password_hash.h"

#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

// An address names one user of a customer: no user's address or alias may be another's
// (rule user-duplicate, as gwctl validate checks across inline mailboxes and CSV files).
// `upserts` are normalised and in the customer's domains; users they replace and users
// removed in the same batch give their addresses up.
Status CheckAddressesAreFree(Store& store, const std::string& partner, const std::string& customer,
                             const std::vector<User>& upserts,
                             const std::vector<std::string>& removed,
                             std::vector<StatusDetail>& problems) {
  // Most customers have no aliases at all: then no address can be one.
  auto stored_aliases = store.HasAliases(partner, customer);
  if (!stored_aliases.ok()) return stored_aliases.status();
  bool batch_aliases = std::any_of(upserts.begin(), upserts.end(),
                                   [](const User& user) { return !user.aliases.empty(); });
  if (!*stored_aliases && !batch_aliases) return Status::Ok();  // addresses are unique already
  std::set<std::string> changing(removed.begin(), removed.end());
  for (const auto& user : upserts) changing.insert(user.address);
  // What the store holds for every address and alias of the batch, in three queries: a
  // batch is thousands of users, and the store may be across a network.
  std::vector<std::string> addresses, aliases;
  for (const auto& user : upserts) {
    addresses.push_back(user.address);
    aliases.insert(aliases.end(), user.aliases.begin(), user.aliases.end());
  }
  std::map<std::string, std::string> alias_owners;  // of addresses and aliases alike
  if (*stored_aliases) {
    std::vector<std::string> asked = addresses;
    asked.insert(asked.end(), aliases.begin(), aliases.end());
    auto owners = store.AliasOwners(partner, customer, asked);
    if (!owners.ok()) return owners.status();
    alias_owners = std::move(*owners);
  }
  auto alias_users = store.UserHashesOf(partner, customer, aliases);  // aliases that are users
  if (!alias_users.ok()) return alias_users.status();
  auto owner_of = [&](const std::string& address) -> const std::string* {
    auto found = alias_owners.find(address);
    return found == alias_owners.end() ? nullptr : &found->second;
  };

  std::map<std::string, std::string> claimed;  // address or alias -> user, in this batch
  for (const auto& user : upserts) claimed.emplace(user.address, user.address);
  for (size_t i = 0; i < upserts.size(); ++i) {
    const User& user = upserts[i];
    if (const std::string* owner = owner_of(user.address); owner && !changing.count(*owner)) {
      problems.push_back(
          {fmt::format("/upsert/{}/address", i), "user-duplicate",
           fmt::format("'{}' is already an alias of user '{}'", user.address, *owner)});
    }
    for (size_t k = 0; k < user.aliases.size(); ++k) {
      const std::string& alias = user.aliases[k];
      std::string field = fmt::format("/upsert/{}/aliases/{}", i, k);
      auto [it, fresh] = claimed.emplace(alias, user.address);
      if (!fresh) {
        problems.push_back(
            {field, "user-duplicate",
             fmt::format(
                 "'{}' is also {} in this batch", alias,
                 it->second == alias ? "a user" : fmt::format("an alias of '{}'", it->second))});
        continue;
      }
      const std::string* owner = owner_of(alias);
      if (alias_users->count(alias) && !changing.count(alias)) {
        problems.push_back({field, "user-duplicate", fmt::format("'{}' is already a user", alias)});
      } else if (owner && *owner != user.address && !changing.count(*owner)) {
        problems.push_back({field, "user-duplicate",
                            fmt::format("'{}' is already an alias of user '{}'", alias, *owner)});
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<UserPage> Service::ListUsers(const Actor& actor, const std::string& partner,
                                    const std::string& customer, const std::string& after,
                                    size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  return impl_->Read<UserPage>([&]() -> Result<UserPage> {
    if (Status s = impl_->CheckPartner(actor, Action::kReadUsers, partner, customer); !s.ok())
      return s;
    if (auto exists = impl_->ExistingCustomer(partner, customer); !exists.ok())
      return exists.status();
    auto users = impl_->store->ListUsers(partner, customer, after, limit + 1);
    if (!users.ok()) return users.status();
    UserPage page;
    page.users = std::move(*users);
    if (page.users.size() > limit) {
      page.users.pop_back();
      page.next_after = page.users.back().address;
    }
    return page;
  });
}

Result<UserBatchResult> Service::BatchUsers(const Actor& actor, const std::string& partner,
                                            const std::string& customer, const UserBatch& batch) {
  if (batch.upsert.size() + batch.remove.size() > impl_->options.max_users_per_batch) {
    return Status(StatusCode::kResourceExhausted, fmt::format("a batch holds at most {} users",
                                                              impl_->options.max_users_per_batch));
  }
  return impl_->Write<UserBatchResult>([&]() -> Result<UserBatchResult> {
    Store& store = *impl_->store;
    if (Status s = impl_->CheckPartner(actor, Action::kWriteUsers, partner, customer); !s.ok())
      return s;
    auto existing = impl_->ExistingCustomer(partner, customer);
    if (!existing.ok()) return existing.status();
    auto domains = store.CustomerDomains(partner, customer);
    if (!domains.ok()) return domains.status();

    // Validate everything before writing anything; report every problem (up to a page).
    constexpr size_t kMaxProblems = 100;
    std::vector<StatusDetail> problems;
    std::vector<User> upserts;
    upserts.reserve(batch.upsert.size());
    std::set<std::string> seen;
    for (size_t i = 0; i < batch.upsert.size() && problems.size() < kMaxProblems; ++i) {
      auto user = NormalizeUser(batch.upsert[i], fmt::format("/upsert/{}", i));
      if (!user.ok()) {
        problems.push_back({user.status().field(), "user-invalid", user.status().message()});
        continue;
      }
      bool in_domains = true;
      for (size_t k = 0; k <= user->aliases.size(); ++k) {
        const std::string& address = k == 0 ? user->address : user->aliases[k - 1];
        if (auto problem = FindAddressProblem(address, *domains)) {
          problems.push_back({k == 0 ? fmt::format("/upsert/{}/address", i)
                                     : fmt::format("/upsert/{}/aliases/{}", i, k - 1),
                              problem->rule, problem->message});
          in_domains = false;
        }
      }
      if (!seen.insert(user->address).second) {
        problems.push_back({fmt::format("/upsert/{}", i), "user-duplicate",
                            fmt::format("'{}' appears twice in the batch", user->address)});
      }
      if (in_domains) upserts.push_back(std::move(*user));
    }
    for (size_t i = 0; i < batch.remove.size() && problems.size() < kMaxProblems; ++i) {
      if (seen.count(batch.remove[i])) {
        problems.push_back({fmt::format("/delete/{}", i), "user-duplicate",
                            fmt::format("'{}' is both upserted and removed", batch.remove[i])});
      }
    }
    if (!problems.empty()) return Refusal(std::move(problems));
    if (Status s = CheckAddressesAreFree(store, partner, customer, upserts, batch.remove, problems);
        !s.ok())
      return s;
    if (!problems.empty()) return Refusal(std::move(problems));

    UserBatchResult result;
    result.user_count = existing->user_count;
    result.users_digest = existing->users_digest;
    std::vector<std::string> addresses;
    addresses.reserve(upserts.size() + batch.remove.size());
    for (const auto& user : upserts) addresses.push_back(user.address);
    addresses.insert(addresses.end(), batch.remove.begin(), batch.remove.end());
    auto stored = store.UserHashesOf(partner, customer, addresses);
    if (!stored.ok()) return stored.status();
    std::vector<Store::UserWrite> writes;
    for (const auto& user : upserts) {
      std::string hash = UserHash(user);
      auto previous = stored->find(user.address);
      bool exists = previous != stored->end();
      if (exists && previous->second == hash) continue;
      result.users_digest =
          XorHex(XorHex(result.users_digest, hash), exists ? previous->second : kEmptyDigest);
      if (!exists) ++result.user_count;
      ++result.upserted;
      writes.push_back({&user, std::move(hash), exists});
    }
    std::vector<std::string> removals;
    std::set<std::string> removing;
    for (const auto& address : batch.remove) {
      auto previous = stored->find(address);
      if (previous == stored->end() || !removing.insert(address).second) continue;
      result.users_digest = XorHex(result.users_digest, previous->second);
      --result.user_count;
      ++result.removed;
      removals.push_back(address);
    }
    if (Status s = store.PutUsers(partner, customer, writes); !s.ok()) return s;
    if (Status s = store.RemoveUsers(partner, customer, removals); !s.ok()) return s;
    if (result.upserted == 0 && result.removed == 0) return result;
    if (Status s = store.SetUserSummary(partner, customer, result.user_count, result.users_digest);
        !s.ok()) {
      return s;
    }
    json detail = {{"upserted", result.upserted},
                   {"removed", result.removed},
                   {"userCount", result.user_count}};
    if (Status s = impl_->Changed(actor, partner, "users.batch", customer, detail); !s.ok())
      return s;
    return result;
  });
}

Status Service::SetContinuityPassword(const Actor& actor, const std::string& partner,
                                      const std::string& customer, const std::string& address,
                                      const std::string& password) {
  auto parsed = ParseEmailAddress(address);
  if (!parsed.ok()) return Status::Invalid(parsed.status().message(), "/address");
  if (Status s = CheckPasswordRules(password); !s.ok())
    return Status::Invalid(s.message(), "/password");
  std::string user = parsed->ToString();
  auto check = [&]() -> Status {
    if (Status s = impl_->CheckPartner(actor, Action::kSetContinuityPassword, partner, customer);
        !s.ok())
      return s;
    auto existing = impl_->store->UserHashOf(partner, customer, user);
    if (!existing.ok()) return existing.status();
    if (!*existing) {
      return NotFound(fmt::format("user {} of customer '{}' (a user's own address, not an alias)",
                                  user, customer));
    }
    return Status::Ok();
  };
  // Checked before hashing too, so that a caller without the right cannot make the
  // gateway spend the KDF's memory and time.
  if (Status s = impl_
                     ->Read<bool>([&]() -> Result<bool> {
                       if (Status c = check(); !c.ok()) return c;
                       return true;
                     })
                     .status();
      !s.ok())
    return s;
  // Hashing takes tens of milliseconds and memory: outside the store's transaction.
  auto hash = HashPassword(password);
  if (!hash.ok()) return hash.status();
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status c = check(); !c.ok()) return c;
        if (Status s = impl_->store->SetContinuityPassword(partner, customer, user, *hash, Now());
            !s.ok())
          return s;
        if (Status s = impl_->Audit(actor, partner, "continuity.password", customer,
                                    json{{"address", user}});
            !s.ok())
          return s;
        return true;
      })
      .status();
}

}  // namespace gw
