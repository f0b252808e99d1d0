// Users from Microsoft 365 (Entra ID), read through Microsoft Graph.
//
// Credentials: the customer's app registration, with the application permissions
// User.Read.All and GroupMember.Read.All (or Directory.Read.All) consented by its admin.
// Its client secret, or its certificate whose private key signs the token request (no
// secret crosses the network), buys a Graph token for the ".default" scope.
//
// Reading: users and groups through delta queries. The first read follows every
// @odata.nextLink to the @odata.deltaLink. With a cache directory the objects read and
// both delta links are kept there, and the next read asks only for what changed since
// (objects changed, @removed, members@delta, the same object more than once all merge).
// A 410 from Graph, or delta links older than their 7 days, mean a full read. The
// cache is of the directory, never of the gateway: a plan always compares every user
// the directory has with the gateway, so a lost cache costs one full read, not a change.
//
// Mapping: a user's addresses are its proxyAddresses' SMTP: (primary) and smtp: entries
// (or `mail`) in the customer's domains. Shared mailboxes are users, usually with sign-in
// blocked and no licence: they are recipients unless skipDisabled or skipUnlicensed say
// otherwise. Mail-enabled groups are recipients too (groups: true). Addresses and groups
// under `exclude` are left out ("exempt from sync"); an excluded group's direct members
// are left out, nested groups are not expanded.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud_directory.h"
#include "gwctl/desired_state.h"

namespace gwctl {

struct Microsoft365Source {
  std::string tenant;
  std::string client_id;
  std::string client_secret_ref;  // one of these two
  std::string certificate_ref;
  std::string client_secret_expires;  // YYYY-MM-DD, if the partner wrote it down
  std::string cloud = "global";
  bool groups = true;
  bool skip_disabled = false;
  bool skip_unlicensed = false;
  DirectoryExclusions exclude;
  std::optional<int64_t> min_users;
  int timeout_seconds = 30;

  static Microsoft365Source FromJson(const nlohmann::json& source);
  std::string Name() const { return "microsoft365 " + tenant; }
};

// Where a cloud's login and Graph live; the GWCTL_MICROSOFT_LOGIN_URL and
// GWCTL_MICROSOFT_GRAPH_URL environment variables override them.
struct GraphEndpoints {
  std::string login;  // https://login.microsoftonline.com
  std::string graph;  // https://graph.microsoft.com (the API is under /v1.0)
  static GraphEndpoints For(const std::string& cloud);
};

// One user or group as Graph described it, in the few fields the mapping reads (a
// tenant of 50,000 users is kept in a few tens of MB, not as Graph's JSON).
struct GraphObject {
  std::string name;  // userPrincipalName, or a group's displayName
  std::string mail;
  std::vector<std::string> proxy_addresses;
  std::string given_name, surname;
  bool enabled = true;               // accountEnabled
  bool licensed = true;              // assignedLicenses is not empty
  bool mail_enabled = false;         // groups
  std::vector<std::string> members;  // groups, sorted ids (read only when a group is excluded)

  // Applies what a delta item says (only the properties it has).
  void Merge(const nlohmann::json& item);
  nlohmann::json ToJson() const;
  static GraphObject FromJson(const nlohmann::json& saved);
  bool operator==(const GraphObject&) const = default;
};

// A tenant as read: every user and group by id, and the delta links that continue from
// them.
struct GraphSnapshot {
  std::map<std::string, GraphObject> users, groups;
  std::string users_delta, groups_delta;
  std::string read_at;  // RFC 3339: when the delta links were handed out

  nlohmann::json ToJson() const;
  static gw::Result<GraphSnapshot> FromJson(const nlohmann::json& saved);
};

struct GraphReadStats {
  bool full = true;
  std::string why_full;  // "no earlier read", "Graph asked for a full read (410)", ...
  size_t pages = 0;
  size_t changes = 0;  // objects changed or removed (a delta read)
};

class GraphReader {
 public:
  // `credential` is the client secret, or the PEM of the certificate and its key.
  GraphReader(Microsoft365Source source, std::string credential, CloudHttp& http);

  // The tenant now: from `known` through its delta links, or read in full.
  gw::Result<GraphSnapshot> Read(std::optional<GraphSnapshot> known, GraphReadStats& stats);

 private:
  gw::Result<std::string> Token(bool renew);
  gw::Status ReadRound(const std::string& start, bool groups, GraphSnapshot& into,
                       GraphReadStats& stats, bool& gone);
  std::string Fail(const std::string& what) const;

  Microsoft365Source source_;
  std::string credential_;
  CloudHttp& http_;
  GraphEndpoints endpoints_;
  std::string token_;
};

// The recipients of a snapshot as directory objects, with what the source's settings left
// out counted in `left_out`.
std::vector<DirectoryObject> GraphRecipients(const GraphSnapshot& snapshot,
                                             const Microsoft365Source& source,
                                             std::map<std::string, size_t>& left_out);

// A warning when the credential (the certificate's end, or clientSecretExpires) ends
// within 30 days of `now`, or has ended.
std::optional<std::string> CredentialExpiryWarning(const Microsoft365Source& source,
                                                   const std::string& credential,
                                                   std::chrono::system_clock::time_point now);

// The cache file of a source in `cache_dir` (named by cloud, tenant, app and what is read).
std::filesystem::path GraphCacheFile(const std::filesystem::path& cache_dir,
                                     const Microsoft365Source& source);

UserSourceResolver Microsoft365UserResolver(DirectoryReading reading);

}  // namespace gwctl
