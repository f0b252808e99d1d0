// All of valijson lives in this one file: its templates dominate build time.
#include "gateway/schema.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "gateway/json_cursor.h"

// GCC 12 at -O3 reports a -Wrestrict false positive inside valijson's JSON pointer code
// (std::string::replace, a known GCC 12 issue); only these headers are exempt.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>
#pragma GCC diagnostic pop

namespace gw {
namespace detail {
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_files();
}

namespace {

using nlohmann::json;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "gw::SchemaSet: %s\n", what.c_str());
  std::abort();
}

// valijson names a path as {"<root>", "[spec]", "[2]", ...}.
std::vector<std::string> ContextTokens(const std::vector<std::string>& context) {
  std::vector<std::string> tokens;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      tokens.push_back(part.substr(1, part.size() - 2));
    } else {
      tokens.push_back(part);
    }
  }
  return tokens;
}

std::string Pointer(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) out = PointerAppend(out, t);
  return out;
}

std::string JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "a mapping";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::null:
      return "null";
    default:
      return "a value";
  }
}

std::string SchemaTypeName(const std::string& type) {
  static const std::map<std::string, std::string> names = {
      {"object", "a mapping"},   {"array", "a list"},
      {"string", "a string"},    {"boolean", "true or false"},
      {"integer", "an integer"}, {"number", "a number"},
      {"null", "null"}};
  auto it = names.find(type);
  return it == names.end() ? type : it->second;
}

std::string Scalar(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string NumberText(const json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<long long>(d)))
      return std::to_string(static_cast<long long>(d));
  }
  return v.dump();
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Every key of `value` that `properties` does not name, with its message (and the
// nearest known name, when one is close).
std::vector<std::pair<std::string, std::string>> UnknownFields(const json& value,
                                                               const json& properties) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, unused] : value.items()) {
    if (properties.contains(key)) continue;
    std::string message = fmt::format("unknown field '{}'", key);
    std::string best;
    size_t best_distance = 3;
    for (const auto& [known, unused2] : properties.items()) {
      size_t d = EditDistance(key, known);
      if (d < best_distance) best_distance = d, best = known;
    }
    if (!best.empty()) message += fmt::format(" (did you mean '{}'?)", best);
    out.emplace_back(key, std::move(message));
  }
  return out;
}

// uniqueItems: the later of the two equal items (as a pointer token) and its message.
std::pair<std::string, std::string> RepeatedItem(const std::string& raw) {
  static const std::regex kIndexes(R"(#(\d+) and #(\d+))");
  std::smatch m;
  if (!std::regex_search(raw, m, kIndexes)) return {"", raw};
  size_t first = std::stoul(m[1]), second = std::stoul(m[2]);
  return {std::to_string(std::max(first, second)),
          fmt::format("repeats item {} of the list", std::min(first, second) + 1)};
}

