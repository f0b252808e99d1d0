// Export: turns a customer held by the gateway back into repository files, so customers
// made by hand can be brought under git without retyping (then `apply --adopt`).
//
// - One manifest per customer (customers/NAME.yaml); its users inline up to
//   `inline_users_max`, else in customers/NAME.users.csv. Users the gateway discovered
//   or read from a directory are not written: their sources are.
// - With a defaults spec, values equal to the defaults are left out (the merge puts them
//   back); a default the customer does not have is named in a comment, as the manifest
//   cannot say "unset".
// - Keys in a stable order. Secrets are never exported, only references to fill in,
//   with a comment saying so.
// - Planning the exported files against the same gateway shows no change.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/model.h"

namespace gwctl {

struct ExportOptions {
  size_t inline_users_max = 50;
  const nlohmann::json* defaults_spec = nullptr;    // PartnerDefaults' spec, if any
  std::string origin;                               // named in the header comment
  std::string secret_env_prefix = "GWCTL_SECRET_";  // of the env: references written
};

struct ExportedFile {
  std::string path;  // relative to the repository root
  std::string content;
};

std::vector<ExportedFile> ExportCustomer(const gw::Customer& customer,
                                         const std::vector<gw::User>& users,
                                         const ExportOptions& options);

// Block-style YAML for `value`, keys in the order `KeyOrder` gives; `comments` maps JSON
// pointers to a comment written after that value.
std::string ToYaml(const nlohmann::json& value,
                   const std::map<std::string, std::string>& comments = {});

}  // namespace gwctl
