#include "google_workspace_users.h"

#include <httplib.h>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gwctl/secrets.h"

namespace gwctl {

namespace {

using nlohmann::json;

constexpr const char* kScopes =
    "https://www.googleapis.com/auth/admin.directory.user.readonly "
    "https://www.googleapis.com/auth/admin.directory.group.readonly";

std::string Text(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Texts(const json& object, const char* key) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& value : *it)
    if (value.is_string()) out.push_back(value.get<std::string>());
  return out;
}

// Email, aliases and the aliases Google keeps itself (other domains of the account).
DirectoryObject ObjectOf(const json& entry, const char* email_field, bool group) {
  DirectoryObject object;
  object.id = Text(entry, "id");
  object.group = group;
  object.primary = Text(entry, email_field);
  object.name = object.primary;
  object.aliases = Texts(entry, "aliases");
  for (auto& alias : Texts(entry, "nonEditableAliases")) object.aliases.push_back(std::move(alias));
  return object;
}

}  // namespace

GoogleWorkspaceSource GoogleWorkspaceSource::FromJson(const json& source) {
  GoogleWorkspaceSource out;
  out.service_account_ref = source.value("serviceAccountRef", "");
  out.admin_email = source.value("adminEmail", "");
  out.customer_id = source.value("customerId", "my_customer");
  out.groups = source.value("groups", true);
  out.skip_suspended = source.value("skipSuspended", false);
  out.skip_archived = source.value("skipArchived", false);
  if (source.contains("exclude")) out.exclude = DirectoryExclusions::FromJson(source["exclude"]);
  if (source.contains("minUsers")) out.min_users = source["minUsers"].get<int64_t>();
  out.timeout_seconds = source.value("timeoutSeconds", 30);
  return out;
}

