#include "gateway/continuity.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "gateway/rfc3339.h"

namespace gw {

bool InContinuityScope(const MailCustomer& customer, const std::string& user) {
  const ContinuityPolicy& policy = customer.config.continuity;
  if (!policy.enabled) return false;
  return policy.all_users ||
         std::find(policy.members.begin(), policy.members.end(), user) != policy.members.end();
}

bool MayUseContinuity(const MailCustomer& customer, const std::string& user) {
  return InContinuityScope(customer, user) && customer.continuity_activated.count(user) > 0;
}

std::string ContinuityRouting::TransportOf(const MailCustomer& customer) const {
  if (!customer.config.continuity.enabled || !Active(customer.partner, customer.name))
    return customer.transport;
  return fmt::format("smtp:[{}]:{}", listener_.host, listener_.port);
}

bool ContinuityRouting::Active(const std::string& partner, const std::string& customer) const {
  std::lock_guard lock(mutex_);
  return active_.count({partner, customer}) > 0;
}

bool ContinuityRouting::Enter(const std::string& partner, const std::string& customer,
                              std::string reason, std::string since) {
  std::lock_guard lock(mutex_);
  auto [it, added] = active_.try_emplace({partner, customer});
  if (added) {
    it->second.partner = partner;
    it->second.customer = customer;
    it->second.since =
        since.empty() ? FormatRfc3339(std::chrono::system_clock::now()) : std::move(since);
  }
  it->second.reason = std::move(reason);
  return added;
}

bool ContinuityRouting::Leave(const std::string& partner, const std::string& customer) {
  std::lock_guard lock(mutex_);
  return active_.erase({partner, customer}) > 0;
}

std::vector<ContinuityEntry> ContinuityRouting::Entries() const {
  std::lock_guard lock(mutex_);
  std::vector<ContinuityEntry> entries;
  for (const auto& [key, entry] : active_) entries.push_back(entry);
  return entries;
}

}  // namespace gw
