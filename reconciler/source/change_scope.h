// Change scope: what a commit changed, and which manifest files and customers a plan of
// that change must read (a pull request's plan, and the loop's plan of a new commit,
// read only those). A plan of everything needs none of this.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "gateway/status.h"
#include "git_source.h"
#include "gwctl/manifests.h"
#include "gwctl/source.h"

namespace gwctl {

// What changed between two commits: the paths (added, modified, deleted, and both names
// of a rename), and the older commit's tree, to read what was removed.
struct Change {
  std::set<std::string> paths;
  std::unique_ptr<SourceTree> base_tree;
};
gw::Result<Change> CompareCommits(GitSource& git, const std::string& base,
                                  const std::string& commit);

// The manifest files a plan of `change` needs: files that
// define the Repository or PartnerDefaults, changed manifests, and manifests that name a
// changed CSV file. nullopt (read everything) when the Repository or defaults changed.
// Finding them reads the files' bytes, not their YAML.
gw::Result<std::optional<std::set<std::string>>> FilesForChange(const Change& change,
                                                                const SourceTree& at_commit);

// The customers that `change` can affect (for a pull request's plan): those whose
// manifest or CSV files changed, those defined in files deleted or renamed away (read at
// the base), and all of them (nullopt) when gwctl.yaml or the PartnerDefaults file
// changed. `manifests` are those at the newer commit.
gw::Result<std::optional<std::set<std::string>>> CustomersAffected(const Change& change,
                                                                   const Manifests& manifests);

}  // namespace gwctl
