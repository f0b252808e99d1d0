#include "gateway/json_cursor.h"
#include "gwctl/desired_state.h"
#include "gwctl/secrets.h"
#include "gwctl/trust.h"
#include "yaml_documents.h"

namespace gwctl {

using gw::JsonCursor;

RepositoryGateway RepositoryGatewayOf(const LocatedDocument* repository) {
  if (!repository) return {};
  JsonCursor gateway = JsonCursor::Root(repository->value())["spec"]["gateway"];
  return {gateway["url"].string_or(""), gateway["tokenRef"].string_or("")};
}

gw::Result<TrustedBase> TrustedBase::Read(const SourceTree& base,
                                          const std::optional<std::set<std::string>>& files) {
  TrustedBase trusted;
  std::vector<std::string> names;
  Diagnostics ignored;  // the base is not being validated: what it cannot say, it does not trust
  if (files) {
    names.assign(files->begin(), files->end());
  } else {
    auto listed = base.ListManifestFiles(ignored);
    if (!listed.ok()) return listed.status();
    names = std::move(*listed);
  }
  const std::vector<UserDirectory> directories = UserDirectories({}, false);
  YamlLimits limits;
  for (const std::string& file : names) {
    if (!IsManifestFileName(file)) continue;
    auto text = base.Read(file, limits.max_file_bytes);
    if (!text.ok()) continue;  // absent at the base (a new file), or unreadable
    for (const LocatedDocument& document : ParseYamlDocuments(file, *text, ignored, limits)) {
      JsonCursor root = JsonCursor::Root(document.value());
      std::string kind = root["kind"].string_or("");
      if (kind == "Repository" && file == "gwctl.yaml") {
        trusted.gateway_ = RepositoryGatewayOf(&document);
        continue;
      }
      std::string name = root["metadata"]["name"].string_or("");
      if (kind != "Customer" || name.empty() || trusted.customers_.count(name)) continue;
      const nlohmann::json* spec = root["spec"].get();
      if (!spec || !spec->is_object()) continue;
      Customer& customer = trusted.customers_[name];
      customer.secret_references = SecretReferencesIn(*spec);
      for (const UserDirectory& directory : directories) {
        JsonCursor sources = root["spec"]["users"][directory.kind];
        for (size_t i = 0; sources.is_array() && i < sources.size(); ++i)
          customer.directory_sources[directory.kind].push_back(*sources[i].get());
      }
    }
  }
  return trusted;
}

bool TrustedBase::HasDirectorySource(const std::string& customer, const std::string& kind,
                                     const nlohmann::json& source) const {
  auto found = customers_.find(customer);
  if (found == customers_.end()) return false;
  auto sources = found->second.directory_sources.find(kind);
  if (sources == found->second.directory_sources.end()) return false;
  for (const auto& known : sources->second) {
    if (known == source) return true;
  }
  return false;
}

bool TrustedBase::HasSecretReference(const std::string& customer, const std::string& pointer,
                                     const std::string& reference) const {
  auto found = customers_.find(customer);
  if (found == customers_.end()) return false;
  auto known = found->second.secret_references.find(pointer);
  return known != found->second.secret_references.end() && known->second == reference;
}

}  // namespace gwctl
