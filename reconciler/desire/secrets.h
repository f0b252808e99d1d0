// Secret references in manifests: env:NAME (an environment variable) or file:PATH
// (relative to the repository root, or absolute). Resolved values are handed to the
// gateway and never printed: errors name the reference, not the value.
#pragma once

#include <filesystem>
#include <string>

#include "gateway/status.h"

namespace gwctl {

// The value behind `reference`, with one trailing newline removed from files.
// kNotFound when the variable is unset or the file missing; kInvalidArgument for a
// malformed reference.
gw::Result<std::string> ResolveSecret(const std::string& reference,
                                      const std::filesystem::path& repository_root);

}  // namespace gwctl