// valijson's message for one error in the manifest's words, from the subschema that
// governs the value (`sub`, or nullptr): the types, values and bounds it allows.
std::string Reword(const std::string& raw, const json* sub, const json* value) {
  auto sub_has = [&](const char* key) { return sub && sub->is_object() && sub->contains(key); };
  std::string pattern_message =
      sub_has("patternErrorMessage") ? (*sub)["patternErrorMessage"].get<std::string>() : "";
  if (StartsWith(raw, "Missing required property '")) {
    std::string name = raw.substr(27, raw.rfind('\'') - 27);
    return fmt::format("missing required field '{}'", name);
  }
  if (StartsWith(raw, "Value type not permitted by 'type' constraint")) {
    if (!pattern_message.empty() && value && !value->is_object() && !value->is_array())
      return pattern_message;
    std::vector<std::string> wanted;
    if (sub_has("type")) {
      const json& t = (*sub)["type"];
      if (t.is_string()) wanted.push_back(SchemaTypeName(t));
      if (t.is_array()) {
        for (const auto& one : t) wanted.push_back(SchemaTypeName(one));
      }
    }
    std::string expected =
        wanted.empty() ? "another type" : fmt::format("{}", fmt::join(wanted, " or "));
    return fmt::format("expected {}, found {}", expected, value ? JsonTypeName(*value) : "nothing");
  }
  if (StartsWith(raw, "Failed to match against any enum values")) {
    std::vector<std::string> allowed;
    if (sub_has("enum")) {
      for (const auto& v : (*sub)["enum"]) allowed.push_back(Scalar(v));
    }
    std::string found = value ? fmt::format(" (found '{}')", Scalar(*value)) : "";
    return allowed.empty() ? raw
                           : fmt::format("must be one of: {}{}", fmt::join(allowed, ", "), found);
  }
  if (StartsWith(raw, "Failed to match expected value set by 'const'"))
    return sub_has("const") ? fmt::format("must be '{}'", Scalar((*sub)["const"])) : raw;
  if (StartsWith(raw, "Failed to match regex")) {
    if (!pattern_message.empty()) return pattern_message;
    return fmt::format("does not match the pattern {}",
                       sub_has("pattern") ? (*sub)["pattern"].get<std::string>() : "required");
  }
  if (StartsWith(raw, "Expected number greater than or equal to"))
    return sub_has("minimum") ? fmt::format("must be at least {}", NumberText((*sub)["minimum"]))
                              : raw;
  if (StartsWith(raw, "Expected number less than or equal to"))
    return sub_has("maximum") ? fmt::format("must be at most {}", NumberText((*sub)["maximum"]))
                              : raw;
  if (StartsWith(raw, "Array should contain no fewer than")) {
    size_t n = sub_has("minItems") ? (*sub)["minItems"].get<size_t>() : 1;
    return n == 1 ? "must not be empty" : fmt::format("must have at least {} items", n);
  }
  if (StartsWith(raw, "String should be no fewer than")) {
    size_t n = sub_has("minLength") ? (*sub)["minLength"].get<size_t>() : 1;
    return n == 1 ? "must not be empty" : fmt::format("must be at least {} characters", n);
  }
  if (StartsWith(raw, "String should be no more than") && sub_has("maxLength"))
    return fmt::format("must be at most {} characters", NumberText((*sub)["maxLength"]));
  if ((StartsWith(raw, "Object should have no more than") ||
       StartsWith(raw, "Object should have no fewer than")) &&
      sub_has("properties")) {
    std::vector<std::string> names;
    for (const auto& [key, unused] : (*sub)["properties"].items()) names.push_back(key);
    return fmt::format("must set exactly one of: {}", fmt::join(names, ", "));
  }
  return raw;
}

}  // namespace

struct SchemaSet::Impl {
  std::map<std::string, json, std::less<>> documents;  // file name -> parsed schema JSON
  mutable std::mutex mutex;
  mutable std::map<std::string, std::unique_ptr<valijson::Schema>, std::less<>> compiled;

  const json& Document(std::string_view name) const {
    auto it = documents.find(name);
    if (it == documents.end()) Die(fmt::format("no schema file named '{}'", name));
    return it->second;
  }

  const valijson::Schema& Compiled(std::string_view ref) const {
    std::lock_guard lock(mutex);
    auto it = compiled.find(ref);
    if (it != compiled.end()) return *it->second;
    auto schema = std::make_unique<valijson::Schema>();
    const json& root = Document(ref);
    auto fetch = [this](const std::string& uri) -> const json* {
      auto slash = uri.find_last_of('/');
      return &Document(slash == std::string::npos ? uri : uri.substr(slash + 1));
    };
    auto free_doc = [](const json*) {};
    try {
      valijson::SchemaParser parser;
      valijson::adapters::NlohmannJsonAdapter adapter(root);
      parser.populateSchema(adapter, *schema, fetch, free_doc);
    } catch (const std::exception& e) {
      Die(fmt::format("cannot compile schema '{}': {}", ref, e.what()));
    }
    return *compiled.emplace(std::string(ref), std::move(schema)).first->second;
  }

  // Follows $ref (possibly into another file) until a schema without one.
  const json* Deref(const json* node, std::string& file) const {
    for (int hops = 0; node && node->is_object() && node->contains("$ref") && hops < 16; ++hops) {
      std::string ref = (*node)["$ref"].get<std::string>();
      auto hash = ref.find('#');
      std::string target_file = ref.substr(0, hash);
      if (!target_file.empty()) file = target_file.substr(target_file.find_last_of('/') + 1);
      const json& doc = Document(file);
      std::string pointer = hash == std::string::npos ? "" : ref.substr(hash + 1);
      json::json_pointer ptr(pointer);
      node = doc.contains(ptr) ? &doc.at(ptr) : nullptr;
    }
    return node;
  }

