// GitSource: a partner repository read straight from git with libgit2, at any branch,
// tag or commit, without a checkout. A local repository (a working copy or a bare one)
// is read in place, committed content only; a URL (file://, https://, ssh://, git://)
// is cloned once into a bare cache and fetched on later runs, force-pushes included.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/status.h"
#include "gwctl/source.h"

namespace gwctl {

struct GitOptions {
  std::string cache_dir;  // where remote repositories are kept (default: $XDG_CACHE_HOME or
                          // ~/.cache, /gwctl/git)
  std::string token;      // for https: sent as the password (default: $GWCTL_GIT_TOKEN)
  // Sent with the token: GitHub's convention; GitLab accepts any name.
  std::string username = "x-access-token";
  int timeout_seconds = 120;  // for a clone or fetch as a whole: stopped after this
};

class GitSource {
 public:
  // Opens `location`: an existing local path, or a URL to clone or fetch. Failures to
  // reach a remote are kUnavailable with what git said.
  static gw::Result<std::unique_ptr<GitSource>> Open(const std::string& location,
                                                     const GitOptions& options = {});
  ~GitSource();

  // The full commit id that `ref` names: a branch, a tag, a commit (abbreviated or not),
  // HEAD, or anything git rev-parse accepts. kNotFound with the ref when it names nothing.
  gw::Result<std::string> Resolve(const std::string& ref);

  // The files of `commit` as a SourceTree. Symbolic links are followed only inside it.
  gw::Result<std::unique_ptr<SourceTree>> TreeAt(const std::string& commit);

  // Paths that differ between two commits: added, modified, deleted, and both names of
  // a rename.
  gw::Result<std::vector<std::string>> ChangedPaths(const std::string& from_commit,
                                                    const std::string& to_commit);

  const std::string& location() const { return location_; }

  // The signature and the signed bytes of a commit; kNotFound when it is unsigned.
  gw::Result<std::pair<std::string, std::string>> CommitSignature(const std::string& commit);

  GitSource(const GitSource&) = delete;
  GitSource& operator=(const GitSource&) = delete;

 private:
  struct Impl;
  GitSource(std::unique_ptr<Impl> impl, std::string location);
  std::unique_ptr<Impl> impl_;
  std::string location_;
};

// OK when `commit` carries a signature that verifies against the policy; otherwise
// kFailedPrecondition saying why (unsigned, unknown key, bad signature). Verification
// runs ssh-keygen -Y verify or gpg --verify.
gw::Status VerifyCommitSignature(GitSource& git, const std::string& commit,
                                 const SignaturePolicy& policy);

}  // namespace gwctl
