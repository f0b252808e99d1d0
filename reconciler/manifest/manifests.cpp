#include "gwctl/manifests.h"

#include "gateway/json_cursor.h"

namespace gwctl {

std::string Manifests::partner() const {
  if (!repository) return {};
  return JsonCursor::Root(repository->value())["metadata"]["name"].string_or("");
}

namespace {

void MergeObject(nlohmann::json& target, const std::string& target_pointer,
                 const nlohmann::json& source, const std::string& source_pointer,
                 const LocatedDocument& defaults, LocatedDocument& result) {
  for (const auto& [key, value] : source.items()) {
    std::string to = PointerAppend(target_pointer, key);
    std::string from = PointerAppend(source_pointer, key);
    auto it = target.find(key);
    if (it == target.end()) {
      target[key] = value;
      result.CopyLocations(defaults, from, to);
    } else if (it->is_object() && value.is_object()) {
      MergeObject(*it, to, value, from, defaults, result);
    }
  }
}

}  // namespace

LocatedDocument MergeDefaults(const LocatedDocument& customer, const LocatedDocument* defaults) {
  LocatedDocument result = customer;
  if (!defaults) return result;
  const auto& defaults_spec = JsonCursor::Root(defaults->value())["spec"];
  auto& value = result.mutable_value();
  if (!defaults_spec.is_object() || !value.is_object() || !value.contains("spec") ||
      !value["spec"].is_object()) {
    return result;
  }
  MergeObject(value["spec"], "/spec", *defaults_spec.get(), "/spec", *defaults, result);
  return result;
}

}  // namespace gwctl
