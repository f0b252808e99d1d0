#include "source.h"

#include <iostream>

#include "exit_codes.h"

namespace gwctl::cli {

void AddSourceOptions(CLI::App* command, SourceOptions& options) {
  command->add_option("DIR", options.directory, "The repository directory (holding gwctl.yaml)")
      ->capture_default_str();
  command->add_option(
      "--repo", options.repo,
      "Read the manifests from git instead of DIR: a local repository, or a URL (https://, ssh://, "
      "file://; token from $GWCTL_GIT_TOKEN), without a checkout");
  command->add_option("--ref", options.ref,
                      "With --repo: the branch, tag or commit to read (default HEAD)");
  command
      ->add_option("--git-timeout", options.git_timeout,
                   "With a --repo URL: seconds a clone or fetch may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  command->add_flag("--require-signed", options.require_signed,
                    "With --repo: refuse a commit that is not signed by an allowed key");
  command->add_option("--allowed-signers", options.signatures.allowed_signers,
                      "SSH keys allowed to sign (git's allowed_signers format)");
  command->add_option("--allowed-gpg-keyring", options.signatures.gpg_keyring,
                      "A keyring file of the GPG keys allowed to sign");
}

std::optional<OpenedSource> OpenSource(const SourceOptions& options, int& exit_code,
                                       std::ostream& err) {
  exit_code = kExitCouldNotRun;
  OpenedSource opened;
  if (options.require_signed && options.repo.empty()) {
    err << "gwctl: --require-signed needs --repo\n";
    return std::nullopt;
  }
  if (options.repo.empty()) {
    if (!options.ref.empty()) {
      err << "gwctl: --ref needs --repo\n";
      return std::nullopt;
    }
    auto tree = OpenDirectoryTree(options.directory);
    if (!tree.ok()) {
      err << "gwctl: " << tree.status().message() << "\n";
      return std::nullopt;
    }
    opened.tree = std::move(*tree);
    opened.display_root = options.directory;
    while (opened.display_root.size() > 1 && opened.display_root.back() == '/')
      opened.display_root.pop_back();
    opened.local_root = options.directory;
    return opened;
  }
  GitOptions git_options;
  git_options.timeout_seconds = options.git_timeout;
  auto git = GitSource::Open(options.repo, git_options);
  if (!git.ok()) {
    err << "gwctl: " << git.status().message() << "\n";
    return std::nullopt;
  }
  auto commit = (*git)->Resolve(options.ref.empty() ? "HEAD" : options.ref);
  if (!commit.ok()) {
    err << "gwctl: " << commit.status().message() << "\n";
    return std::nullopt;
  }
  auto tree = (*git)->TreeAt(*commit);
  if (!tree.ok()) {
    err << "gwctl: " << tree.status().message() << "\n";
    return std::nullopt;
  }
  if (options.require_signed) {
    if (gw::Status s = VerifyCommitSignature(**git, *commit, options.signatures); !s.ok()) {
      err << "gwctl: refused: " << s.message() << "\n";
      exit_code = kExitRefused;
      return std::nullopt;
    }
    err << "gwctl: commit " << commit->substr(0, 12) << " is signed by an allowed key\n";
  }
  opened.git = std::move(*git);
  opened.tree = std::move(*tree);
  opened.commit = *commit;
  opened.local_root = ".";
  err << "gwctl: reading " << options.repo << " at " << commit->substr(0, 12)
      << (options.ref.empty() ? "" : " (" + options.ref + ")") << "\n";
  return opened;
}

std::optional<ValidatedSource> OpenAndValidate(const SourceOptions& options, int& exit_code,
                                               std::ostream& err) {
  auto source = OpenSource(options, exit_code, err);
  if (!source) return std::nullopt;
  auto report = ValidateRepository(*source->tree);
  if (!report.ok()) {
    err << "gwctl: " << report.status().message() << "\n";
    exit_code = kExitCouldNotRun;
    return std::nullopt;
  }
  return ValidatedSource{std::move(*source), std::move(*report)};
}

}  // namespace gwctl::cli
