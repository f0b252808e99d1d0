#include "gwctl/validate.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "customer_rules.h"
#include "gateway/destination.h"
#include "gateway/domain_name.h"
#include "gateway/json_cursor.h"
#include "gateway/schema.h"
#include "gwctl/mail_trace.h"
#include "parallel.h"
#include "yaml_documents.h"

namespace gwctl {

using gw::IpRange;
using gw::IsSameOrSubdomain;
using gw::NormalizeDomain;
using gw::ParseEmailAddress;

namespace {

using gw::SchemaSet;

const std::map<std::string, std::string>& KindSchemas() {
  static const std::map<std::string, std::string> schemas = {
      {"Repository", "repository.schema.json"},
      {"PartnerDefaults", "partner-defaults.schema.json"},
      {"Customer", "customer.schema.json"},
      {"MailTest", "mail-test.schema.json"}};
  return schemas;
}

// Rule 1 (shape): the envelope, then the kind's schema. Returns the kind when known.
std::string CheckShape(const LocatedDocument& document, Diagnostics& diagnostics) {
  JsonCursor root = JsonCursor::Root(document.value());
  std::string kind = root["kind"].string_or("");
  auto schema = KindSchemas().find(kind);
  const bool known = root.is_object() && schema != KindSchemas().end();
  std::string ref = known ? schema->second : "manifest.schema.json";
  for (const auto& violation : SchemaSet::Builtin().Validate(ref, document.value())) {
    std::string message = violation.message;
    if (violation.pointer.empty() && !root.is_object()) {
      message = "a manifest must be a mapping with apiVersion, kind, metadata and spec";
    }
    diagnostics.Error(document.LocationOf(violation.pointer, violation.at_key), "schema", message);
  }
  return known ? kind : "";
}

struct Document {
  LocatedDocument located;
  std::string kind;
  std::string name;
};

// Rule 2: names unique per kind; exactly one Repository; at most one PartnerDefaults.
// `gwctl_yaml_failed`: gwctl.yaml has errors already, so its Repository may be there.
void CheckNames(const std::vector<Document*>& documents, bool gwctl_yaml_failed,
                Diagnostics& diagnostics) {
  std::map<std::pair<std::string, std::string>, const Document*> seen;
  const Document* repository = nullptr;
  const Document* defaults = nullptr;
  for (const Document* d : documents) {
    JsonCursor name = JsonCursor::Root(d->located.value())["metadata"]["name"];
    Location at = d->located.LocationOf(name.pointer());
    if (d->kind == "Repository") {
      if (repository) {
        diagnostics.Error(
            at, "repository-count",
            fmt::format("a second Repository document; the repository is already defined at {}",
                        FileAndLine(repository->located.LocationOf(""))));
        continue;
      }
      repository = d;
    }
    if (d->kind == "PartnerDefaults") {
      if (defaults) {
        diagnostics.Error(
            at, "defaults-count",
            fmt::format("a second PartnerDefaults document; defaults are already defined at {}",
                        FileAndLine(defaults->located.LocationOf(""))));
        continue;
      }
      defaults = d;
    }
    if (d->name.empty()) continue;
    auto [it, inserted] = seen.emplace(std::make_pair(d->kind, d->name), d);
    if (!inserted) {
      diagnostics.Error(at, "name-duplicate",
                        fmt::format("{} '{}' is already defined at {}", d->kind, d->name,
                                    FileAndLine(it->second->located.LocationOf("/metadata/name"))));
    }
  }
  if (!repository && !gwctl_yaml_failed) {
    diagnostics.Error(
        {"gwctl.yaml", 0, 0}, "repository-count",
        "no Repository document found: a repository needs a gwctl.yaml with kind: Repository");
  }
}

std::string GatewayHost(const LocatedDocument* repository) {
  if (!repository) return {};
  std::string url = JsonCursor::Root(repository->value())["spec"]["gateway"]["url"].string_or("");
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  std::string authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find('/'));
  if (!authority.empty() && authority.front() == '[') {
    authority = authority.substr(1, authority.find(']') - 1);
  } else {
    authority = authority.substr(0, authority.find(':'));
  }
  auto host = gw::NormalizeHost(authority);
  return host.ok() ? *host : authority;
}

// Who holds what across the repository, for the engine's claim rules: the first customer
// (in repository order) to write a domain or relay source holds it, so of two customers
// that clash, the second is the one reported.
class RepositoryClaims : public gw::ClaimLookup {
 public:
  explicit RepositoryClaims(const std::vector<CustomerManifest>& customers)
      : customers_(customers) {
    for (size_t c = 0; c < customers.size(); ++c) {
      const gw::CompiledCustomer& compiled = customers[c].compiled;
      for (size_t i = 0; i < compiled.domain_pointers.size(); ++i)
        domains_.emplace(compiled.config.domains[i], Claim{c, compiled.domain_pointers[i]});
      std::vector<IpRange> relay_claims = gw::RelayClaims(compiled);
      for (size_t i = 0; i < relay_claims.size(); ++i)
        relay_sources_[relay_claims[i]].push_back(Claim{c, compiled.relay_source_pointers[i]});
    }
  }

