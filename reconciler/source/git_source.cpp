#include "git_source.h"

#include <fcntl.h>
#include <git2.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "gateway/model.h"

namespace gwctl {

namespace fs = std::filesystem;
using gw::Result;
using gw::Status;
using gw::StatusCode;

namespace {

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

std::string LastError(const char* fallback) {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : fallback;
}

template <typename T, void (*Free)(T*)>
struct Owned {
  T* ptr = nullptr;
  ~Owned() {
    if (ptr) Free(ptr);
  }
  T** out() { return &ptr; }
  T* get() const { return ptr; }
};

using Repository = Owned<git_repository, git_repository_free>;
using Object = Owned<git_object, git_object_free>;
using Commit = Owned<git_commit, git_commit_free>;
using Tree = Owned<git_tree, git_tree_free>;
using Blob = Owned<git_blob, git_blob_free>;
using Remote = Owned<git_remote, git_remote_free>;
using Diff = Owned<git_diff, git_diff_free>;

int Credentials(git_credential** out, const char*, const char*, unsigned int allowed,
                void* payload) {
  const GitOptions* options = static_cast<const GitOptions*>(payload);
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !options->token.empty()) {
    return git_credential_userpass_plaintext_new(out, options->username.c_str(),
                                                 options->token.c_str());
  }
  if (allowed & GIT_CREDENTIAL_SSH_KEY) return git_credential_ssh_key_from_agent(out, "git");
  return GIT_PASSTHROUGH;
}

// The files of one commit's tree, indexed once: looking paths up in git trees one by
// one re-reads large directories for every file.
class GitTree final : public SourceTree {
 public:
  GitTree(git_repository* repo, git_tree* tree, std::string description)
      : repo_(repo), description_(std::move(description)) {
    auto visit = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
      auto* self = static_cast<GitTree*>(payload);
      git_filemode_t mode = git_tree_entry_filemode(entry);
      if (mode == GIT_FILEMODE_TREE || mode == GIT_FILEMODE_COMMIT) return 0;
      self->entries_.emplace(std::string(root) + git_tree_entry_name(entry),
                             Entry{*git_tree_entry_id(entry), mode});
      return 0;
    };
    walked_ = git_tree_walk(tree, GIT_TREEWALK_PRE, visit, this) == 0;
    git_tree_free(tree);
  }

  std::string Describe() const override { return description_; }

  Result<std::vector<std::string>> ListManifestFiles(Diagnostics& diagnostics) const override {
    if (!walked_) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("{}: {}", description_, LastError("cannot walk the tree")));
    }
    auto hidden = [](const std::string& path) {
      return path.front() == '.' || path.find("/.") != std::string::npos;
    };
    std::set<std::string>
        nested_repositories;  // directories (with '/') holding their own gwctl.yaml
    for (const auto& [path, entry] : entries_) {
      auto slash = path.rfind('/');
      if (slash != std::string::npos && path.substr(slash + 1) == "gwctl.yaml") {
        nested_repositories.insert(path.substr(0, slash + 1));
      }
    }
    std::vector<std::string> files;
    for (const auto& [path, entry] : entries_) {
      if (!IsManifestFileName(path) || hidden(path)) continue;
      bool nested =
          std::any_of(nested_repositories.begin(), nested_repositories.end(),
                      [&path = path](const std::string& dir) { return path.rfind(dir, 0) == 0; });
      if (nested) continue;
      if (entry.mode == GIT_FILEMODE_LINK) {
        auto target = LinkTarget(path);
        if (!target.ok()) {
          diagnostics.Error({path, 0, 0}, "path-escape", target.status().message());
          continue;
        }
      }
      files.push_back(path);
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  Result<std::string> Read(const std::string& path, size_t max_bytes) const override {
    std::string resolved = path;
    for (int hops = 0; hops < 8; ++hops) {
      auto it = entries_.find(resolved);
      if (it == entries_.end()) {
        return Status(StatusCode::kNotFound,
                      fmt::format("{}: no such file in {}", path, description_));
      }
      if (it->second.mode == GIT_FILEMODE_LINK) {
        auto target = LinkTarget(resolved);
        if (!target.ok()) return target.status();
        resolved = *target;
        continue;
      }
      if (it->second.mode != GIT_FILEMODE_BLOB && it->second.mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
        return Status::Invalid(fmt::format("{}: not a regular file", path));
      }
      return ReadBlob(it->second.id, path, max_bytes);
    }
    return Status::Invalid(fmt::format("{}: too many symbolic links", path));
  }

 private:
  struct Entry {
    git_oid id;
    git_filemode_t mode;
  };

  Result<std::string> ReadBlob(const git_oid& id, const std::string& path, size_t max_bytes) const {
    Blob blob;
    if (git_blob_lookup(blob.out(), repo_, &id) != 0) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("{}: {}", path, LastError("cannot read the blob")));
    }
    auto size = static_cast<size_t>(git_blob_rawsize(blob.get()));
    if (size > max_bytes) {
      return Status(StatusCode::kResourceExhausted,
                    fmt::format("{}: {} bytes, over the limit of {} bytes", path, size, max_bytes));
    }
    return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())), size);
  }

  // Where a symbolic link in the tree points, as a path in the tree; an error if it
  // leaves the repository.
  Result<std::string> LinkTarget(const std::string& path) const {
    auto it = entries_.find(path);
    if (it == entries_.end())
      return Status(StatusCode::kNotFound, fmt::format("{}: no such file", path));
    auto target = ReadBlob(it->second.id, path, 4096);
    if (!target.ok()) return target.status();
    auto resolved = ResolveRepositoryPath(path, *target);
    if (!resolved.ok()) {
      return Status(
          StatusCode::kInvalidArgument,
          fmt::format("symbolic link points outside the repository ({}); not read", *target));
    }
    return *resolved;
  }

  git_repository* repo_;
  std::string description_;
  std::unordered_map<std::string, Entry> entries_;
  bool walked_ = false;
};

}  // namespace

