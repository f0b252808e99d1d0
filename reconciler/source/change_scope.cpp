#include "change_scope.h"

#include <regex>

#include "gateway/json_cursor.h"
#include "yaml_documents.h"

namespace gwctl {

using gw::JsonCursor;
using gw::Result;
using gw::Status;

Result<Change> CompareCommits(GitSource& git, const std::string& base, const std::string& commit) {
  auto paths = git.ChangedPaths(base, commit);
  if (!paths.ok()) return paths.status();
  auto base_tree = git.TreeAt(base);
  if (!base_tree.ok()) return base_tree.status();
  return Change{std::set<std::string>(paths->begin(), paths->end()), std::move(*base_tree)};
}

Result<std::optional<std::set<std::string>>> FilesForChange(const Change& change,
                                                            const SourceTree& at_commit) {
  const std::set<std::string>& changed = change.paths;
  static const std::regex kGlobalKind(
      R"((^|\n)kind:[ \t]*(Repository|PartnerDefaults)[ \t]*(\r?\n|$))");
  auto defines_global = [](const std::string& text) {
    return std::regex_search(text, kGlobalKind);
  };
  std::vector<std::string> changed_csv_names;
  for (const auto& path : changed) {
    if (!IsManifestFileName(path)) changed_csv_names.push_back(path.substr(path.rfind('/') + 1));
  }
  Diagnostics ignored;
  auto files = at_commit.ListManifestFiles(ignored);
  if (!files.ok()) return files.status();
  std::set<std::string> needed;
  for (const auto& file : *files) {
    auto text = at_commit.Read(file, 16u << 20);
    if (!text.ok()) {
      needed.insert(file);  // let validation report it
      continue;
    }
    if (defines_global(*text)) {
      if (changed.count(file)) return std::optional<std::set<std::string>>();
      needed.insert(file);
      continue;
    }
    if (changed.count(file)) needed.insert(file);
    for (const auto& csv : changed_csv_names) {
      if (text->find(csv) != std::string::npos) needed.insert(file);
    }
  }
  // A Repository or defaults file deleted or renamed away changes everything too.
  for (const auto& path : changed) {
    if (!IsManifestFileName(path)) continue;
    auto text = change.base_tree->Read(path, 16u << 20);
    if (text.ok() && defines_global(*text)) return std::optional<std::set<std::string>>();
  }
  return std::optional<std::set<std::string>>(std::move(needed));
}

Result<std::optional<std::set<std::string>>> CustomersAffected(const Change& change,
                                                               const Manifests& manifests) {
  const std::set<std::string>& changed = change.paths;
  auto touched = [&](const std::string& file) { return changed.count(file) > 0; };
  if (touched("gwctl.yaml") || (manifests.repository && touched(manifests.repository->file())) ||
      (manifests.defaults && touched(manifests.defaults->file()))) {
    return std::optional<std::set<std::string>>();  // everything may have changed
  }
  std::set<std::string> affected;
  for (const auto& customer : manifests.customers) {
    if (touched(customer.document.file())) affected.insert(customer.name);
    JsonCursor csv = JsonCursor::Root(customer.document.value())["spec"]["users"]["csv"];
    for (size_t i = 0; i < csv.size(); ++i) {
      auto path = ResolveRepositoryPath(customer.document.file(), csv[i].string_or(""));
      if (path.ok() && touched(*path)) affected.insert(customer.name);
    }
  }
  // Customers of files that are gone (deleted, or renamed away) are read at the base:
  // they may have to be deleted. A defaults file that was deleted affects everyone.
  std::set<std::string> files_now;
  for (const auto& customer : manifests.customers) files_now.insert(customer.document.file());
  for (const auto& path : changed) {
    if (!IsManifestFileName(path) || files_now.count(path)) continue;
    auto text = change.base_tree->Read(path, 16u << 20);
    if (!text.ok()) continue;  // added at commit, or not a file at base
    Diagnostics ignored;
    for (const auto& document : ParseYamlDocuments(path, *text, ignored)) {
      JsonCursor root = JsonCursor::Root(document.value());
      std::string kind = root["kind"].string_or("");
      if (kind == "Customer") affected.insert(root["metadata"]["name"].string_or(""));
      if (kind == "PartnerDefaults" || kind == "Repository")
        return std::optional<std::set<std::string>>();
    }
  }
  affected.erase("");
  return std::optional<std::set<std::string>>(std::move(affected));
}

}  // namespace gwctl