  // The subschema that governs the instance value at `tokens`, or nullptr where the
  // schema uses constructs this walk does not follow.
  const json* SubschemaAt(std::string_view ref, const json& instance,
                          const std::vector<std::string>& tokens) const {
    std::string file(ref);
    const json* node = &Document(ref);
    const json* value = &instance;
    for (const auto& token : tokens) {
      node = Deref(node, file);
      if (!node || !node->is_object()) return nullptr;
      if (value->is_object()) {
        if (node->contains("properties") && (*node)["properties"].contains(token)) {
          node = &(*node)["properties"][token];
        } else if (node->contains("additionalProperties") &&
                   (*node)["additionalProperties"].is_object()) {
          node = &(*node)["additionalProperties"];
        } else {
          return nullptr;
        }
        if (!value->contains(token)) return nullptr;
        value = &(*value)[token];
      } else if (value->is_array()) {
        if (!node->contains("items")) return nullptr;
        node = &(*node)["items"];
        size_t index = std::strtoul(token.c_str(), nullptr, 10);
        if (index >= value->size()) return nullptr;
        value = &(*value)[index];
      } else {
        return nullptr;
      }
    }
    return Deref(node, file);
  }
};

SchemaSet::SchemaSet() : impl_(std::make_unique<Impl>()) {
  for (const auto& [name, text] : Files()) {
    auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) Die(fmt::format("schema '{}' is not valid JSON", name));
    // A base URI lets valijson resolve the files' relative $refs ("common.schema.json#...");
    // the fetch callback maps it back to the embedded file.
    parsed["$id"] = fmt::format("https://schemas.gwctl.invalid/{}", name);
    impl_->documents.emplace(std::string(name), std::move(parsed));
  }
}

SchemaSet::~SchemaSet() = default;

const SchemaSet& SchemaSet::Builtin() {
  static const SchemaSet* set = new SchemaSet();  // never destroyed: used until exit
  return *set;
}

const std::vector<std::pair<std::string_view, std::string_view>>& SchemaSet::Files() {
  // schemas/ also holds data files (relay-services.json); only *.schema.json are schemas.
  static const auto* schemas = [] {
    auto* out = new std::vector<std::pair<std::string_view, std::string_view>>();
    for (const auto& file : detail::embedded_files()) {
      if (file.first.ends_with(".schema.json")) out->push_back(file);
    }
    return out;
  }();
  return *schemas;
}

std::vector<SchemaViolation> SchemaSet::Validate(std::string_view ref, const json& document) const {
  const valijson::Schema& schema = impl_->Compiled(ref);
  // A Validator caches the std::regex of every pattern it meets; compiling them is most
  // of the cost of a check, so each thread keeps one for all documents.
  thread_local valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(document);
  if (validator.validate(schema, target, &results)) return {};

  std::vector<SchemaViolation> out;
  std::set<std::pair<std::string, std::string>> seen;
  auto add = [&](std::string pointer, bool at_key, std::string message) {
    if (seen.emplace(pointer, message).second)
      out.push_back({std::move(pointer), at_key, std::move(message)});
  };

  valijson::ValidationResults::Error error;
  std::vector<valijson::ValidationResults::Error> errors;
  while (results.popError(error)) errors.push_back(error);

  static const char* const kSummaries[] = {
      "Failed to validate against schema associated with",
      "Failed to validate item #",
      "Failed to validate against additional properties schema",
      "Failed to validate against any schemas allowed by anyOf",
      "Failed to validate against any child schemas allowed by oneOf",
      "Failed to validate against a conditional schema",
      "Failed to validate against dependent schema",
      "Failed to validate against child schema",
  };
  for (const auto& e : errors) {
    const std::string& raw = e.description;
    if (std::any_of(std::begin(kSummaries), std::end(kSummaries),
                    [&](const char* s) { return StartsWith(raw, s); })) {
      continue;
    }
    auto tokens = ContextTokens(e.context);
    std::string pointer = Pointer(tokens);
    json::json_pointer ptr(pointer);
    const json* value = document.contains(ptr) ? &document.at(ptr) : nullptr;
    const json* sub = impl_->SubschemaAt(ref, document, tokens);
    auto sub_has = [&](const char* key) { return sub && sub->is_object() && sub->contains(key); };
    if (StartsWith(raw, "Object contains a property that could not be validated") && value &&
        value->is_object() && sub_has("properties")) {
      // valijson names only the first unknown key; report every one from the schema.
      for (auto& [key, message] : UnknownFields(*value, (*sub)["properties"]))
        add(PointerAppend(pointer, key), true, message);
    } else if (StartsWith(raw, "Elements at indexes #")) {
      auto [index, message] = RepeatedItem(raw);
      add(index.empty() ? pointer : pointer + "/" + index, false, message);
    } else {
      add(pointer, false, Reword(raw, sub, value));
    }
  }
  if (out.empty()) {
    // Only summaries were reported: keep them rather than claim the document is valid.
    for (const auto& e : errors) add(Pointer(ContextTokens(e.context)), false, e.description);
  }
  return out;
}

}  // namespace gw
