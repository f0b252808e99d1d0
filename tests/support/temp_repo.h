// TempRepo: a repository directory for one test, removed afterwards.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "gwctl/validate.h"

namespace gwctl::testing {

class TempRepo {
 public:
  TempRepo() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gwctl-test-XXXXXX").string();
    root_ = mkdtemp(pattern.data());
  }
  ~TempRepo() { std::filesystem::remove_all(root_); }

  const std::filesystem::path& root() const { return root_; }

  void Write(const std::string& relative, const std::string& contents) const {
    auto path = root_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << contents;
  }

  // The minimal valid gwctl.yaml.
  void WriteRepository(const std::string& name = "northwind") const {
    Write("gwctl.yaml",
          "apiVersion: gwctl/v1\nkind: Repository\nmetadata: {name: " + name + "}\nspec: {}\n");
  }

  ValidationReport Validate() const {
    auto tree = OpenDirectoryTree(root_);
    EXPECT_TRUE(tree.ok()) << tree.status().message();
    auto report = ValidateRepository(**tree);
    EXPECT_TRUE(report.ok()) << report.status().message();
    return std::move(report).value();
  }

 private:
  std::filesystem::path root_;
};

// "file:line:col: severity: message [rule]" for each diagnostic, in order.
inline std::vector<std::string> Lines(const Diagnostics& diagnostics) {
  std::vector<std::string> out;
  for (const auto& d : diagnostics.items()) {
    out.push_back(d.location.file + ":" + std::to_string(d.location.line) + ":" +
                  std::to_string(d.location.column) + ": " +
                  (d.severity == Severity::kError ? "error" : "warning") + ": " + d.message + " [" +
                  d.rule + "]");
  }
  return out;
}

}  // namespace gwctl::testing
