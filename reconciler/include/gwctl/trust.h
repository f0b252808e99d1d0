// Trust: which of a repository's settings may decide where a credential goes.
//
// A pull request is written by whoever opened it, yet its plan runs in CI next to the
// partner's credentials. So gwctl splits what it reads in two:
// - Trusted configuration decides where a credential goes: the gateway's URL and token
//   reference (gwctl.yaml's spec.gateway), every secret reference, and every setting of
//   a directory source (its URL, bind DN, TLS settings, password reference, and the rest
//   of it too: its search settings choose what the plan would print of the directory).
//   It comes from the command line, the environment, and, in an untrusted run, from the
//   base revision only.
// - Everything else is desired state: shown in the plan, never trusted with anything.
//
// A trusted run (the default; the loop on the default branch, apply after merge) takes
// the revision it reads as trusted. An untrusted run (`gwctl plan --since BASE --ref
// HEAD`, or --untrusted) reads the head's manifests but uses trusted configuration only
// as the base revision has it (TrustedBase): a directory source that is new or differs
// from the base is not contacted, a secret reference that is new or differs is not read,
// and the head's spec.gateway is ignored; each is shown in the plan instead.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/status.h"
#include "gwctl/manifests.h"
#include "gwctl/source.h"

namespace gwctl {

// gwctl.yaml's spec.gateway: where the gateway is, and where its token comes from.
struct RepositoryGateway {
  std::string url;
  std::string token_ref;
  bool operator==(const RepositoryGateway&) const = default;
};
RepositoryGateway RepositoryGatewayOf(const LocatedDocument* repository);

// The trusted configuration of an untrusted run, read from the base revision's
// manifests (their YAML only: a base that does not validate still counts for what it
// does say). Empty when there is no base: then nothing of the repository is trusted.
class TrustedBase {
 public:
  TrustedBase() = default;

  // Reads `files` of `base` (all of its manifests when nullopt). Files that cannot be
  // read or parsed add nothing. Fails only when the tree cannot be listed.
  static gw::Result<TrustedBase> Read(const SourceTree& base,
                                      const std::optional<std::set<std::string>>& files);

  const RepositoryGateway& gateway() const { return gateway_; }

  // True when the base's customer `customer` has a `kind` directory source with exactly
  // these settings.
  bool HasDirectorySource(const std::string& customer, const std::string& kind,
                          const nlohmann::json& source) const;

  // True when the base's customer `customer` has `reference` at `pointer` (a JSON pointer
  // into its spec, e.g. /panelLogin/passwordRef).
  bool HasSecretReference(const std::string& customer, const std::string& pointer,
                          const std::string& reference) const;

 private:
  struct Customer {
    std::map<std::string, std::vector<nlohmann::json>> directory_sources;  // by kind
    std::map<std::string, std::string> secret_references;                  // by pointer
  };
  RepositoryGateway gateway_;
  std::map<std::string, Customer> customers_;
};

}  // namespace gwctl
