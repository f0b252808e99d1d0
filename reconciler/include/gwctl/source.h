// Sources: where a partner repository's files come from. A SourceTree is the files,
// wherever they live (a directory, or a git commit's tree read with libgit2 without a
// checkout). Everything gwctl reads from a repository goes through one, so the rules
// that keep reads inside the repository live in one place. OpenManifestSource opens
// the one a command names: a directory, or a git repository (a local path read in
// place, committed content only; a URL cloned once into a bare cache and fetched on
// later runs) at a ref, its commit signature checked when asked.
//
// Paths are repository-relative and '/'-separated. A path that leaves the repository,
// lexically ("../x") or through a symbolic link, is refused.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/status.h"
#include "gwctl/diagnostics.h"

namespace gwctl {

class GitSource;

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

// Which commit signatures `--require-signed` accepts: SSH signatures by a key in an
// allowed-signers file (git's gpg.ssh.allowedSignersFile format), GPG signatures by a
// key in a keyring file of allowed public keys.
struct SignaturePolicy {
  std::string allowed_signers;
  std::string gpg_keyring;
};

// Manifests ready to read: a directory, or a git repository at a commit.
struct OpenedSource {
  OpenedSource();
  ~OpenedSource();
  OpenedSource(OpenedSource&&) noexcept;
  OpenedSource& operator=(OpenedSource&&) noexcept;

  std::unique_ptr<GitSource> git;  // set when read from git (private: source/git_source.h)
  std::unique_ptr<SourceTree> tree;
  std::string commit;                // the full commit id read, from git
  std::string display_root;          // prefix for file names in messages ("" from git)
  std::filesystem::path local_root;  // where relative file: secrets and the embedded store live
};

// Where the manifests are: a directory, or a git repository (a path or URL) at a ref.
struct SourceSpec {
  std::string directory = ".";
  std::string repo;       // set: read git instead of the directory
  std::string ref;        // with repo: branch, tag or commit (default HEAD)
  int git_timeout = 120;  // seconds for a clone or fetch
  bool require_signed = false;
  SignaturePolicy signatures;
};

// Opens the manifests `spec` names; `note` hears what was read ("reading URL at COMMIT")
// and a signature that was verified. kPermissionDenied: the commit's signature is
// refused; kInvalidArgument: the spec itself is wrong (--ref without --repo).
gw::Result<OpenedSource> OpenManifestSource(
    const SourceSpec& spec, const std::function<void(const std::string&)>& note = nullptr);

}  // namespace gwctl
