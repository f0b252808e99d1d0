// The semantic rules of a customer's settings, beyond what the JSON Schema can say: one
// implementation, run by gwctl on manifests (findings become file:line:column) and by
// the engine on every write through either transport (findings become a 422).
//
// Contract:
// - Rules read a document shaped like a Customer manifest ({"spec": {...}}); they never
//   throw, also on documents the schema rejected (such values are skipped, not reported
//   twice).
// - Every finding names the value by JSON pointer and carries a stable rule id
//   ("destination-duplicate"); all findings are reported, not the first.
// - Rules that need something the document does not hold take it as an argument: the
//   customer's users (continuity members), and who holds domains and relay sources
//   elsewhere (ClaimLookup).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/customer_config.h"
#include "gateway/endpoint.h"
#include "gateway/model.h"
#include "gateway/network_policy.h"

namespace gw {

struct RuleFinding {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string pointer;  // the offending value, e.g. "/spec/destinations/1"
  bool at_key = false;  // the finding is about the key at `pointer`, not its value
  std::string rule;     // stable id, e.g. "relay-source-conflict"
  // For a person. May hold "{related}" where another value is named; Text() fills it in.
  std::string message;
  std::string related;  // pointer of that other value in the same document, if any

  bool is_error() const { return severity == Severity::kError; }
  // The message with "{related}" replaced by `where(related)` (a file:line for gwctl,
  // the pointer itself for the engine).
  std::string Text(const std::function<std::string(const std::string&)>& where) const;
};

using RuleFindings = std::vector<RuleFinding>;

bool HasErrors(const RuleFindings& findings);

struct CustomerRuleOptions {
  // Normalised host names of the gateway itself: a destination naming one would loop.
  std::vector<std::string> gateway_hosts;
  // The gateway's own SMTP listeners: a destination at one of them would loop. When none
  // is known (gwctl offline), loopback port 25 is taken to be the gateway, so a customer
  // server on loopback beside a gateway on another port is allowed either way.
  std::vector<Endpoint> gateway_smtp;
  // Destinations written as internal addresses (network_policy.h) are refused unless
  // these networks allow them (rule destination-internal); nullopt: not checked (gwctl
  // offline, an embedded gateway: the partner's own machine).
  std::optional<DestinationNetworks> destination_networks;
};

struct CompiledCustomer {
  CustomerConfig config;
  // Where each of config.domains and of the hand-written config.relay.sources was written.
  std::vector<std::string> domain_pointers;
  std::vector<std::string> relay_source_pointers;
};

// Runs every rule that concerns the customer alone and returns its typed configuration.
// Findings are appended to `findings`; the config is complete only when none is an error.
CompiledCustomer CompileCustomer(const nlohmann::json& document, const CustomerRuleOptions& options,
                                 RuleFindings& findings);

// A stored customer compiled again (its settings passed the rules when written, or were
// stored before the rules existed: its findings are not asked for).
CompiledCustomer CompileStored(const Customer& customer);

// The relay sources that tell this customer apart: the hand-written ones. A named
// service's ranges are shared by everyone using that service, so they claim nothing.
std::vector<IpRange> RelayClaims(const CompiledCustomer& customer);

// The rules for the values PartnerDefaults may set (sizes, spam report, retention), so
// a mistake there is found even when every customer overrides it.
void CheckPartnerDefaults(const nlohmann::json& document, RuleFindings& findings);

// Why `text` is not a valid user address in one of `domains`, if it is not: rule
// "user-invalid" or "user-domain". Used for inline mailboxes, CSV rows, and user batches.
struct AddressProblem {
  std::string rule;
  std::string message;
};
std::optional<AddressProblem> FindAddressProblem(std::string_view text,
                                                 const std::vector<std::string>& domains);

// Continuity members must be users of the customer. `is_user` answers for a normalised
// address. Skipped for customers whose users come from a directory (known only later).
void CheckContinuityMembers(const nlohmann::json& document,
                            const std::function<bool(const std::string&)>& is_user,
                            RuleFindings& findings);

// Claims across customers: a domain belongs to one customer of the whole gateway, and
// relay sources written by hand may not overlap another customer's (the relay tells
// customers apart by source address). Named relay services are shared by design and
// are not claims.
struct ClaimHolder {
  std::string customer;
  bool same_partner = true;  // else the holder is not named: other partners are private
  std::string where;  // where the holder wrote it, for a person ("acme.yaml:4"); may be empty
};

class ClaimLookup {
 public:
  virtual ~ClaimLookup() = default;
  // The customer other than the one being checked that holds `domain`, if any.
  virtual Result<std::optional<ClaimHolder>> DomainHolder(const std::string& domain) = 0;
  // A hand-written relay source of another customer that overlaps `range`, if any, with
  // that source.
  virtual Result<std::optional<std::pair<IpRange, ClaimHolder>>> RelayOverlap(
      const IpRange& range) = 0;
};

// Checks the customer's domains and relay sources against `lookup`. Fails only when the
// lookup does.
Status CheckClaims(const CompiledCustomer& customer, ClaimLookup& lookup, RuleFindings& findings);

}  // namespace gw