  void CheckFor(size_t customer) { current_ = customer; }

  gw::Result<std::optional<gw::ClaimHolder>> DomainHolder(const std::string& domain) override {
    auto it = domains_.find(domain);
    if (it == domains_.end() || it->second.customer == current_)
      return std::optional<gw::ClaimHolder>();
    return std::optional<gw::ClaimHolder>(Holder(it->second));
  }

  gw::Result<std::optional<std::pair<IpRange, gw::ClaimHolder>>> RelayOverlap(
      const IpRange& range) override {
    // CIDR blocks nest or are apart: an overlapping block contains this one (one of
    // its supernets) or lies inside it (sorted right after it).
    for (int prefix = 0; prefix <= range.prefix_length(); ++prefix) {
      auto it = relay_sources_.find(range.Truncated(prefix));
      if (it == relay_sources_.end()) continue;
      if (auto claim = Earlier(it->second)) return Found(it->first, *claim);
    }
    for (auto it = relay_sources_.upper_bound(range);
         it != relay_sources_.end() && range.Contains(it->first); ++it) {
      if (auto claim = Earlier(it->second)) return Found(it->first, *claim);
    }
    return std::optional<std::pair<IpRange, gw::ClaimHolder>>();
  }

 private:
  struct Claim {
    size_t customer;
    std::string pointer;
  };

  const Claim* Earlier(const std::vector<Claim>& claims) const {
    for (const Claim& claim : claims) {
      if (claim.customer < current_) return &claim;
    }
    return nullptr;
  }
  gw::ClaimHolder Holder(const Claim& claim) const {
    const CustomerManifest& holder = customers_[claim.customer];
    return {holder.name, true, FileAndLine(holder.effective.LocationOf(claim.pointer))};
  }
  std::optional<std::pair<IpRange, gw::ClaimHolder>> Found(const IpRange& range,
                                                           const Claim& claim) const {
    return std::make_pair(range, Holder(claim));
  }

  const std::vector<CustomerManifest>& customers_;
  std::unordered_map<std::string, Claim> domains_;  // the first claim of each
  std::map<IpRange, std::vector<Claim>> relay_sources_;
  size_t current_ = 0;
};

}  // namespace

