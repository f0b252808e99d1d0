#include <fmt/format.h>

#include "git_source.h"

namespace gwctl {

// Out of line: GitSource is complete only here.
OpenedSource::OpenedSource() = default;
OpenedSource::~OpenedSource() = default;
OpenedSource::OpenedSource(OpenedSource&&) noexcept = default;
OpenedSource& OpenedSource::operator=(OpenedSource&&) noexcept = default;

gw::Result<OpenedSource> OpenManifestSource(const SourceSpec& spec,
                                            const std::function<void(const std::string&)>& note) {
  auto wrong = [](const char* why) { return gw::Status::Invalid(why); };
  OpenedSource opened;
  if (spec.require_signed && spec.repo.empty()) return wrong("--require-signed needs --repo");
  if (spec.repo.empty()) {
    if (!spec.ref.empty()) return wrong("--ref needs --repo");
    auto tree = OpenDirectoryTree(spec.directory);
    if (!tree.ok()) return tree.status();
    opened.tree = std::move(*tree);
    opened.display_root = spec.directory;
    while (opened.display_root.size() > 1 && opened.display_root.back() == '/')
      opened.display_root.pop_back();
    opened.local_root = spec.directory;
    return opened;
  }
  GitOptions git_options;
  git_options.timeout_seconds = spec.git_timeout;
  auto git = GitSource::Open(spec.repo, git_options);
  if (!git.ok()) return git.status();
  auto commit = (*git)->Resolve(spec.ref.empty() ? "HEAD" : spec.ref);
  if (!commit.ok()) return commit.status();
  auto tree = (*git)->TreeAt(*commit);
  if (!tree.ok()) return tree.status();
  if (spec.require_signed) {
    if (gw::Status s = VerifyCommitSignature(**git, *commit, spec.signatures); !s.ok()) {
      return gw::Status(gw::StatusCode::kPermissionDenied, s.message());
    }
    if (note) note(fmt::format("commit {} is signed by an allowed key", commit->substr(0, 12)));
  }
  opened.git = std::move(*git);
  opened.tree = std::move(*tree);
  opened.commit = *commit;
  opened.local_root = ".";
  if (note) {
    note(fmt::format("reading {} at {}{}", spec.repo, commit->substr(0, 12),
                     spec.ref.empty() ? "" : " (" + spec.ref + ")"));
  }
  return opened;
}

}  // namespace gwctl
