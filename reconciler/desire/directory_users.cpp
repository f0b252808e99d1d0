#include "directory_users.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "cloud_directory.h"
#include "gateway/domain_name.h"
#include "google_workspace_users.h"
#include "gwctl/secrets.h"
#include "microsoft365_users.h"
#include "text.h"

namespace gwctl {

namespace {

constexpr int64_t kAccountDisabled = 0x2;  // userAccountControl ACCOUNTDISABLE

bool Disabled(const DirectoryEntry& entry) {
  const auto* flags = entry.Values("userAccountControl");
  if (!flags || flags->empty()) return false;
  try {
    return (std::stoll(flags->front()) & kAccountDisabled) != 0;
  } catch (const std::exception&) {
    return false;
  }
}

std::string FirstValue(const DirectoryEntry& entry, const std::string& attribute) {
  const auto* values = entry.Values(attribute);
  return values && !values->empty() ? values->front() : "";
}

}  // namespace

std::string DirectoryMapping::SkippedSummary() const {
  std::vector<std::string> parts;
  if (disabled) parts.push_back(fmt::format("{} disabled accounts", disabled));
  if (without_address)
    parts.push_back(fmt::format("{} entries without an address", without_address));
  if (!outside_domains.empty()) {
    parts.push_back(WithExamples(outside_domains.size(), "addresses outside the customer's domains",
                                 outside_domains));
  }
  if (!invalid.empty()) parts.push_back(WithExamples(invalid.size(), "invalid addresses", invalid));
  if (!duplicates.empty()) {
    parts.push_back(
        WithExamples(duplicates.size(), "addresses claimed by an earlier entry", duplicates));
  }
  if (parts.empty()) return "";
  return fmt::format("skipped {}", fmt::join(parts, "; "));
}

DirectoryMapping MapDirectoryEntries(const std::vector<DirectoryEntry>& entries,
                                     const LdapSource& source,
                                     const std::set<std::string>& customer_domains) {
  DirectoryMapping mapping;
  std::unordered_set<std::string> taken;  // addresses and aliases given out so far
  const DirectoryAttributes& names = source.attributes;
  for (const DirectoryEntry& entry : entries) {
    if (source.directory == DirectoryKind::kActiveDirectory && Disabled(entry)) {
      ++mapping.disabled;
      continue;
    }
    // Candidates in order of precedence: the primary first.
    std::vector<std::string> candidates;
    if (const auto* mail = entry.Values(names.address)) candidates = *mail;
    if (!names.aliases.empty() && names.aliases != names.address) {
      if (const auto* values = entry.Values(names.aliases)) {
        for (const auto& value : *values) {
          auto proxy = ParseProxyAddress(value);
          if (!proxy) continue;
          if (proxy->primary) {
            candidates.insert(candidates.begin(), proxy->address);
          } else {
            candidates.push_back(proxy->address);
          }
        }
      }
    }
    if (candidates.empty()) {
      ++mapping.without_address;
      continue;
    }
    gw::User user;
    user.source = "ldap";
    user.first_name = FirstValue(entry, names.first_name);
    user.last_name = FirstValue(entry, names.last_name);
    // A value that is not a yes/no leaves the user without continuity rather than failing
    // the whole directory over one odd entry.
    if (!names.continuity.empty()) {
      user.continuity = ParseYesNo(FirstValue(entry, names.continuity)).value_or(false);
    }
    std::set<std::string> aliases;
    for (size_t i = 0; i < candidates.size(); ++i) {
      auto parsed = gw::ParseEmailAddress(candidates[i]);
      if (!parsed.ok()) {
        mapping.invalid.push_back(fmt::format("{} ({})", candidates[i], entry.dn));
        if (i == 0) break;  // without its primary address the entry is not imported
        continue;
      }
      std::string address = parsed->ToString();
      if (!customer_domains.count(parsed->domain)) {
        mapping.outside_domains.push_back(address);
        if (i == 0) break;
        continue;
      }
      if (i == 0) {
        if (taken.count(address)) {
          mapping.duplicates.push_back(address);
          break;
        }
        user.address = address;
      } else if (address != user.address && !aliases.count(address)) {
        if (taken.count(address)) {
          mapping.duplicates.push_back(address);
        } else {
          aliases.insert(address);
        }
      }
    }
    if (user.address.empty()) continue;
    user.aliases.assign(aliases.begin(), aliases.end());
    taken.insert(user.address);
    taken.insert(aliases.begin(), aliases.end());
    mapping.users.push_back(std::move(user));
  }
  std::sort(mapping.users.begin(), mapping.users.end(),
            [](const gw::User& a, const gw::User& b) { return a.address < b.address; });
  return mapping;
}

std::vector<UserDirectory> UserDirectories(const DirectoryReading& reading, bool read) {
  return {{"ldap", "url", read ? LdapUserResolver(reading.secrets) : nullptr},
          {"microsoft365", "tenant", read ? Microsoft365UserResolver(reading) : nullptr},
          {"googleWorkspace", "adminEmail", read ? GoogleWorkspaceUserResolver(reading) : nullptr}};
}

UserSourceResolver LdapUserResolver(SecretPolicy secrets) {
  return [secrets =
              std::move(secrets)](const DirectoryRequest& request) -> gw::Result<DirectoryUsers> {
    LdapSource source = LdapSource::FromJson(*request.source);
    std::string password;
    if (!source.bind_dn.empty()) {
      auto secret = ResolveSecret(source.bind_password_ref, secrets);
      if (!secret.ok()) {
        return gw::Status(secret.status().code(), fmt::format("{}: bindPasswordRef: {}", source.url,
                                                              secret.status().message()));
      }
      password = std::move(*secret);
    }
    auto found = SearchDirectory(source, password);
    if (!found.ok()) return found.status();
    DirectoryMapping mapping = MapDirectoryEntries(found->entries, source, request.domains);
    // Zero users is far likelier a wrong filter or base than an empty company.
    int64_t minimum = source.min_users.value_or(1);
    if (static_cast<int64_t>(mapping.users.size()) < minimum) {
      std::string skipped = mapping.SkippedSummary();
      return gw::Status(
          gw::StatusCode::kFailedPrecondition,
          fmt::format("{}: {} users from {} entries, fewer than minUsers {}{}: treated as an "
                      "outage, not as deletions{}",
                      source.url, mapping.users.size(), found->entries.size(), minimum,
                      source.min_users ? "" : " (the default)",
                      skipped.empty() ? "" : "; " + skipped));
    }
    DirectoryUsers out;
    out.users = std::move(mapping.users);
    out.detail = mapping.SkippedSummary();
    if (found->referrals_skipped) {
      if (!out.detail.empty()) out.detail += "; ";
      out.detail += fmt::format("{} referrals not followed", found->referrals_skipped);
    }
    return out;
  };
}

}  // namespace gwctl
