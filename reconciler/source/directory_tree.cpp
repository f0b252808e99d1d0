#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "gwctl/source.h"

namespace gwctl {

namespace fs = std::filesystem;
using gw::Result;
using gw::Status;
using gw::StatusCode;

namespace {

bool IsInside(const fs::path& root, const fs::path& path) {
  auto r = root.begin(), p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

class DirectoryTree final : public SourceTree {
 public:
  DirectoryTree(fs::path root, fs::path canonical_root, std::string description)
      : root_(std::move(root)),
        canonical_root_(std::move(canonical_root)),
        description_(std::move(description)) {}

  std::string Describe() const override { return description_; }

  Result<std::vector<std::string>> ListManifestFiles(Diagnostics& diagnostics) const override {
    std::vector<std::string> files;
    std::error_code ec;
    fs::recursive_directory_iterator it(root_, fs::directory_options::none, ec);
    if (ec)
      return Status(StatusCode::kUnavailable,
                    fmt::format("cannot read {}: {}", description_, ec.message()));
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        return Status(StatusCode::kUnavailable,
                      fmt::format("cannot read {}: {}", description_, ec.message()));
      }
      const fs::directory_entry& entry = *it;
      std::string relative = fs::path(entry.path()).lexically_relative(root_).generic_string();
      std::string name = entry.path().filename().string();
      if (!name.empty() && name.front() == '.') {
        if (entry.is_directory(ec) && !entry.is_symlink(ec)) it.disable_recursion_pending();
        continue;
      }
      if (entry.is_symlink(ec)) {
        fs::path target = fs::weakly_canonical(entry.path(), ec);
        bool leaves = ec || !IsInside(canonical_root_, target);
        bool is_manifest = IsManifestFileName(entry.path().string());
        if (leaves && (is_manifest || fs::is_directory(entry.path(), ec))) {
          diagnostics.Error(
              {relative, 0, 0}, "path-escape",
              fmt::format("symbolic link points outside the repository ({}); not read",
                          fs::read_symlink(entry.path(), ec).string()));
        } else if (is_manifest && fs::is_regular_file(target, ec)) {
          files.push_back(relative);
        }
        // A link to a directory inside the repository is not followed: its target is
        // read once, under its own name.
        continue;
      }
      if (entry.is_directory(ec)) {
        if (fs::exists(entry.path() / "gwctl.yaml", ec)) it.disable_recursion_pending();
        continue;
      }
      if (entry.is_regular_file(ec) && IsManifestFileName(entry.path().string()))
        files.push_back(relative);
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  Result<std::string> Read(const std::string& path, size_t max_bytes) const override {
    fs::path full = root_ / fs::path(path);
    std::error_code ec;
    fs::path canonical = fs::canonical(full, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) {
        return Status(StatusCode::kNotFound, fmt::format("{}: no such file", path));
      }
      return Status(StatusCode::kUnavailable, fmt::format("{}: {}", path, ec.message()));
    }
    if (!IsInside(canonical_root_, canonical)) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{}: leaves the repository (through a symbolic link)", path));
    }
    if (!fs::is_regular_file(canonical, ec)) {
      return Status::Invalid(fmt::format("{}: not a regular file", path));
    }
    auto size = fs::file_size(canonical, ec);
    if (ec) return Status(StatusCode::kUnavailable, fmt::format("{}: {}", path, ec.message()));
    if (size > max_bytes) {
      return Status(StatusCode::kResourceExhausted,
                    fmt::format("{}: {} bytes, over the limit of {} bytes", path, size, max_bytes));
    }
    std::ifstream in(canonical, std::ios::binary);
    std::string contents(size, '\0');
    if (!in.read(contents.data(), static_cast<std::streamsize>(size))) {
      return Status(StatusCode::kUnavailable, fmt::format("{}: read failed", path));
    }
    return contents;
  }

 private:
  fs::path root_;
  fs::path canonical_root_;
  std::string description_;
};

class RestrictedTree final : public SourceTree {
 public:
  RestrictedTree(std::unique_ptr<SourceTree> inner, std::set<std::string> files)
      : inner_(std::move(inner)), files_(std::move(files)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Result<std::vector<std::string>> ListManifestFiles(Diagnostics& diagnostics) const override {
    auto all = inner_->ListManifestFiles(diagnostics);
    if (!all.ok()) return all;
    std::vector<std::string> kept;
    for (auto& f : *all) {
      if (files_.count(f)) kept.push_back(std::move(f));
    }
    return kept;
  }
  Result<std::string> Read(const std::string& path, size_t max_bytes) const override {
    return inner_->Read(path, max_bytes);
  }

 private:
  std::unique_ptr<SourceTree> inner_;
  std::set<std::string> files_;
};

}  // namespace

bool IsManifestFileName(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() > suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  return ends_with(".yaml") || ends_with(".yml");
}

std::unique_ptr<SourceTree> RestrictManifests(std::unique_ptr<SourceTree> tree,
                                              std::set<std::string> files) {
  return std::make_unique<RestrictedTree>(std::move(tree), std::move(files));
}

Result<std::unique_ptr<SourceTree>> OpenDirectoryTree(const fs::path& root) {
  std::error_code ec;
  fs::path canonical = fs::canonical(root, ec);
  if (ec)
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot open {}: {}", root.string(), ec.message()));
  if (!fs::is_directory(canonical, ec)) {
    return Status(StatusCode::kUnavailable, fmt::format("{} is not a directory", root.string()));
  }
  std::unique_ptr<SourceTree> tree =
      std::make_unique<DirectoryTree>(root, canonical, root.string());
  return tree;
}

Result<std::string> ResolveRepositoryPath(const std::string& from_file,
                                          const std::string& relative) {
  fs::path written(relative);
  if (written.is_absolute()) {
    return Status(
        StatusCode::kInvalidArgument,
        fmt::format("'{}' is absolute; paths are relative to the manifest, inside the repository",
                    relative));
  }
  fs::path joined = (fs::path(from_file).parent_path() / written).lexically_normal();
  std::string result = joined.generic_string();
  if (result.empty() || result == "." || result == ".." || result.rfind("../", 0) == 0) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("'{}' leaves the repository", relative));
  }
  return result;
}

}  // namespace gwctl