gw::Result<ValidationReport> ValidateRepository(const SourceTree& tree,
                                                const ValidationLimits& limits,
                                                const SecretPolicy& secrets) {
  ValidationReport report;
  auto files = tree.ListManifestFiles(report.diagnostics);
  if (!files.ok()) return files.status();

  // Read, parse and check the shape of every file in parallel; each file's findings
  // are kept apart and merged in order so the output does not depend on scheduling.
  struct FileResult {
    std::vector<Document> documents;
    Diagnostics diagnostics;
    gw::Status failure;
  };
  std::vector<FileResult> parsed(files->size());
  ParallelFor(files->size(), [&](size_t i) {
    const std::string& file = (*files)[i];
    FileResult& out = parsed[i];
    auto contents = tree.Read(file, limits.yaml.max_file_bytes);
    if (!contents.ok()) {
      switch (contents.status().code()) {
        case gw::StatusCode::kResourceExhausted:
          out.diagnostics.Error({file, 0, 0}, "file-size",
                                fmt::format("file is larger than the {} MiB limit for manifests",
                                            limits.yaml.max_file_bytes >> 20));
          return;
        case gw::StatusCode::kInvalidArgument:
          out.diagnostics.Error({file, 0, 0}, "path-escape", contents.status().message());
          return;
        default:
          out.failure = contents.status();
          return;
      }
    }
    for (auto& located : ParseYamlDocuments(file, *contents, out.diagnostics, limits.yaml)) {
      Document document{std::move(located), "", ""};
      document.kind = CheckShape(document.located, out.diagnostics);
      document.name = JsonCursor::Root(document.located.value())["metadata"]["name"].string_or("");
      out.documents.push_back(std::move(document));
    }
  });

  std::vector<Document*> documents;
  for (auto& file : parsed) {
    if (!file.failure.ok()) return file.failure;
    report.diagnostics.Append(file.diagnostics);
    for (auto& d : file.documents) {
      if (!d.kind.empty()) documents.push_back(&d);
    }
  }
  // The root gwctl.yaml is the repository's own file: its documents come first, so a
  // stray Repository elsewhere is the one reported as the second.
  std::stable_partition(documents.begin(), documents.end(),
                        [](const Document* d) { return d->located.file() == "gwctl.yaml"; });
  report.files = files->size();
  bool gwctl_yaml_failed =
      std::any_of(report.diagnostics.items().begin(), report.diagnostics.items().end(),
                  [](const Diagnostic& d) { return d.location.file == "gwctl.yaml"; });
  CheckNames(documents, gwctl_yaml_failed, report.diagnostics);

  Manifests& manifests = report.manifests;
  std::set<std::string> customer_names;
  for (Document* d : documents) {
    if (d->kind == "Repository" && !manifests.repository)
      manifests.repository = std::move(d->located);
    if (d->kind == "PartnerDefaults" && !manifests.defaults)
      manifests.defaults = std::move(d->located);
    if (d->kind == "MailTest") manifests.mail_tests.push_back(std::move(d->located));
  }
  for (Document* d : documents) {
    if (d->kind != "Customer" || d->name.empty() || !customer_names.insert(d->name).second)
      continue;
    CustomerManifest customer;
    customer.name = d->name;
    customer.document = std::move(d->located);
    manifests.customers.push_back(std::move(customer));
  }

  if (manifests.repository)
    CheckSecretReferences(*manifests.repository, secrets, report.diagnostics);
  CustomerRuleContext context{&tree, limits, secrets, {}};
  std::string gateway_host = GatewayHost(manifests.repository ? &*manifests.repository : nullptr);
  if (!gateway_host.empty()) context.rule_options.gateway_hosts.push_back(gateway_host);
  const LocatedDocument* defaults = manifests.defaults ? &*manifests.defaults : nullptr;
  if (defaults) CheckDefaults(*defaults, report.diagnostics);
  std::vector<Diagnostics> customer_diagnostics(manifests.customers.size());
  std::vector<size_t> csv_files(manifests.customers.size());
  ParallelFor(manifests.customers.size(), [&](size_t i) {
    CustomerManifest& customer = manifests.customers[i];
    customer.effective = MergeDefaults(customer.document, defaults);
    csv_files[i] = CheckCustomer(customer, context, customer_diagnostics[i]);
  });
  for (size_t i = 0; i < manifests.customers.size(); ++i) {
    report.diagnostics.Append(customer_diagnostics[i]);
    report.files += csv_files[i];
  }
  RepositoryClaims claims(manifests.customers);
  for (size_t i = 0; i < manifests.customers.size(); ++i) {
    gw::RuleFindings findings;
    claims.CheckFor(i);
    // The lookup reads memory only; it cannot fail.
    (void)gw::CheckClaims(manifests.customers[i].compiled, claims, findings);
    AddFindings(manifests.customers[i].effective, findings, report.diagnostics);
  }

  std::sort(manifests.customers.begin(), manifests.customers.end(),
            [](const CustomerManifest& a, const CustomerManifest& b) { return a.name < b.name; });
  // Mail expectations are checked against a repository without errors only: a partly
  // compiled customer would make them fail for the wrong reason.
  if (!report.diagnostics.has_errors()) CheckMailTests(manifests, report.diagnostics);
  report.diagnostics.Deduplicate();
  return report;
}

}  // namespace gwctl
