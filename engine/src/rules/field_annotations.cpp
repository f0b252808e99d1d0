#include "gateway/field_annotations.h"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "gateway/schema.h"

namespace gw {

namespace {

using ordered = nlohmann::ordered_json;

// The schema files parsed with their key order kept.
const ordered& File(std::string_view name) {
  static const auto* files = [] {
    auto* parsed = new std::map<std::string, ordered, std::less<>>();
    for (const auto& [file, text] : SchemaSet::Files())
      (*parsed)[std::string(file)] = ordered::parse(text);
    return parsed;
  }();
  auto it = files->find(name);
  if (it == files->end()) std::abort();  // a $ref to a file that is not embedded
  return it->second;
}

// A pointer with array indexes as "*": "/spec/destinations/0/host" -> "/spec/destinations/*/host".
std::string Pattern(std::string_view pointer) {
  std::string out;
  size_t start = 0;
  while (start < pointer.size()) {
    size_t end = pointer.find('/', start + 1);
    if (end == std::string_view::npos) end = pointer.size();
    std::string_view token = pointer.substr(start + 1, end - start - 1);
    bool index = !token.empty() && std::all_of(token.begin(), token.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
    out += '/';
    out += index ? std::string_view("*") : token;
    start = end;
  }
  return out;
}

}  // namespace

CustomerFields::CustomerFields() {
  // Walks the schema from the document down, following $refs across files.
  auto walk = [&](auto& self, const ordered& node, std::string file, const std::string& path,
                  int depth) -> void {
    if (depth > 32 || !node.is_object()) return;
    if (path.rfind("/spec/", 0) == 0) {
      std::string field = path.substr(5);
      if (node.value("x-gwctl-immutable", false)) immutable_.push_back(field);
      if (auto secret = node.find("x-gwctl-secret"); secret != node.end() && secret->is_object()) {
        secrets_.push_back(
            {field, secret->value("gatewayField", ""), secret->value("exportEnv", "SECRET")});
      }
    }
    if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
      std::string target = ref->get<std::string>();
      auto hash = target.find('#');
      if (hash > 0) file = target.substr(0, hash);
      self(self, File(file).at(ordered::json_pointer(target.substr(hash + 1))), file, path,
           depth + 1);
      return;
    }
    if (auto properties = node.find("properties"); properties != node.end()) {
      auto& order = key_orders_[path];
      for (const auto& [key, child] : properties->items()) {
        order.push_back(key);
        self(self, child, file, path + "/" + key, depth + 1);
      }
    }
    if (auto items = node.find("items"); items != node.end())
      self(self, *items, file, path + "/*", depth + 1);
  };
  walk(walk, File("customer.schema.json"), "customer.schema.json", "", 0);
}

const CustomerFields& CustomerFields::Get() {
  static const CustomerFields* fields = new CustomerFields();
  return *fields;
}

bool CustomerFields::IsImmutable(std::string_view spec_pointer) const {
  return std::find(immutable_.begin(), immutable_.end(), spec_pointer) != immutable_.end();
}

const std::vector<std::string>& CustomerFields::KeyOrder(std::string_view pointer) const {
  static const std::vector<std::string> kNone;
  auto it = key_orders_.find(Pattern(pointer));
  return it == key_orders_.end() ? kNone : it->second;
}

}  // namespace gw