GoogleEndpoints GoogleEndpoints::Get() {
  return {EndpointFromEnvironment("GWCTL_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
          EndpointFromEnvironment("GWCTL_GOOGLE_DIRECTORY_URL", "https://admin.googleapis.com")};
}

WorkspaceReader::WorkspaceReader(GoogleWorkspaceSource source, std::string key, CloudHttp& http)
    : source_(std::move(source)),
      key_(std::move(key)),
      http_(http),
      endpoints_(GoogleEndpoints::Get()) {}

std::string WorkspaceReader::Fail(const std::string& what) const {
  return fmt::format("{}: {}", source_.Name(), what);
}

gw::Result<std::string> WorkspaceReader::Token() {
  if (!token_.empty()) return token_;
  json key = json::parse(key_, nullptr, /*allow_exceptions=*/false);
  if (!key.is_object() || Text(key, "client_email").empty() || Text(key, "private_key").empty()) {
    return gw::Status::Invalid(
        Fail("serviceAccountRef is not a service account's JSON key (client_email, private_key)"));
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json header = json::object();
  if (!Text(key, "private_key_id").empty()) header["kid"] = Text(key, "private_key_id");
  // The audience is the endpoint the assertion is sent to, never the key file's
  // token_uri: a signed assertion goes only where this reader sends it.
  auto assertion = SignJwt(header,
                           {{"iss", Text(key, "client_email")},
                            {"sub", source_.admin_email},
                            {"scope", kScopes},
                            {"aud", endpoints_.token},
                            {"iat", now},
                            {"exp", now + 3600}},
                           Text(key, "private_key"));
  if (!assertion.ok()) {
    return gw::Status::Invalid(
        Fail("serviceAccountRef's private_key " + assertion.status().message()));
  }
  auto reply = http_.PostForm(
      endpoints_.token,
      {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", *assertion}});
  if (!reply.ok()) return gw::Status(reply.status().code(), Fail(reply.status().message()));
  if (reply->status != 200 || Text(reply->body, "access_token").empty()) {
    std::string hint =
        reply->status == 401 || reply->status == 403 || reply->status == 400
            ? ": the service account needs domain-wide delegation of the directory's read-only "
              "scopes, and adminEmail must be a Workspace administrator"
            : "";
    return gw::Status(
        reply->status >= 500 ? gw::StatusCode::kUnavailable : gw::StatusCode::kPermissionDenied,
        Fail("the token request was refused " + DescribeReply(*reply) + hint));
  }
  token_ = Text(reply->body, "access_token");
  return token_;
}

gw::Result<std::vector<json>> WorkspaceReader::List(const std::string& url,
                                                    const std::string& field, size_t& pages) {
  std::vector<json> entries;
  std::string page_token;
  do {
    auto token = Token();
    if (!token.ok()) return token.status();
    std::string page_url = url;
    if (!page_token.empty())
      page_url += "&pageToken=" + httplib::detail::encode_query_param(page_token);
    auto reply = http_.Get(page_url, *token);
    if (!reply.ok()) return gw::Status(reply.status().code(), Fail(reply.status().message()));
    if (reply->status != 200 || !reply->body.is_object()) {
      return gw::Status(
          reply->status == 403 ? gw::StatusCode::kPermissionDenied : gw::StatusCode::kUnavailable,
          Fail("the Directory API answered " + DescribeReply(*reply)));
    }
    ++pages;
    const json& page = reply->body;
    if (auto values = page.find(field); values != page.end() && values->is_array()) {
      for (const json& entry : *values) entries.push_back(entry);
    }
    std::string next = Text(page, "nextPageToken");
    if (!next.empty() && next == page_token) {
      return gw::Status(gw::StatusCode::kUnavailable,
                        Fail("the Directory API sent the same page token twice; stopped"));
    }
    page_token = std::move(next);
  } while (!page_token.empty());
  return entries;
}

gw::Result<WorkspaceDirectory> WorkspaceReader::Read() {
  WorkspaceDirectory directory;
  std::string api = endpoints_.directory + "/admin/directory/v1";
  std::string customer = httplib::detail::encode_query_param(source_.customer_id);
  auto users = List(fmt::format("{}/users?customer={}&maxResults=500&projection=basic&fields="
                                "nextPageToken,users(id,primaryEmail,aliases,nonEditableAliases,"
                                "suspended,archived,name(givenName,familyName))",
                                api, customer),
                    "users", directory.pages);
  if (!users.ok()) return users.status();
  directory.users = std::move(*users);
  if (!source_.groups && source_.exclude.groups.empty()) return directory;
  auto groups = List(fmt::format("{}/groups?customer={}&maxResults=200&fields=nextPageToken,"
                                 "groups(id,email,aliases,nonEditableAliases)",
                                 api, customer),
                     "groups", directory.pages);
  if (!groups.ok()) return groups.status();
  for (const json& group : *groups) {
    DirectoryObject object = ObjectOf(group, "email", true);
    std::vector<std::string> addresses = object.aliases;
    addresses.push_back(object.primary);
    if (!source_.exclude.NamesGroup(object.id, addresses)) continue;
    auto members = List(fmt::format("{}/groups/{}/members?maxResults=200&fields=nextPageToken,"
                                    "members(id,email)",
                                    api, httplib::detail::encode_query_param(object.id)),
                        "members", directory.pages);
    if (!members.ok()) return members.status();
    for (const json& member : *members) {
      directory.excluded_members.insert(Text(member, "id"));
      directory.excluded_members.insert(gw::AsciiLower(Text(member, "email")));
    }
  }
  if (source_.groups) directory.groups = std::move(*groups);
  return directory;
}

std::vector<DirectoryObject> WorkspaceRecipients(const WorkspaceDirectory& directory,
                                                 const GoogleWorkspaceSource& source,
                                                 std::map<std::string, size_t>& left_out) {
  std::vector<DirectoryObject> objects;
  for (const json& group : directory.groups) {
    DirectoryObject object = ObjectOf(group, "email", true);
    std::vector<std::string> addresses = object.aliases;
    addresses.push_back(object.primary);
    if (source.exclude.NamesGroup(object.id, addresses)) {
      ++left_out["excluded groups"];
      continue;
    }
    objects.push_back(std::move(object));
  }
  for (const json& user : directory.users) {
    DirectoryObject object = ObjectOf(user, "primaryEmail", false);
    if (directory.excluded_members.count(object.id) ||
        directory.excluded_members.count(gw::AsciiLower(object.primary))) {
      ++left_out["members of excluded groups"];
      continue;
    }
    if (source.skip_suspended && user.value("suspended", false) == true) {
      ++left_out["suspended users (skipSuspended)"];
      continue;
    }
    if (source.skip_archived && user.value("archived", false) == true) {
      ++left_out["archived users (skipArchived)"];
      continue;
    }
    if (auto name = user.find("name"); name != user.end() && name->is_object()) {
      object.first_name = Text(*name, "givenName");
      object.last_name = Text(*name, "familyName");
    }
    objects.push_back(std::move(object));
  }
  return objects;
}

UserSourceResolver GoogleWorkspaceUserResolver(DirectoryReading reading) {
  return [reading =
              std::move(reading)](const DirectoryRequest& request) -> gw::Result<DirectoryUsers> {
    GoogleWorkspaceSource source = GoogleWorkspaceSource::FromJson(*request.source);
    auto key = ResolveSecret(source.service_account_ref, reading.secrets);
    if (!key.ok()) {
      return gw::Status(key.status().code(), fmt::format("{}: serviceAccountRef: {}", source.Name(),
                                                         key.status().message()));
    }
    CloudHttpOptions options;
    options.timeout = std::chrono::seconds(source.timeout_seconds);
    CloudHttp http(options);
    WorkspaceReader reader(source, std::move(*key), http);
    auto directory = reader.Read();
    if (!directory.ok()) return directory.status();
    CloudRead read{"googleWorkspace", source.Name(), {}, {}, ""};
    read.objects = WorkspaceRecipients(*directory, source, read.left_out);
    read.read = fmt::format("full read, {} requests", http.requests());
    return UsersOfCloudRead(std::move(read), request, source.exclude, source.min_users);
  };
}

}  // namespace gwctl