struct GitSource::Impl {
  Repository repo;
  GitOptions options;
};

GitSource::GitSource(std::unique_ptr<Impl> impl, std::string location)
    : impl_(std::move(impl)), location_(std::move(location)) {}
GitSource::~GitSource() = default;

namespace {

// Brings the bare cache at `path` up to date with `location`: a fetch if it is there, a
// fresh clone if not (or if it is damaged).
Status CloneOrFetch(const std::string& location, const fs::path& path, const GitOptions& options) {
  Repository repo;
  git_fetch_options fetch = GIT_FETCH_OPTIONS_INIT;
  fetch.callbacks.credentials = Credentials;
  fetch.callbacks.payload = const_cast<GitOptions*>(&options);
  fetch.prune = GIT_FETCH_PRUNE;
  fetch.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
  std::error_code ec;
  if (fs::exists(path / "HEAD", ec) && git_repository_open_bare(repo.out(), path.c_str()) == 0) {
    Remote remote;
    if (git_remote_lookup(remote.out(), repo.get(), "origin") == 0) {
      // Branches mirror the remote's, force-pushes included.
      const char* refspecs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
      git_strarray specs = {const_cast<char**>(refspecs), 2};
      if (git_remote_fetch(remote.get(), &specs, &fetch, "gwctl fetch") != 0) {
        return Status(StatusCode::kUnavailable,
                      fmt::format("cannot fetch {}: {}", location, LastError("fetch failed")));
      }
      return Status::Ok();
    }
  }
  Repository cloned;
  fs::remove_all(path, ec);
  fs::create_directories(path.parent_path(), ec);
  git_clone_options clone = GIT_CLONE_OPTIONS_INIT;
  clone.bare = 1;
  clone.fetch_opts = fetch;
  // A bare clone keeps the remote's branches as its own (refs/heads/*).
  clone.remote_cb = [](git_remote** out, git_repository* r, const char* name, const char* url,
                       void*) {
    return git_remote_create_with_fetchspec(out, r, name, url, "+refs/heads/*:refs/heads/*");
  };
  if (git_clone(cloned.out(), location.c_str(), path.c_str(), &clone) != 0) {
    std::string why = LastError("clone failed");
    fs::remove_all(path, ec);
    return Status(StatusCode::kUnavailable, fmt::format("cannot clone {}: {}", location, why));
  }
  return Status::Ok();
}

// Runs `work` in a child process and waits at most `seconds` for it; the child's Status
// comes back through a pipe.
Status WithDeadline(int seconds, const std::function<Status()>& work) {
  int fds[2];
  if (pipe(fds) != 0) return work();
  pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return work();
  }
  if (child == 0) {
    close(fds[0]);
    Status status = work();
    std::string message = status.ok() ? "" : status.message();
    ssize_t ignored = write(fds[1], message.data(), message.size());
    (void)ignored;
    _exit(status.ok() ? 0 : 1);
  }
  close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string message;
  int status = 0;
  while (true) {
    pid_t done = waitpid(child, &status, WNOHANG);
    char buffer[1024];
    pollfd fd{fds[0], POLLIN, 0};
    if (poll(&fd, 1, done ? 0 : 50) > 0) {
      ssize_t n = read(fds[0], buffer, sizeof buffer);
      if (n > 0) message.append(buffer, static_cast<size_t>(n));
    }
    if (done == child) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      close(fds[0]);
      return Status(
          StatusCode::kUnavailable,
          fmt::format("gave up after {} s (the git server did not answer in time)", seconds));
    }
  }
  close(fds[0]);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Status(StatusCode::kUnavailable, message.empty() ? "the git transfer failed" : message);
}

}  // namespace

