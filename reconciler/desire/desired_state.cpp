#include "gwctl/desired_state.h"

#include <algorithm>

#include <fmt/format.h>

#include "gateway/field_annotations.h"
#include "gateway/json_cursor.h"
#include "gwctl/diagnostics.h"
#include "gwctl/secrets.h"
#include "parallel.h"

namespace gwctl {

namespace {

// "/panelLogin/passwordRef" -> "panelLogin.passwordRef", as the plan names fields.
std::string Dotted(std::string pointer) {
  if (!pointer.empty() && pointer.front() == '/') pointer.erase(0, 1);
  std::replace(pointer.begin(), pointer.end(), '/', '.');
  return pointer;
}

gw::User ToGatewayUser(const UserRecord& record) {
  gw::User user;
  user.address = record.address;
  user.type = record.type;
  user.first_name = record.first_name;
  user.last_name = record.last_name;
  user.aliases = record.aliases;
  std::sort(user.aliases.begin(), user.aliases.end());
  user.source = record.source;
  user.continuity = record.continuity;
  return user;
}

// Users per inline list and CSV file, in the order the manifest names them.
std::vector<UserSourceReport> ReportFileSources(const std::vector<UserRecord>& records) {
  std::vector<UserSourceReport> reports;
  for (const auto& record : records) {
    std::string kind = record.source == "csv" ? "csv" : "inline";
    std::string name = kind == "csv" ? record.location.file : "";
    auto it = std::find_if(reports.begin(), reports.end(), [&](const UserSourceReport& r) {
      return r.kind == kind && r.name == name;
    });
    if (it == reports.end()) {
      UserSourceReport report;
      report.kind = kind;
      report.name = name;
      it = reports.insert(reports.end(), std::move(report));
    }
    ++it->users;
  }
  return reports;
}

// Adds directory users to `users`; an address or alias another source already has stays
// there (inline and CSV entries win). Returns how many users were added.
size_t MergeDirectoryUsers(std::vector<gw::User> incoming, std::vector<gw::User>& users) {
  std::set<std::string> taken;
  for (const auto& u : users) {
    taken.insert(u.address);
    taken.insert(u.aliases.begin(), u.aliases.end());
  }
  size_t added = 0;
  for (auto& u : incoming) {
    if (taken.count(u.address)) continue;
    std::erase_if(u.aliases, [&](const std::string& a) { return taken.count(a) > 0; });
    taken.insert(u.address);
    taken.insert(u.aliases.begin(), u.aliases.end());
    users.push_back(std::move(u));
    ++added;
  }
  return added;
}

struct DirectoryJob {
  size_t customer;   // index in DesiredState::customers
  size_t report;     // index in its sources
  size_t directory;  // index in DesiredOptions::directories
  DirectoryRequest request;
  gw::Result<DirectoryUsers> result = gw::Status(gw::StatusCode::kUnavailable, "not read");
};

}  // namespace

gw::Result<DesiredState> BuildDesiredState(const Manifests& manifests,
                                           const DesiredOptions& options) {
  DesiredState state;
  std::vector<DirectoryJob> jobs;
  state.partner = manifests.partner();
  state.owner = "gwctl:" + state.partner;
  for (const CustomerManifest& manifest : manifests.customers) {
    DesiredCustomer customer;
    customer.name = manifest.name;
    customer.file = manifest.document.file();
    customer.effective = &manifest.effective;
    JsonCursor root = JsonCursor::Root(manifest.effective.value());
    nlohmann::json spec = *root["spec"].get();
    // Users are kept apart from the settings document: only how they are sourced stays.
    if (spec.contains("users")) {
      spec["users"].erase("mailboxes");
      spec["users"].erase("csv");
      if (spec["users"].empty()) spec.erase("users");
    }
    customer.write.spec = std::move(spec);
    customer.write.owner = state.owner;
    customer.write.applied_revision = options.revision;
    if (root["metadata"]["labels"].is_object()) {
      customer.write.labels =
          root["metadata"]["labels"].get()->get<std::map<std::string, std::string>>();
    }

    // Secrets: write-only values the gateway keeps only a fingerprint of.
    for (const auto& secret : gw::CustomerFields::Get().secrets()) {
      const auto& spec_value = *root["spec"].get();
      nlohmann::json::json_pointer at(secret.reference);
      if (!spec_value.contains(at) || !spec_value[at].is_string()) continue;
      const std::string reference = spec_value[at].get<std::string>();
      if (options.trusted_base &&
          !options.trusted_base->HasSecretReference(manifest, secret.reference, reference)) {
        customer.secret_fingerprints[secret.gateway_field] = kUnreadSecretFingerprint;
        customer.untrusted_notes.push_back(fmt::format(
            "{} {} is new in this revision: an untrusted plan does not read it (shown as "
            "changing); it is read after merge",
            Dotted(secret.reference), reference));
        continue;
      }
      auto value = ResolveSecret(reference, options.secrets);
      if (!value.ok()) {
        Location where = manifest.effective.LocationOf("/spec" + secret.reference);
        return gw::Status(gw::StatusCode::kNotFound,
                          fmt::format("{}: {}", FormatLocation(where, options.display_root),
                                      value.status().message()));
      }
      customer.write.secrets[secret.gateway_field] = *value;
      customer.secret_fingerprints[secret.gateway_field] = gw::SecretFingerprint(*value);
    }

    for (const auto& record : manifest.users) customer.users.push_back(ToGatewayUser(record));
    customer.sources = ReportFileSources(manifest.users);
    for (size_t d = 0; d < options.directories.size(); ++d) {
      const UserDirectory& directory = options.directories[d];
      auto sources = root["spec"]["users"][directory.kind];
      for (size_t i = 0; i < sources.size(); ++i) {
        customer.has_directory_sources = true;
        UserSourceReport report;
        report.kind = directory.kind;
        report.name = sources[i][directory.name_field].string_or("?");
        report.settings = sources[i].get()->dump();
        bool planned = !options.only || options.only->count(customer.name) > 0;
        // Why the source is not read this time ("" when it is).
        std::string not_read;
        if (!directory.read || !planned) {
          not_read = "--no-directories";
        } else if (options.trusted_base && !options.trusted_base->HasDirectorySource(
                                               manifest, directory.kind, *sources[i].get())) {
          not_read =
              "its settings are new in this revision, and an untrusted plan contacts only "
              "sources the base revision has exactly so; its users are read after merge";
        }
        std::optional<std::string> waiting;
        if (not_read.empty() && options.not_due) {
          waiting = options.not_due(customer.name, directory.kind, *sources[i].get());
        }
        if (!not_read.empty()) {
          customer.failed_sources.insert(directory.kind);
          report.failed = true;
          report.detail = std::move(not_read);
        } else if (waiting) {
          customer.failed_sources.insert(directory.kind);
          report.not_due = true;
          report.detail = std::move(*waiting);
        } else {
          report.attempted = true;
          DirectoryRequest request{customer.name,
                                   sources[i].get(),
                                   {manifest.domains().begin(), manifest.domains().end()}};
          jobs.push_back({state.customers.size(), customer.sources.size(), d, std::move(request)});
        }
        customer.sources.push_back(std::move(report));
      }
    }
    state.customers.push_back(std::move(customer));
  }
  // Directory servers answer slowly and independently: ask several at once.
  ParallelFor(jobs.size(), options.directory_parallelism, [&](size_t i) {
    jobs[i].result = options.directories[jobs[i].directory].read(jobs[i].request);
  });
  for (DirectoryJob& job : jobs) {
    DesiredCustomer& customer = state.customers[job.customer];
    UserSourceReport& report = customer.sources[job.report];
    if (!job.result.ok()) {
      customer.failed_sources.insert(options.directories[job.directory].kind);
      report.failed = true;
      report.detail = job.result.status().message();
      // The report names the source already.
      for (const std::string& named :
           {report.kind + " " + report.name + ": ", report.name + ": "}) {
        if (report.detail.rfind(named, 0) == 0) {
          report.detail.erase(0, named.size());
          break;
        }
      }
      continue;
    }
    report.users = MergeDirectoryUsers(std::move(job.result->users), customer.users);
    report.detail = std::move(job.result->detail);
    report.warnings = std::move(job.result->warnings);
  }
  // Hashing every user is most of the cost here: spread it over the cores.
  ParallelFor(state.customers.size(), [&](size_t i) {
    DesiredCustomer& customer = state.customers[i];
    std::sort(customer.users.begin(), customer.users.end(),
              [](const gw::User& a, const gw::User& b) { return a.address < b.address; });
    customer.users_digest = gw::UsersDigest(customer.users);
  });
  return state;
}

}  // namespace gwctl
