// gwctl's side of the customer rules: the engine's rules (gateway/customer_rules.h) run
// on the effective manifest with their findings placed at file:line:column, plus the
// rules of users, which only the repository has (inline mailboxes and CSV files).
#pragma once

#include "gateway/customer_rules.h"
#include "gwctl/diagnostics.h"
#include "gwctl/manifests.h"
#include "gwctl/source.h"
#include "gwctl/validate.h"

namespace gwctl {

struct CustomerRuleContext {
  const SourceTree* tree;  // where CSV files are read
  const ValidationLimits& limits;
  const SecretPolicy& secrets;  // the references manifests may use
  // The self-loops known offline: the host of the Repository's gateway URL, if any.
  gw::CustomerRuleOptions rule_options;
};

// Compiles `customer.effective` into `customer.compiled` and reads its users (CSV files
// through the tree) into `customer.users`. Returns the number of CSV files read.
size_t CheckCustomer(CustomerManifest& customer, const CustomerRuleContext& context,
                     Diagnostics& diagnostics);

// Checks the values of PartnerDefaults that have rules of their own.
void CheckDefaults(const LocatedDocument& defaults, Diagnostics& diagnostics);

// Reports each secret reference in `document` (a manifest whose spec holds them) that
// `secrets` does not allow, at its line.
void CheckSecretReferences(const LocatedDocument& document, const SecretPolicy& secrets,
                           Diagnostics& diagnostics);

// Places the engine's findings on `document`: each at the location of its pointer, and
// a related value named by file and line.
void AddFindings(const LocatedDocument& document, const gw::RuleFindings& findings,
                 Diagnostics& diagnostics);

}  // namespace gwctl