Result<std::unique_ptr<GitSource>> GitSource::Open(const std::string& location,
                                                   const GitOptions& given) {
  InitOnce();
  auto impl = std::make_unique<Impl>();
  impl->options = given;
  if (impl->options.token.empty()) {
    if (const char* token = std::getenv("GWCTL_GIT_TOKEN")) impl->options.token = token;
  }
  bool is_url =
      location.find("://") != std::string::npos ||
      (location.find('@') != std::string::npos && location.find(':') != std::string::npos);
  if (!is_url) {
    if (git_repository_open_ext(impl->repo.out(), location.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH,
                                nullptr) != 0) {
      return Status(StatusCode::kUnavailable, fmt::format("{} is not a git repository: {}",
                                                          location, LastError("cannot open it")));
    }
    return std::unique_ptr<GitSource>(new GitSource(std::move(impl), location));
  }

  std::string cache = impl->options.cache_dir;
  if (cache.empty()) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    cache = xdg && *xdg ? fs::path(xdg) / "gwctl" / "git"
                        : fs::path(home ? home : "/tmp") / ".cache" / "gwctl" / "git";
  }
  // One bare clone per URL; the name is a hash so any URL makes a safe directory name.
  fs::path path = fs::path(cache) / gw::ContentChecksum(location).substr(7, 24);
  // libgit2 1.5 has no network timeouts: the clone or fetch runs in a child process that
  // is stopped at the deadline. (gwctl has started no threads yet when it gets here.)
  Status fetched = WithDeadline(impl->options.timeout_seconds, [&]() -> Status {
    return CloneOrFetch(location, path, impl->options);
  });
  if (!fetched.ok()) return fetched;
  if (git_repository_open_bare(impl->repo.out(), path.c_str()) != 0) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cache {}: {}", path.string(), LastError("cannot open it")));
  }
  return std::unique_ptr<GitSource>(new GitSource(std::move(impl), location));
}

Result<std::string> GitSource::Resolve(const std::string& ref) {
  for (const std::string& candidate :
       {ref, "refs/tags/" + ref, "refs/heads/" + ref, "refs/remotes/origin/" + ref}) {
    Object object;
    if (git_revparse_single(object.out(), impl_->repo.get(), (candidate + "^{commit}").c_str()) ==
        0) {
      char id[GIT_OID_HEXSZ + 1] = {};
      git_oid_tostr(id, sizeof id, git_object_id(object.get()));
      return std::string(id);
    }
  }
  return Status(StatusCode::kNotFound,
                fmt::format("{}: no branch, tag or commit named '{}'", location_, ref));
}

Result<std::unique_ptr<SourceTree>> GitSource::TreeAt(const std::string& commit_id) {
  git_oid oid;
  Commit commit;
  if (git_oid_fromstr(&oid, commit_id.c_str()) != 0 ||
      git_commit_lookup(commit.out(), impl_->repo.get(), &oid) != 0) {
    return Status(StatusCode::kNotFound, fmt::format("{}: no commit {}", location_, commit_id));
  }
  git_tree* tree = nullptr;
  if (git_commit_tree(&tree, commit.get()) != 0) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("{}: {}", location_, LastError("cannot read the tree")));
  }
  std::unique_ptr<SourceTree> out = std::make_unique<GitTree>(
      impl_->repo.get(), tree, fmt::format("{}@{}", location_, commit_id.substr(0, 7)));
  return out;
}

Result<std::vector<std::string>> GitSource::ChangedPaths(const std::string& from_commit,
                                                         const std::string& to_commit) {
  auto tree_of = [&](const std::string& id, Tree& tree) -> Status {
    git_oid oid;
    Commit commit;
    if (git_oid_fromstr(&oid, id.c_str()) != 0 ||
        git_commit_lookup(commit.out(), impl_->repo.get(), &oid) != 0 ||
        git_commit_tree(tree.out(), commit.get()) != 0) {
      return Status(StatusCode::kNotFound, fmt::format("{}: no commit {}", location_, id));
    }
    return Status::Ok();
  };
  Tree from, to;
  if (Status s = tree_of(from_commit, from); !s.ok()) return s;
  if (Status s = tree_of(to_commit, to); !s.ok()) return s;
  Diff diff;
  if (git_diff_tree_to_tree(diff.out(), impl_->repo.get(), from.get(), to.get(), nullptr) != 0) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("{}: {}", location_, LastError("diff failed")));
  }
  git_diff_find_options find = GIT_DIFF_FIND_OPTIONS_INIT;
  find.flags = GIT_DIFF_FIND_RENAMES;
  git_diff_find_similar(diff.get(), &find);
  std::set<std::string> paths;
  for (size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
    if (delta->old_file.path) paths.insert(delta->old_file.path);
    if (delta->new_file.path) paths.insert(delta->new_file.path);
  }
  return std::vector<std::string>(paths.begin(), paths.end());
}

