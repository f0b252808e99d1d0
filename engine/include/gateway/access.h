// Who may do what on the gateway: one table of actions and the roles allowed each, and
// one function every Service call asks before it reads or writes. A role acts only inside
// its scope: a partner's roles on that partner, a customer admin on its one customer.
// What lies outside a scope is answered as not found, so that no refusal confirms that
// another partner's or customer's object exists; what the role may not do inside its
// scope is answered as denied.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/service.h"
#include "gateway/status.h"

namespace gw {

enum class Action {
  kListPartners,
  kCreatePartner,
  kReadState,       // a partner's whole state (gwctl's plan)
  kReadCustomers,   // customers' settings, as stored
  kWriteCustomers,  // create, replace, delete: the manifests' work
  kReadUsers,
  kWriteUsers,
  kTakeLease,  // a partner's apply lease
  kReadAudit,
  kKeepQuarantined,  // gw-milter's one call
  kReadQuarantine,
  kReleaseQuarantined,
  kSetContinuityPassword,
  kReadDomainClaims,
  kCheckDomains,   // ask DNS now for a customer's pending claims
  kVerifyDomains,  // vouch for a claim without DNS, record checks
  kReadContinuity,
  kRunHousekeeping,  // spam report passes and retention on demand
  kManageTokens,     // mint, list and revoke the partner's scoped tokens
  kReadPersonalLists,
  kWritePersonalLists,
  kArchiveMail,  // gw-milter's: keep a delivered message in the archive
  kReadArchive,  // search, read, export and verify a customer's archive
};

// Hex SHA-256 of a bearer token, as the tokens file and the store keep it.
std::string HashToken(std::string_view token);

// A minted token is "gwt_<16 hex id>_<48 hex secret>". LooksLikeMintedToken says whether
// `bearer` has that form (not whether it is one: Service::AuthenticateMinted says that).
inline constexpr std::string_view kMintedTokenPrefix = "gwt_";
bool LooksLikeMintedToken(std::string_view bearer);

// Why a token of `role` may not name `customer` (only a customer admin names one, and it
// must), or "". The tokens file and minted tokens check the same.
std::string CustomerScopeProblem(Role role, std::string_view customer);

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);
std::string_view ActionName(Action action);

// The roles that may do `action` (the table; the README's roles section is this).
std::vector<Role> RolesAllowed(Action action);

// Ok, or NotFound (outside the actor's scope: `partner`, or `customer` for a customer
// admin) or PermissionDenied (inside its scope, not its role's). `customer` empty: the
// call is about the whole partner (a customer admin may still list, narrowed by the
// caller to its customer: see NarrowedCustomer).
Status Authorize(const Actor& actor, Action action, std::string_view partner,
                 std::string_view customer = {});

// The customer a listing by `actor` is narrowed to: its own for a customer admin, else
// `requested` as it is.
std::string NarrowedCustomer(const Actor& actor, const std::string& requested);

}  // namespace gw
