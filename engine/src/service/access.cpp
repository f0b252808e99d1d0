#include "gateway/access.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <openssl/sha.h>

namespace gw {

namespace {

using enum Role;

struct Permission {
  Action action;
  std::string_view name;
  std::vector<Role> roles;  // besides the operator, who may do everything
};

// The table. A customer admin's rows act only on its own customer; what the manifests
// decide (customers' settings, users, the lease) stays with the partner's admins.
const std::vector<Permission>& Table() {
  static const std::vector<Permission> table = {
      {Action::kListPartners, "partners.list", {}},
      {Action::kCreatePartner, "partners.create", {}},
      {Action::kReadState, "state.read", {kPartnerAdmin, kTechnician, kReadOnly}},
      {Action::kReadCustomers,
       "customers.read",
       {kPartnerAdmin, kTechnician, kReadOnly, kCustomerAdmin}},
      {Action::kWriteCustomers, "customers.write", {kPartnerAdmin, kTechnician}},
      {Action::kReadUsers, "users.read", {kPartnerAdmin, kTechnician, kReadOnly, kCustomerAdmin}},
      {Action::kWriteUsers, "users.write", {kPartnerAdmin, kTechnician}},
      {Action::kTakeLease, "lease.take", {kPartnerAdmin, kTechnician}},
      {Action::kReadAudit, "audit.read", {kPartnerAdmin, kTechnician, kReadOnly}},
      {Action::kKeepQuarantined, "quarantine.keep", {kFilter}},
      {Action::kReadQuarantine,
       "quarantine.read",
       {kPartnerAdmin, kTechnician, kReadOnly, kCustomerAdmin}},
      {Action::kReleaseQuarantined,
       "quarantine.release",
       {kPartnerAdmin, kTechnician, kCustomerAdmin}},
      {Action::kSetContinuityPassword,
       "continuity.password",
       {kPartnerAdmin, kTechnician, kCustomerAdmin}},
      {Action::kReadDomainClaims,
       "domains.read",
       {kPartnerAdmin, kTechnician, kReadOnly, kCustomerAdmin}},
      {Action::kCheckDomains, "domains.check", {kPartnerAdmin, kTechnician, kCustomerAdmin}},
      {Action::kVerifyDomains, "domains.verify", {}},
      {Action::kReadContinuity,
       "continuity.read",
       {kPartnerAdmin, kTechnician, kReadOnly, kCustomerAdmin}},
      {Action::kRunHousekeeping, "housekeeping.run", {}},
      {Action::kManageTokens, "tokens.manage", {kPartnerAdmin}},
      {Action::kReadPersonalLists,
       "lists.read",
       {kPartnerAdmin, kTechnician, kReadOnly, kCustomerAdmin, kMailboxUser}},
      {Action::kWritePersonalLists,
       "lists.write",
       {kPartnerAdmin, kTechnician, kCustomerAdmin, kMailboxUser}},
      {Action::kArchiveMail, "archive.keep", {kFilter}},
      // Archived mail is everyone's mail: not for technicians or read-only tokens.
      {Action::kReadArchive, "archive.read", {kPartnerAdmin, kCustomerAdmin}},
  };
  return table;
}

const Permission& Find(Action action) {
  const auto& table = Table();
  return *std::find_if(table.begin(), table.end(),
                       [&](const Permission& p) { return p.action == action; });
}

constexpr std::array<std::pair<Role, std::string_view>, 7> kRoleNames = {{
    {kOperator, "operator"},
    {kFilter, "filter"},
    {kPartnerAdmin, "admin"},
    {kTechnician, "technician"},
    {kReadOnly, "read-only"},
    {kCustomerAdmin, "customer-admin"},
    {kMailboxUser, "mailbox-user"},
}};

}  // namespace

std::string HashToken(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  std::string hex;
  for (unsigned char byte : digest) hex += fmt::format("{:02x}", byte);
  return hex;
}

bool LooksLikeMintedToken(std::string_view bearer) {
  auto hex = [](std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  const size_t id = kMintedTokenPrefix.size(), secret = id + 16 + 1;
  return bearer.size() == secret + 48 && bearer.substr(0, id) == kMintedTokenPrefix &&
         bearer[secret - 1] == '_' && hex(bearer.substr(id, 16)) && hex(bearer.substr(secret));
}

std::string CustomerScopeProblem(Role role, std::string_view customer) {
  if ((role == kCustomerAdmin) == !customer.empty()) return "";
  return customer.empty() ? "a customer-admin token needs a customer"
                          : "only a customer-admin token has a customer";
}

std::string_view RoleName(Role role) {
  for (const auto& [known, name] : kRoleNames)
    if (known == role) return name;
  return "?";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const auto& [role, known] : kRoleNames)
    if (known == name) return role;
  return std::nullopt;
}

std::string_view ActionName(Action action) {
  return Find(action).name;
}

std::vector<Role> RolesAllowed(Action action) {
  std::vector<Role> roles = {kOperator};
  const auto& more = Find(action).roles;
  roles.insert(roles.end(), more.begin(), more.end());
  return roles;
}

Status Authorize(const Actor& actor, Action action, std::string_view partner,
                 std::string_view customer) {
  if (actor.role == kOperator) return Status::Ok();
  const Permission& permission = Find(action);
  bool allowed = std::find(permission.roles.begin(), permission.roles.end(), actor.role) !=
                 permission.roles.end();
  // The filter's one action is on any partner; every other role lives in one partner.
  if (actor.role == kFilter) {
    if (allowed) return Status::Ok();
    return Status(StatusCode::kPermissionDenied,
                  "the gateway's filter only keeps messages in quarantine");
  }
  if (partner.empty()) {
    return Status(StatusCode::kPermissionDenied,
                  fmt::format("only an operator may {} for every partner", permission.name));
  }
  if (actor.partner != partner)
    return Status(StatusCode::kNotFound, fmt::format("partner '{}' not found", partner));
  if ((actor.role == kCustomerAdmin || actor.role == kMailboxUser) && !customer.empty() &&
      customer != actor.customer)
    return Status(StatusCode::kNotFound, fmt::format("customer '{}' not found", customer));
  if (!allowed) {
    return Status(StatusCode::kPermissionDenied,
                  fmt::format("a {} token may not {} ({})", RoleName(actor.role), permission.name,
                              actor.name));
  }
  return Status::Ok();
}

std::string NarrowedCustomer(const Actor& actor, const std::string& requested) {
  return actor.role == kCustomerAdmin || actor.role == kMailboxUser ? actor.customer : requested;
}

}  // namespace gw
