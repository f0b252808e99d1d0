// Secrets: the references manifests use instead of secret values, and the one place
// they are turned into values. A manifest names a secret; the operator decides which
// secrets a manifest may name, so a manifest (from a pull request, say) can never reach
// gwctl's own credentials or any other file or variable of the machine it runs on.
//
// Contract:
// - `env:NAME` reads the environment variable NAME, only when NAME starts with the
//   policy's prefix (default GWCTL_SECRET_) and is not one of gwctl's own credentials
//   (GWCTL_TOKEN, GWCTL_GIT_TOKEN, GWCTL_WEBHOOK_SECRET), whatever the prefix.
// - `file:PATH` reads PATH inside the policy's secrets directory: a relative path with no
//   "." or ".." segment, resolved beneath the directory (a symbolic link may point only
//   within it), a regular file of at most kMaxSecretBytes. With no secrets directory,
//   file: references cannot be resolved.
// - The form of a reference is checked by validation (CheckSecretReference, at the
//   manifest line); resolving checks it again, so no caller can skip the rules.
// - Values are never printed: errors name the reference, never what it holds.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/status.h"

namespace gwctl {

inline constexpr size_t kMaxSecretBytes = 64 * 1024;

// What manifests may name, set by the operator (flags and environment, never manifests).
struct SecretPolicy {
  std::string env_prefix = "GWCTL_SECRET_";
  std::filesystem::path secrets_dir;  // empty: no file: secrets

  // GWCTL_SECRET_ENV_PREFIX and GWCTL_SECRETS_DIR, where set (an empty prefix is
  // refused: kInvalidArgument).
  static gw::Result<SecretPolicy> FromEnvironment();
};

// Why `reference` may not be used under `policy` (one sentence for a diagnostic), or
// nothing when it may. Checks the form only; the secret need not exist.
std::optional<std::string> CheckSecretReference(const std::string& reference,
                                                const SecretPolicy& policy);

// The value behind `reference`, with one trailing newline removed from files.
// kInvalidArgument: the reference breaks the policy; kNotFound: the variable is unset or
// the file missing; kFailedPrecondition: no secrets directory, not a regular file, or
// larger than kMaxSecretBytes.
gw::Result<std::string> ResolveSecret(const std::string& reference, const SecretPolicy& policy);

// Every secret reference in `document` (a manifest's spec): each string value of a key
// named "...Ref", by its JSON pointer ("/panelLogin/passwordRef").
std::map<std::string, std::string> SecretReferencesIn(const nlohmann::json& document);

}  // namespace gwctl
