// The semantic rules that concern one customer (rules 3-11 of the manifest language,
// minus their cross-customer parts), run on the effective document.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gwctl/diagnostics.h"
#include "gwctl/manifests.h"
#include "gwctl/source_tree.h"
#include "gwctl/validate.h"

namespace gwctl {

struct CustomerRuleContext {
  const SourceTree* tree;  // where CSV files are read; null when there are none to read
  const ValidationLimits& limits;
  std::string gateway_host;  // normalised host of the Repository's gateway URL, if any
};

// What a customer claims that no other customer may: domains and relay sources, with
// where each was written. Checked across the repository after every customer.
struct CustomerClaims {
  std::vector<std::pair<std::string, Location>> domains;  // normalised
  std::vector<std::pair<IpRange, Location>> relay_sources;
};

// Checks `customer.effective` and fills in the customer's normalised domains,
// destinations, relay sources and users (reading its CSV files through the tree).
// Returns the number of CSV files read.
size_t CheckCustomer(CustomerManifest& customer, const CustomerRuleContext& context,
                     Diagnostics& diagnostics, CustomerClaims& claims);

// Checks the values of PartnerDefaults that have rules of their own (sizes, spam report,
// retention), so a mistake there is found even when every customer overrides it.
void CheckDefaults(const LocatedDocument& defaults, Diagnostics& diagnostics);

}  // namespace gwctl
