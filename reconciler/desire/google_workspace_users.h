// Users from Google Workspace, read through the Admin SDK Directory API.
//
// Credentials: a service account's JSON key, with domain-wide delegation of the scopes
// admin.directory.user.readonly and admin.directory.group.readonly, acting as one of the
// Workspace's administrators (adminEmail). Its private key signs the token request (a
// JWT bearer grant); the key itself never crosses the network.
//
// Reading: users.list and groups.list for the account, every page (pageToken). The
// Directory API has no delta query (its push channels need an address on the internet
// that Google can call), so every read is a full one: 500 users a page, 100 requests for
// 50,000 users. A list with no entries has no "users" key at all: that is an empty list,
// while a page token without entries is a page still to follow.
//
// Mapping: a user's primaryEmail is its address, its aliases and nonEditableAliases in
// the customer's domains its aliases; groups (groups: true) are recipients by their
// email and aliases. Suspended and archived users are recipients unless skipSuspended or
// skipArchived say otherwise. `exclude` works as for Microsoft 365 (a group's direct
// members, read only when a group is excluded).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud_directory.h"
#include "gwctl/desired_state.h"

namespace gwctl {

struct GoogleWorkspaceSource {
  std::string service_account_ref;
  std::string admin_email;
  std::string customer_id = "my_customer";
  bool groups = true;
  bool skip_suspended = false;
  bool skip_archived = false;
  DirectoryExclusions exclude;
  std::optional<int64_t> min_users;
  int timeout_seconds = 30;

  static GoogleWorkspaceSource FromJson(const nlohmann::json& source);
  std::string Name() const { return "googleWorkspace " + admin_email; }
};

// Where Google's token endpoint and the Directory API live; GWCTL_GOOGLE_TOKEN_URL and
// GWCTL_GOOGLE_DIRECTORY_URL override them.
struct GoogleEndpoints {
  std::string token;      // https://oauth2.googleapis.com/token
  std::string directory;  // https://admin.googleapis.com (the API is under /admin/directory/v1)
  static GoogleEndpoints Get();
};

// The account as read: users and groups with the fields the mapping uses, and the
// members of excluded groups.
struct WorkspaceDirectory {
  std::vector<nlohmann::json> users, groups;
  std::set<std::string> excluded_members;  // user ids and addresses, lowercased
  size_t pages = 0;
};

class WorkspaceReader {
 public:
  // `key` is the service account's JSON key as downloaded from Google Cloud.
  WorkspaceReader(GoogleWorkspaceSource source, std::string key, CloudHttp& http);
  gw::Result<WorkspaceDirectory> Read();

 private:
  gw::Result<std::string> Token();
  // Every entry of a list (`field` of each page), following nextPageToken.
  gw::Result<std::vector<nlohmann::json>> List(const std::string& url, const std::string& field,
                                               size_t& pages);
  std::string Fail(const std::string& what) const;

  GoogleWorkspaceSource source_;
  std::string key_;
  CloudHttp& http_;
  GoogleEndpoints endpoints_;
  std::string token_;
};

std::vector<DirectoryObject> WorkspaceRecipients(const WorkspaceDirectory& directory,
                                                 const GoogleWorkspaceSource& source,
                                                 std::map<std::string, size_t>& left_out);

UserSourceResolver GoogleWorkspaceUserResolver(DirectoryReading reading);

}  // namespace gwctl
