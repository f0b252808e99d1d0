// Validation of a whole partner repository: YAML, the JSON Schemas, and the semantic
// rules of the manifest language (names, domains, destinations, relay sources, users
// and CSV files, LDAP sources, content filter, lists, spam report, continuity),
// including the rules that span files. Every mistake is reported in one run.
#pragma once

#include "gateway/status.h"
#include "gwctl/diagnostics.h"
#include "gwctl/manifests.h"
#include "gwctl/secrets.h"
#include "gwctl/source.h"

namespace gwctl {

// Limits that keep a hostile or accidental input from exhausting the machine.
struct YamlLimits {
  size_t max_file_bytes = 16u << 20;  // 16 MiB
  size_t max_values = 1'000'000;      // after expanding anchors and aliases (and at most
                                      // 16 per byte of the file, plus 10,000)
  int max_depth = 64;
};

struct ValidationLimits {
  YamlLimits yaml;
  size_t max_csv_bytes = 256u << 20;  // 256 MiB
};

struct ValidationReport {
  Diagnostics diagnostics;  // sorted
  Manifests manifests;      // complete only when diagnostics has no errors
  size_t files = 0;         // manifest and CSV files read
};

// Reads and validates every manifest in `tree`; every secret reference must be one
// `secrets` allows (gwctl/secrets.h). Fails (rather than reporting diagnostics) only when
// the tree cannot be read at all.
gw::Result<ValidationReport> ValidateRepository(const SourceTree& tree,
                                                const ValidationLimits& limits = {},
                                                const SecretPolicy& secrets = {});

}  // namespace gwctl
