// The example repository is documentation: it must use every field the schemas define,
// so a new field cannot land without an example of it.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
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
// With `every_field`, also the fields examples need not show (derived, refused).
void SchemaPaths(const json& node, std::string file, const std::string& path,
                 std::set<std::string>& out, int depth = 0, bool every_field = false) {
  if (depth > 20 || !node.is_object()) return;
  if (node.contains("$ref")) {
    std::string ref = node["$ref"];
    auto hash = ref.find('#');
    if (hash > 0) file = ref.substr(0, hash);
    const json& target = SchemaFile(file).at(json::json_pointer(ref.substr(hash + 1)));
    SchemaPaths(target, file, path, out, depth + 1, every_field);
    return;
  }
  if (node.contains("properties")) {
    for (const auto& [key, child] : node["properties"].items()) {
      // Filled by gwctl, never written in a manifest (x-gwctl-derived), or refused.
      if (!every_field &&
          (child.value("x-gwctl-derived", false) || child.value("x-gwctl-refused", false)))
        continue;
      out.insert(path + "/" + key);
      SchemaPaths(child, file, path + "/" + key, out, depth + 1, every_field);
    }
  }
  if (node.contains("items"))
    SchemaPaths(node["items"], file, path + "/*", out, depth + 1, every_field);
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

// The rule that no field is inert: every field of every manifest schema names how its
// effect is shown (tests/schema_effects.txt), and what it names exists.
TEST(SchemaEffectsTest, EveryFieldNamesTheTestThatShowsItsEffect) {
  // The tests there are, by "Suite.Name", read from the sources.
  std::set<std::string> tests;
  std::regex test_macro(R"(TEST(?:_F|_P)?\(\s*(\w+),\s*(\w+)\))");
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(GWCTL_SOURCE_DIR "/tests")) {
    if (entry.path().extension() != ".cpp") continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), {});
    for (std::sregex_iterator m(text.begin(), text.end(), test_macro), end; m != end; ++m)
      tests.insert((*m)[1].str() + "." + (*m)[2].str());
  }

  // Every leaf field; PartnerDefaults' are the Customer's.
  std::set<std::string> paths, leaves;
  for (const auto& [kind, file] :
       std::map<std::string, std::string>{{"Repository", "repository.schema.json"},
                                          {"PartnerDefaults", "partner-defaults.schema.json"},
                                          {"Customer", "customer.schema.json"},
                                          {"MailTest", "mail-test.schema.json"}}) {
    std::set<std::string> found;
    SchemaPaths(SchemaFile(file), file, kind, found, 0, /*every_field=*/true);
    for (std::string path : found) {
      if (path.rfind("PartnerDefaults", 0) == 0) path = "Customer" + path.substr(15);
      paths.insert(path);
    }
  }
  for (const auto& path : paths) {
    auto next = paths.upper_bound(path);
    if (next == paths.end() || next->rfind(path + "/", 0) != 0) leaves.insert(path);
  }

  std::ifstream table(GWCTL_SOURCE_DIR "/tests/schema_effects.txt");
  ASSERT_TRUE(table) << "tests/schema_effects.txt";
  std::set<std::string> listed, problems;
  int untested = 0;
  std::string line;
  while (std::getline(table, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string path, how, what;
    words >> path >> how >> what;
    listed.insert(path);
    if (!leaves.count(path)) problems.insert(path + ": no such field (stale line)");
    if (how == "test" || how == "refused") {
      if (!tests.count(what)) problems.insert(path + ": no test " + what);
    } else if (how == "example") {
      if (!std::filesystem::exists(GWCTL_SOURCE_DIR "/examples/invalid/" + what + "/expected.txt"))
        problems.insert(path + ": no invalid example " + what);
    } else if (how == "untested:") {
      ++untested;
    } else if (how != "descriptive:") {
      problems.insert(path + ": unknown kind '" + how + "'");
    }
  }
  for (const auto& leaf : leaves) {
    if (!listed.count(leaf)) problems.insert(leaf + ": not in tests/schema_effects.txt");
  }
  EXPECT_THAT(problems, ::testing::IsEmpty());
  // A new field comes with the test of its effect.
  EXPECT_EQ(untested, 0) << "fields whose effect no test shows";
}

}  // namespace
}  // namespace gwctl
