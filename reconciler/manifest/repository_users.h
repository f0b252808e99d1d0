// The users a repository itself holds: a customer's inline mailboxes and CSV files.
// They are read while validating (a broken CSV row is a validation error at its line
// and column), unlike directory users (directory_users.h), which need the network and
// are read only when planning.
#pragma once

#include <cstddef>

#include "gwctl/diagnostics.h"
#include "gwctl/manifests.h"
#include "gwctl/source.h"
#include "gwctl/validate.h"

namespace gwctl {

// Reads `customer.effective`'s users into `customer.users` (sorted by address, one per
// address; an inline mailbox wins over a CSV row of the same address), CSV files
// through `tree`. Each mistake is reported at its entry, row or field; the rest are
// still read. Returns the number of CSV files read.
size_t ReadRepositoryUsers(CustomerManifest& customer, const SourceTree& tree,
                           const ValidationLimits& limits, Diagnostics& diagnostics);

}  // namespace gwctl
