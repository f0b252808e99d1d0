// SourceTree: the files of a partner repository, wherever they live (a directory now;
// a git commit's tree later). Everything gwctl reads from a repository goes through
// it, so the rules that keep reads inside the repository live in one place.
//
// Paths are repository-relative and '/'-separated. A path that leaves the repository,
// lexically ("../x") or through a symbolic link, is refused.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/status.h"
#include "gwctl/diagnostics.h"

namespace gwctl {

class SourceTree {
 public:
  virtual ~SourceTree() = default;

  // How to name the repository in messages, e.g. "examples".
  virtual std::string Describe() const = 0;

  // Every *.yaml and *.yml file, sorted. Hidden directories are skipped, and so is any
  // subdirectory holding its own gwctl.yaml (another repository). Entries that cannot
  // be read safely (symbolic links out of the repository) are reported in `diagnostics`.
  // Fails only when the tree itself cannot be read.
  virtual gw::Result<std::vector<std::string>> ListManifestFiles(
      Diagnostics& diagnostics) const = 0;

  // The contents of `path`. kNotFound if missing, kInvalidArgument if it leaves the
  // repository or is not a regular file, kResourceExhausted if larger than max_bytes,
  // kUnavailable on I/O errors.
  virtual gw::Result<std::string> Read(const std::string& path, size_t max_bytes) const = 0;
};

// A tree rooted at a local directory. Fails if `root` is not a readable directory.
gw::Result<std::unique_ptr<SourceTree>> OpenDirectoryTree(const std::filesystem::path& root);

// True for the names manifests have: *.yaml and *.yml.
bool IsManifestFileName(std::string_view path);

// A view of `tree` whose ListManifestFiles holds only `files` (reads are not limited,
// so CSV files referenced from them still load).
std::unique_ptr<SourceTree> RestrictManifests(std::unique_ptr<SourceTree> tree,
                                              std::set<std::string> files);

// Joins `relative` (as written in a manifest) to the directory of `from_file` and
// normalises "." and ".." lexically. Fails if the result would leave the repository or
// `relative` is absolute.
gw::Result<std::string> ResolveRepositoryPath(const std::string& from_file,
                                              const std::string& relative);

}  // namespace gwctl
