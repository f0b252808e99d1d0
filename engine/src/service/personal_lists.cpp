// Service: mailbox users' own allow and block lists.
#include <algorithm>
#include <array>

#include "gateway/domain_name.h"
#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

// Domains anyone may have an address at: allowing one whole lets every sender in.
constexpr std::array<std::string_view, 24> kPublicMailDomains = {
    "163.com",        "aol.com",     "gmail.com",  "gmx.com",     "gmx.de",    "gmx.net",
    "googlemail.com", "hotmail.com", "icloud.com", "live.com",    "mac.com",   "mail.com",
    "mail.ru",        "me.com",      "msn.com",    "outlook.com", "proton.me", "protonmail.com",
    "qq.com",         "web.de",      "yahoo.com",  "yandex.com",  "yandex.ru", "zoho.com"};

// The entry `value` stands for: a sender address or a sender domain, normalised.
Result<PersonalListEntry> EntryOf(const std::string& list, const std::string& value) {
  if (list != "allow" && list != "block")
    return Status::Invalid("the list is allow or block", "/list");
  PersonalListEntry entry;
  entry.list = list;
  if (value.find('@') != std::string::npos) {
    auto address = ParseEmailAddress(value);
    if (!address.ok()) return Status::Invalid(address.status().message(), "/value");
    entry.kind = "sender";
    entry.value = address->ToString();
  } else {
    auto domain = NormalizeDomain(value);
    if (!domain.ok()) return Status::Invalid(domain.status().message(), "/value");
    entry.kind = "senderDomain";
    entry.value = *domain;
  }
  return entry;
}

// Why `entry` may not be on an allow list, or "".
std::string HighRisk(const PersonalListEntry& entry, const CustomerConfig& config) {
  if (entry.list != "allow") return "";
  std::string domain =
      entry.kind == "sender" ? entry.value.substr(entry.value.find('@') + 1) : entry.value;
  for (const auto& own : config.domains) {
    if (IsSameOrSubdomain(domain, own)) {
      return fmt::format("{} is the customer's own domain: mail forged as it would skip filtering",
                         domain);
    }
  }
  if (entry.kind == "senderDomain" &&
      std::find(kPublicMailDomains.begin(), kPublicMailDomains.end(), entry.value) !=
          kPublicMailDomains.end()) {
    return fmt::format("anyone may send from {}: allow one address there instead", entry.value);
  }
  return "";
}

}  // namespace

// The customer's user `address` as the actor may reach it: a mailbox user only itself.
Status Service::Impl::CheckMailboxUser(const Actor& actor, const std::string& partner,
                                       const std::string& customer, const std::string& address) {
  if (actor.role == Role::kMailboxUser && address != actor.name)
    return NotFound(fmt::format("user {}", address));
  auto existing = store->UserHashOf(partner, customer, address);
  if (!existing.ok()) return existing.status();
  if (!*existing) return NotFound(fmt::format("user {} of customer '{}'", address, customer));
  return Status::Ok();
}

Result<std::string> Service::Impl::UserNamed(const std::string& partner,
                                             const std::string& customer,
                                             const std::string& address) {
  std::string named = AsciiLower(address);
  size_t at = named.rfind('@');
  if (size_t plus = named.find('+');
      plus != std::string::npos && at != std::string::npos && plus < at)
    named.erase(plus, at - plus);
  auto own = store->UserHashOf(partner, customer, named);
  if (!own.ok()) return own.status();
  if (*own) return named;
  auto aliases = store->AliasOwners(partner, customer, {named});
  if (!aliases.ok()) return aliases.status();
  if (aliases->empty()) return NotFound(fmt::format("user {}", address));
  return aliases->begin()->second;
}

Result<std::vector<PersonalListEntry>> Service::ListPersonalEntries(const Actor& actor,
                                                                    const std::string& partner,
                                                                    const std::string& customer,
                                                                    const std::string& address) {
  std::string user = AsciiLower(address);
  if (actor.role == Role::kMailboxUser) user = actor.name;
  return impl_->Read<std::vector<PersonalListEntry>>(
      [&]() -> Result<std::vector<PersonalListEntry>> {
        if (Status s = impl_->CheckPartner(actor, Action::kReadPersonalLists, partner, customer);
            !s.ok())
          return s;
        if (auto c = impl_->ExistingCustomer(partner, customer); !c.ok()) return c.status();
        if (!user.empty()) {
          if (Status s = impl_->CheckMailboxUser(actor, partner, customer, user); !s.ok()) return s;
        }
        return impl_->store->ListPersonalEntries(partner, customer, user);
      });
}

Status Service::PutPersonalEntry(const Actor& actor, const std::string& partner,
                                 const std::string& customer, const std::string& address,
                                 const std::string& list, const std::string& value) {
  auto entry = EntryOf(list, value);
  if (!entry.ok()) return entry.status();
  entry->address = AsciiLower(address);
  entry->added_at = Now();
  entry->added_by = actor.name;
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status s = impl_->CheckPartner(actor, Action::kWritePersonalLists, partner, customer);
            !s.ok())
          return s;
        auto stored = impl_->ExistingCustomer(partner, customer);
        if (!stored.ok()) return stored.status();
        CustomerConfig config = CompileStored(*stored).config;
        if (!config.self_service.personal_lists) {
          return Status(StatusCode::kFailedPrecondition,
                        fmt::format("customer '{}' keeps no personal lists "
                                    "(selfService.personalLists is false)",
                                    customer));
        }
        if (Status s = impl_->CheckMailboxUser(actor, partner, customer, entry->address); !s.ok())
          return s;
        if (std::string why = HighRisk(*entry, config); !why.empty())
          return Status::Invalid("not on an allow list: " + why, "/value");
        auto held = impl_->store->ListPersonalEntries(partner, customer, entry->address);
        if (!held.ok()) return held.status();
        bool present = std::any_of(held->begin(), held->end(), [&](const PersonalListEntry& e) {
          return e.value == entry->value;
        });
        if (!present && held->size() >= kMaxPersonalEntries) {
          return Status(StatusCode::kFailedPrecondition,
                        fmt::format("{} has {} entries, the most a user may keep", entry->address,
                                    kMaxPersonalEntries));
        }
        if (Status s = impl_->store->PutPersonalEntry(partner, customer, *entry); !s.ok()) return s;
        if (Status s = impl_->Audit(
                actor, partner, "lists.put", customer,
                json{{"address", entry->address}, {"list", entry->list}, {"value", entry->value}});
            !s.ok())
          return s;
        return true;
      })
      .status();
}

Status Service::RemovePersonalEntry(const Actor& actor, const std::string& partner,
                                    const std::string& customer, const std::string& address,
                                    const std::string& value) {
  std::string user = AsciiLower(address);
  std::string normalized = AsciiLower(value);
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status s = impl_->CheckPartner(actor, Action::kWritePersonalLists, partner, customer);
            !s.ok())
          return s;
        if (auto c = impl_->ExistingCustomer(partner, customer); !c.ok()) return c.status();
        if (Status s = impl_->CheckMailboxUser(actor, partner, customer, user); !s.ok()) return s;
        auto removed = impl_->store->RemovePersonalEntry(partner, customer, user, normalized);
        if (!removed.ok()) return removed.status();
        if (!*removed) return NotFound(fmt::format("{} on the lists of {}", normalized, user));
        if (Status s = impl_->Audit(actor, partner, "lists.remove", customer,
                                    json{{"address", user}, {"value", normalized}});
            !s.ok())
          return s;
        return true;
      })
      .status();
}

}  // namespace gw
