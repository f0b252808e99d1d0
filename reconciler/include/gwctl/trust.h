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

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gwctl/manifests.h"
#include "gwctl/source.h"

namespace gwctl {

// gwctl.yaml's spec.gateway: where the gateway is, and where its token comes from.
struct RepositoryGateway {
  std::string url;
  std::string token_ref;
  bool operator==(const RepositoryGateway&) const = default;
};
// From a Repository document (null: none, so nothing is set).
RepositoryGateway RepositoryGatewayOf(const nlohmann::json& repository);

// The trusted configuration of an untrusted run, as the base revision has it. A
// customer whose file reads the same at both ends is trusted as it stands; otherwise what
// counts is the base's copy of it, read from the base's files (their YAML only: a base
// that does not validate still counts for what it does say). Files are compared by what
// they read as, not by git's list of changed paths, so a symbolic link whose target
// changed is a change. Without a base (--untrusted alone) nothing of the repository is
// trusted. Not for concurrent use (it reads the base as it is asked).
class TrustedBase {
 public:
  TrustedBase() = default;  // no base

  // The base `base` of the head `head`, where `changed` lists the paths that differ
  // (gwctl.yaml and these are read at once, so a customer that moved between files is
  // found). Both trees must outlive it.
  TrustedBase(const SourceTree& base, const SourceTree& head, const std::set<std::string>& changed);

  const RepositoryGateway& gateway() const { return gateway_; }

  // True when the base has `customer` with a `kind` directory source of exactly these
  // settings (an object of its spec.users.<kind>).
  bool HasDirectorySource(const CustomerManifest& customer, const std::string& kind,
                          const nlohmann::json& source) const;

  // True when the base has `reference` at `pointer` (into the customer's spec, e.g.
  // /panelLogin/passwordRef).
  bool HasSecretReference(const CustomerManifest& customer, const std::string& pointer,
                          const std::string& reference) const;

 private:
  struct Customer {
    std::map<std::string, std::vector<nlohmann::json>> directory_sources;  // by kind
    std::map<std::string, std::string> secret_references;                  // by pointer
  };
  // Whether the customer's file reads the same at both ends; if not, its base copy has
  // been read into customers_.
  bool SameAtBoth(const CustomerManifest& customer) const;
  // True when there is a base and the customer's file is the same there, or its base copy
  // `holds` what is asked.
  bool Trusts(const CustomerManifest& customer,
              const std::function<bool(const Customer&)>& holds) const;
  void ReadBaseFile(const std::string& file) const;

  const SourceTree* base_ = nullptr;
  const SourceTree* head_ = nullptr;
  std::set<std::string> changed_;
  RepositoryGateway gateway_;
  mutable std::map<std::string, bool> same_;           // by file
  mutable std::set<std::string> read_;                 // base files read
  mutable std::map<std::string, Customer> customers_;  // read at the base, by name
};

}  // namespace gwctl
