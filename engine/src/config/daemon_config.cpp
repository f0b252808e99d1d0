#include "gateway/daemon_config.h"

#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "gateway/json_cursor.h"
#include "gateway/schema.h"

namespace gw {
namespace {

using nlohmann::json;

constexpr std::string_view kSchema = "gatewayd.schema.json";
constexpr size_t kMaxFileBytes = 1 << 20;

// A plain scalar as YAML 1.2's core schema types it (quoted ones are strings).
json CoreScalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  static const std::regex kInteger("[-+]?[0-9]+");
  static const std::regex kTrue("true|True|TRUE"), kFalse("false|False|FALSE");
  static const std::regex kNull("~|null|Null|NULL|");
  if (std::regex_match(text, kTrue)) return true;
  if (std::regex_match(text, kFalse)) return false;
  if (std::regex_match(text, kNull)) return nullptr;
  if (std::regex_match(text, kInteger) && text.size() < 19) return std::stoll(text);
  return text;
}

// `node` as JSON, recording where each value stands; problems (non-string keys, duplicate
// keys, aliases) go to `problems`.
json ToJson(const YAML::Node& node, const std::string& file, const std::string& pointer,
            std::map<std::string, std::string, std::less<>>& where,
            std::vector<std::string>& problems) {
  auto at = [&](const YAML::Mark& mark) {
    return fmt::format("{}:{}:{}", file, mark.line + 1, mark.column + 1);
  };
  where[pointer] = at(node.Mark());
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          problems.push_back(at(entry.first.Mark()) + ": keys are names");
          continue;
        }
        const std::string& key = entry.first.Scalar();
        if (object.contains(key)) {
          problems.push_back(at(entry.first.Mark()) + fmt::format(": '{}' is given twice", key));
          continue;
        }
        object[key] = ToJson(entry.second, file, PointerAppend(pointer, key), where, problems);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (size_t i = 0; i < node.size(); ++i) {
        array.push_back(ToJson(node[i], file, PointerAppend(pointer, i), where, problems));
      }
      return array;
    }
    case YAML::NodeType::Scalar:
      return CoreScalar(node);
    default:
      return nullptr;
  }
}

// The schema's default for `pointer`, read beside the property (`"default"`).
std::optional<json> SchemaDefault(std::string_view pointer) {
  static const json schema = [] {
    for (const auto& [name, text] : SchemaSet::Files()) {
      if (name == kSchema) return json::parse(text);
    }
    return json::object();
  }();
  const json* node = &schema;
  for (size_t at = 0; at < pointer.size();) {  // tokens need no unescaping: names are plain
    size_t next = pointer.find('/', at + 1);
    std::string token(
        pointer.substr(at + 1, next == std::string_view::npos ? pointer.npos : next - at - 1));
    at = next == std::string_view::npos ? pointer.size() : next;
    auto properties = node->find("properties");
    if (properties == node->end() || !properties->contains(token)) return std::nullopt;
    node = &(*properties)[token];
  }
  auto found = node->find("default");
  if (found == node->end()) return std::nullopt;
  return *found;
}

}  // namespace

Result<DaemonConfig> DaemonConfig::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kUnavailable, fmt::format("cannot read {}", path));
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return Status::Invalid(fmt::format("{}: larger than {} bytes", path, kMaxFileBytes));
  }
  return Parse(path, text);
}

Result<DaemonConfig> DaemonConfig::Parse(const std::string& name, std::string_view text) {
  DaemonConfig config;
  config.file_ = name;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status::Invalid(
        fmt::format("{}:{}:{}: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  std::vector<std::string> problems;
  config.document_ =
      root.IsNull() ? json::object() : ToJson(root, name, "", config.where_, problems);
  for (const SchemaViolation& v : SchemaSet::Builtin().Validate(kSchema, config.document_)) {
    std::string field = v.pointer.empty() ? "" : v.pointer.substr(1);
    problems.push_back(fmt::format("{}: {}{}", config.Where(v.pointer),
                                   field.empty() ? "" : field + ": ", v.message));
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& problem : problems) message += (message.empty() ? "" : "\n") + problem;
    return Status::Invalid(message);
  }
  return config;
}

std::optional<json> DaemonConfig::Value(std::string_view pointer) const {
  json::json_pointer at{std::string(pointer)};
  if (document_.contains(at) && !document_.at(at).is_null()) return document_.at(at);
  return SchemaDefault(pointer);
}

std::string DaemonConfig::String(std::string_view pointer) const {
  auto value = Value(pointer);
  if (!value) return "";
  return value->is_string() ? value->get<std::string>() : value->dump();
}

bool DaemonConfig::Flag(std::string_view pointer) const {
  auto value = Value(pointer);
  return value && value->is_boolean() && value->get<bool>();
}

bool DaemonConfig::Has(std::string_view pointer) const {
  json::json_pointer at{std::string(pointer)};
  return document_.contains(at) && !document_.at(at).is_null();
}

std::string DaemonConfig::Where(std::string_view pointer) const {
  // The nearest enclosing value the file has: an unknown key's parent, say.
  std::string p(pointer);
  while (true) {
    auto it = where_.find(p);
    if (it != where_.end()) return it->second;
    if (p.empty()) return file_;
    p.erase(p.rfind('/'));
  }
}

}  // namespace gw
