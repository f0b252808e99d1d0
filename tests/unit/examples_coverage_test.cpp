// The example repository is documentation: it must use every field the schemas define,
// so a new field cannot land without an example of it.
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/schema.h"
#include "gwctl/validate.h"

namespace gwctl {
namespace {

using nlohmann::json;

const json& SchemaFile(const std::string& name) {
  static std::map<std::string, json> files;
  if (!files.count(name)) {
    for (const auto& [file, text] : gw::SchemaSet::Files()) {
      if (file == name) files[name] = json::parse(text);
    }
  }
  return files.at(name);
}

// Every property path a schema allows, with "*" for list items and map values:
// "/spec/users/mailboxes/*/address".
void SchemaPaths(const json& node, std::string file, const std::string& path,
                 std::set<std::string>& out, int depth = 0) {
  if (depth > 20 || !node.is_object()) return;
  if (node.contains("$ref")) {
    std::string ref = node["$ref"];
    auto hash = ref.find('#');
    if (hash > 0) file = ref.substr(0, hash);
    const json& target = SchemaFile(file).at(json::json_pointer(ref.substr(hash + 1)));
    SchemaPaths(target, file, path, out, depth + 1);
    return;
  }
  if (node.contains("properties")) {
    for (const auto& [key, child] : node["properties"].items()) {
      // Filled by gwctl, never written in a manifest (x-gwctl-derived), or refused.
      if (child.value("x-gwctl-derived", false) || child.value("x-gwctl-refused", false))
        continue;
      out.insert(path + "/" + key);
      SchemaPaths(child, file, path + "/" + key, out, depth + 1);
    }
  }
  if (node.contains("items")) SchemaPaths(node["items"], file, path + "/*", out, depth + 1);
}

void DocumentPaths(const json& value, const std::string& path, std::set<std::string>& out) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      bool free_form = path.size() >= 7 && path.substr(path.size() - 7) == "/labels";
      std::string child_path = path + "/" + (free_form ? "*" : key);
      out.insert(child_path);
      DocumentPaths(child, child_path, out);
    }
  } else if (value.is_array()) {
    for (const auto& child : value) DocumentPaths(child, path + "/*", out);
  }
}

TEST(ExamplesCoverageTest, ExamplesUseEveryField) {
  auto tree = OpenDirectoryTree(GWCTL_SOURCE_DIR "/examples");
  ASSERT_TRUE(tree.ok());
  auto report = ValidateRepository(**tree);
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->diagnostics.has_errors());

  std::set<std::string> used;
  const Manifests& m = report->manifests;
  DocumentPaths(m.repository->value(), "Repository", used);
  DocumentPaths(m.defaults->value(), "PartnerDefaults", used);
  for (const auto& customer : m.customers)
    DocumentPaths(customer.document.value(), "Customer", used);

  std::set<std::string> missing;
  for (const auto& [kind, file] :
       std::map<std::string, std::string>{{"Repository", "repository.schema.json"},
                                          {"PartnerDefaults", "partner-defaults.schema.json"},
                                          {"Customer", "customer.schema.json"}}) {
    std::set<std::string> paths;
    SchemaPaths(SchemaFile(file), file, kind, paths);
    for (const auto& path : paths) {
      if (!used.count(path)) missing.insert(path);
    }
  }
  EXPECT_THAT(missing, ::testing::IsEmpty());
}

}  // namespace
}  // namespace gwctl
