// Plan: the changes that would make the gateway match the repository, as data (octoDNS
// style): per customer a create, update, replacement or delete, with field-level
// before/after values, user additions/changes/removals, and the manifest line that
// caused each change. Computing a plan writes nothing.
//
// Ownership: a customer this repository manages carries owner "gwctl:<partner>". A
// gateway customer with another owner is never changed or deleted: a manifest naming
// it is a conflict. Users the gateway discovered itself, and users of a directory
// source that could not be read, are never removed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/client.h"
#include "gateway/model.h"
#include "gwctl/desired_state.h"
#include "gwctl/diagnostics.h"

namespace gwctl {

enum class ChangeKind { kCreate, kUpdate, kReplace, kDelete, kConflict };
const char* ChangeKindName(ChangeKind kind);

struct FieldChange {
  std::string path;       // "filtering.contentFilter.maxMessageSize"
  nlohmann::json before;  // absent: null
  nlohmann::json after;
  bool secret = false;     // values are never shown; only that it changed
  bool immutable = false;  // domains.primary, region: forces a replacement
  Location source;         // where the new value was written (defaults.yaml or the customer's file)
};

struct UserChanges {
  std::vector<gw::User> add;
  std::vector<gw::User> change;
  std::vector<std::string> remove;
  size_t kept = 0;  // on the gateway, not in the manifests, but not ours to remove
  bool empty() const { return add.empty() && change.empty() && remove.empty(); }
};

struct CustomerChange {
  ChangeKind kind = ChangeKind::kUpdate;
  std::string customer;
  std::string file;              // manifest file ("" for deletes)
  int64_t observed_version = 0;  // the version the change was computed against (0: absent)
  std::string observed_owner;
  std::vector<FieldChange> fields;
  UserChanges users;
  gw::CustomerWrite write;               // for create, update, replace: the document to write
  std::string detail;                    // for a conflict: why adoption was not possible
  size_t domains = 0, destinations = 0;  // for the summary of a create
  size_t desired_users = 0;
};

struct SafetyLimits {
  int max_delete_percent = 30;
  int max_update_percent = 50;
  int min_existing = 10;
  std::vector<std::string> protect;  // customers | domains | users
  bool prune = true;                 // prune: owned
};

// Where a planned customer's users came from, for customers with a directory source.
struct CustomerUserSources {
  std::string customer;
  std::vector<UserSourceReport> sources;
};

struct Plan {
  std::string partner;
  std::string gateway;              // where it was computed against
  int64_t observed_revision = 0;    // the gateway's revision of the partner then
  std::string observed_checksum;    // gw::StateChecksum of the state it was computed against
  std::string repository_revision;  // the commit the manifests were read at (with --repo)
  std::string base_revision;        // with --since: the commit the change is compared with
  std::map<std::string, size_t> gateway_revisions;  // applied revision -> customers that carry it
  size_t owned_customers = 0;                       // existing customers this repository manages
  std::vector<CustomerChange> changes;  // creates, updates and replacements by name, then deletes
  std::vector<std::string> refusals;    // why the safety checks refuse it (empty: allowed)
  std::vector<std::string> warnings;    // a failed directory source is one
  std::vector<CustomerUserSources> user_sources;
  // Claims of the manifests' customers still waiting for their TXT record: the gateway
  // takes no mail for these domains yet. Not changes: they need DNS, not an apply.
  std::vector<gw::DomainClaim> pending_domains;

  bool empty() const { return changes.empty(); }
  size_t Count(ChangeKind kind) const;
};

struct PlanOptions {
  SafetyLimits safety;
  bool force = false;  // go past safety limits and replacements
  std::optional<std::set<std::string>>
      only;  // when set, plan only these customers (and deletes of them)
  // Take ownership of customers without an owner that match their manifests exactly
  // (an update of `owner` alone); any difference leaves them a conflict.
  bool adopt = false;
};

// Reads the gateway (one snapshot, plus the users of customers whose users differ) and
// diffs it against `desired`. Fails only when the gateway cannot be read.
gw::Result<Plan> ComputePlan(const DesiredState& desired, gw::GatewayClient& gateway,
                             const PlanOptions& options);

// The limits written in the Repository manifest (defaults where unset).
SafetyLimits SafetyFromRepository(const LocatedDocument* repository);

// The plan for one customer against what the gateway holds now (for re-planning after
// a version conflict). `observed` is null when the gateway has no such customer.
gw::Result<CustomerChange> PlanCustomer(const DesiredCustomer& desired,
                                        const gw::Customer* observed, const std::string& owner,
                                        gw::GatewayClient& gateway, const std::string& partner,
                                        bool adopt = false);

}  // namespace gwctl
