#include <algorithm>

#include "gateway/json_cursor.h"
#include "gwctl/desired_state.h"
#include "gwctl/secrets.h"
#include "gwctl/trust.h"
#include "yaml_documents.h"

namespace gwctl {

using gw::JsonCursor;

RepositoryGateway RepositoryGatewayOf(const nlohmann::json& repository) {
  JsonCursor gateway = JsonCursor::Root(repository)["spec"]["gateway"];
  return {gateway["url"].string_or(""), gateway["tokenRef"].string_or("")};
}

TrustedBase::TrustedBase(const SourceTree& base, const SourceTree& head,
                         const std::set<std::string>& changed)
    : base_(&base), head_(&head), changed_(changed) {
  YamlLimits limits;
  Diagnostics ignored;
  if (auto text = base.Read("gwctl.yaml", limits.max_file_bytes); text.ok()) {
    for (const LocatedDocument& document :
         ParseYamlDocuments("gwctl.yaml", *text, ignored, limits)) {
      if (JsonCursor::Root(document.value())["kind"].string_or("") != "Repository") continue;
      gateway_ = RepositoryGatewayOf(document.value());
      break;
    }
  }
  for (const std::string& file : changed) ReadBaseFile(file);
}

void TrustedBase::ReadBaseFile(const std::string& file) const {
  if (!IsManifestFileName(file) || !read_.insert(file).second) return;
  YamlLimits limits;
  auto text = base_->Read(file, limits.max_file_bytes);
  if (!text.ok()) return;  // new at the head, or unreadable
  Diagnostics ignored;     // the base is not being validated: what it cannot say, it does not trust
  for (const LocatedDocument& document : ParseYamlDocuments(file, *text, ignored, limits)) {
    JsonCursor root = JsonCursor::Root(document.value());
    std::string name = root["metadata"]["name"].string_or("");
    const nlohmann::json* spec = root["spec"].get();
    if (root["kind"].string_or("") != "Customer" || name.empty() || !spec || !spec->is_object())
      continue;
    if (customers_.count(name)) continue;
    Customer& customer = customers_[name];
    customer.secret_references = SecretReferencesIn(*spec);
    for (const UserDirectory& directory : UserDirectories({}, false)) {
      JsonCursor sources = root["spec"]["users"][directory.kind];
      for (size_t i = 0; sources.is_array() && i < sources.size(); ++i)
        customer.directory_sources[directory.kind].push_back(*sources[i].get());
    }
  }
}

bool TrustedBase::SameAtBoth(const CustomerManifest& customer) const {
  const std::string& file = customer.document.file();
  if (changed_.count(file)) return false;
  auto known = same_.find(file);
  if (known != same_.end()) return known->second;
  size_t limit = YamlLimits().max_file_bytes;
  auto at_base = base_->Read(file, limit);
  auto at_head = head_->Read(file, limit);
  bool same = at_base.ok() && at_head.ok() && *at_base == *at_head;
  if (!same) ReadBaseFile(file);
  same_[file] = same;
  return same;
}

bool TrustedBase::Trusts(const CustomerManifest& customer,
                         const std::function<bool(const Customer&)>& holds) const {
  if (!base_) return false;
  if (SameAtBoth(customer)) return true;
  auto at_base = customers_.find(customer.name);
  return at_base != customers_.end() && holds(at_base->second);
}

bool TrustedBase::HasDirectorySource(const CustomerManifest& customer, const std::string& kind,
                                     const nlohmann::json& source) const {
  return Trusts(customer, [&](const Customer& at_base) {
    auto sources = at_base.directory_sources.find(kind);
    return sources != at_base.directory_sources.end() &&
           std::find(sources->second.begin(), sources->second.end(), source) !=
               sources->second.end();
  });
}

bool TrustedBase::HasSecretReference(const CustomerManifest& customer, const std::string& pointer,
                                     const std::string& reference) const {
  return Trusts(customer, [&](const Customer& at_base) {
    auto known = at_base.secret_references.find(pointer);
    return known != at_base.secret_references.end() && known->second == reference;
  });
}

}  // namespace gwctl
