#include "gwctl/desired_state.h"

#include <algorithm>

#include <fmt/format.h>

#include "gwctl/diagnostic_format.h"
#include "gwctl/secrets.h"
#include "json_cursor.h"
#include "parallel.h"

namespace gwctl {

namespace {

gw::User ToGatewayUser(const UserRecord& record) {
  gw::User user;
  user.address = record.address;
  user.type = record.type;
  user.first_name = record.first_name;
  user.last_name = record.last_name;
  user.aliases = record.aliases;
  std::sort(user.aliases.begin(), user.aliases.end());
  user.source = record.source;
  return user;
}

}  // namespace

gw::Result<DesiredState> BuildDesiredState(const Manifests& manifests,
                                           const DesiredOptions& options) {
  DesiredState state;
  state.partner = manifests.partner();
  state.owner = "gwctl:" + state.partner;
  for (const CustomerManifest& manifest : manifests.customers) {
    DesiredCustomer customer;
    customer.name = manifest.name;
    customer.file = manifest.document.file();
    customer.effective = &manifest.effective;
    JsonCursor root = JsonCursor::Root(manifest.effective);
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

    // Secrets: the panel login password is the one write-only value the gateway keeps.
    if (const std::string* reference = root["spec"]["panelLogin"]["passwordRef"].string()) {
      auto value = ResolveSecret(*reference, options.repository_root);
      if (!value.ok()) {
        Location at = manifest.effective.LocationOf("/spec/panelLogin/passwordRef");
        return gw::Status(
            gw::StatusCode::kNotFound,
            fmt::format("{}: {}", FormatLocation(at, options.repository_root.string()),
                        value.status().message()));
      }
      customer.write.secrets["/panelLogin/password"] = *value;
      customer.secret_fingerprints["/panelLogin/password"] =
          gw::SecretFingerprint(state.partner, customer.name, "/panelLogin/password", *value);
    }

    for (const auto& record : manifest.users) customer.users.push_back(ToGatewayUser(record));
    auto ldap = root["spec"]["users"]["ldap"];
    for (size_t i = 0; i < ldap.size(); ++i) {
      if (!options.ldap) {
        customer.failed_sources.insert("ldap");
        customer.notes.push_back(fmt::format(
            "LDAP source {} was not read: its users on the gateway are kept as they are",
            ldap[i]["url"].string_or("?")));
        continue;
      }
      auto users = options.ldap(customer.name, *ldap[i].get());
      if (!users.ok()) {
        customer.failed_sources.insert("ldap");
        customer.notes.push_back(
            fmt::format("LDAP source {} failed, so its users are kept as they are: {}",
                        ldap[i]["url"].string_or("?"), users.status().message()));
        continue;
      }
      // Inline and CSV entries win over directory ones for the same address.
      std::set<std::string> known;
      for (const auto& u : customer.users) known.insert(u.address);
      for (auto& u : *users) {
        if (known.insert(u.address).second) customer.users.push_back(std::move(u));
      }
    }
    state.customers.push_back(std::move(customer));
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