Result<std::pair<std::string, std::string>> GitSource::CommitSignature(const std::string& commit) {
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0) {
    return Status(StatusCode::kNotFound, fmt::format("{}: no commit {}", location_, commit));
  }
  git_buf signature = GIT_BUF_INIT, data = GIT_BUF_INIT;
  int rc = git_commit_extract_signature(&signature, &data, impl_->repo.get(), &oid, nullptr);
  if (rc != 0) {
    git_buf_dispose(&signature);
    git_buf_dispose(&data);
    return Status(StatusCode::kNotFound,
                  fmt::format("commit {} is not signed", commit.substr(0, 12)));
  }
  std::pair<std::string, std::string> out(std::string(signature.ptr, signature.size),
                                          std::string(data.ptr, data.size));
  git_buf_dispose(&signature);
  git_buf_dispose(&data);
  return out;
}

namespace {

// Runs a program (no shell) with stdin from a file; returns its exit code and output.
int RunTool(const std::vector<std::string>& argv, const std::string& stdin_file,
            std::string& output, const std::vector<std::string>& environment = {}) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(stdin_file.empty() ? "/dev/null" : stdin_file.c_str(), O_RDONLY);
    dup2(in, STDIN_FILENO);
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    for (const auto& assignment : environment) putenv(const_cast<char*>(assignment.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0)
    output.append(buffer, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

Status VerifyCommitSignature(GitSource& git, const std::string& commit,
                             const SignaturePolicy& policy) {
  std::string short_id = commit.substr(0, 12);
  auto signed_commit = git.CommitSignature(commit);
  if (!signed_commit.ok()) {
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("commit {} is not signed, and --require-signed is set", short_id));
  }
  const auto& [signature, data] = *signed_commit;
  // A directory of our own (mkdtemp: new, 0700): a name another user could create first
  // would let them swap the signed data before it is checked.
  std::string pattern = (fs::temp_directory_path() / "gwctl-verify-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("commit {}: cannot make a temporary directory: {}", short_id,
                              std::strerror(errno)));
  }
  fs::path dir = pattern;
  std::error_code ec;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};
  std::ofstream(dir / "signature", std::ios::binary) << signature;
  std::ofstream(dir / "data", std::ios::binary) << data;
  std::string output;
  auto refuse = [&](const std::string& why) {
    return Status(StatusCode::kFailedPrecondition, fmt::format("commit {}: {}", short_id, why));
  };
  if (signature.rfind("-----BEGIN SSH SIGNATURE-----", 0) == 0) {
    if (policy.allowed_signers.empty())
      return refuse("signed with SSH, but no --allowed-signers file was given");
    std::string signers = fs::absolute(policy.allowed_signers).string();
    if (RunTool({"ssh-keygen", "-Y", "find-principals", "-f", signers, "-s",
                 (dir / "signature").string()},
                "", output) != 0) {
      return refuse("signed by an SSH key that is not in " + policy.allowed_signers);
    }
    std::string principal = output.substr(0, output.find('\n'));
    output.clear();
    if (RunTool({"ssh-keygen", "-Y", "verify", "-f", signers, "-I", principal, "-n", "git", "-s",
                 (dir / "signature").string()},
                (dir / "data").string(), output) != 0) {
      return refuse("the SSH signature does not verify: " + output.substr(0, output.find('\n')));
    }
    return Status::Ok();
  }
  if (signature.rfind("-----BEGIN PGP SIGNATURE-----", 0) == 0) {
    if (policy.gpg_keyring.empty())
      return refuse("signed with GPG, but no --allowed-gpg-keyring was given");
    fs::create_directories(dir / "gnupg", ec);
    fs::permissions(dir / "gnupg", fs::perms::owner_all, ec);
    if (RunTool({"gpg", "--batch", "--no-default-keyring", "--keyring",
                 fs::absolute(policy.gpg_keyring).string(), "--trust-model", "always", "--verify",
                 (dir / "signature").string(), (dir / "data").string()},
                "", output, {"GNUPGHOME=" + (dir / "gnupg").string()}) != 0) {
      return refuse("the GPG signature is not by a key in " + policy.gpg_keyring);
    }
    return Status::Ok();
  }
  return refuse("the signature is of an unknown kind");
}

}  // namespace gwctl
