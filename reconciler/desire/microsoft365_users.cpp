#include "microsoft365_users.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/rfc3339.h"
#include "gwctl/secrets.h"

namespace gwctl {

namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr auto kDeltaLifetime = std::chrono::hours(24 * 7);
constexpr int kSnapshotVersion = 1;

const char* const kUserFields =
    "id,userPrincipalName,mail,proxyAddresses,accountEnabled,assignedLicenses,givenName,surname";
const char* const kGroupFields = "id,displayName,mail,mailEnabled,proxyAddresses";

std::string GroupFields(const Microsoft365Source& source) {
  // Members are read only when a group is excluded: they are most of a group's weight.
  return source.exclude.groups.empty() ? kGroupFields : std::string(kGroupFields) + ",members";
}

std::string RandomId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  return Base64Url({reinterpret_cast<const char*>(bytes), sizeof bytes});
}

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string out;
  for (size_t i = 0; i < size; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

// Applies one delta item to `objects`: a change, or a removal.
void MergeDeltaItem(const json& item, std::map<std::string, GraphObject>& objects) {
  if (!item.is_object() || !item.contains("id") || !item["id"].is_string()) return;
  std::string id = item["id"].get<std::string>();
  if (item.contains("@removed")) {
    objects.erase(id);
    return;
  }
  objects[id].Merge(item);
}

// A user's or group's addresses: proxyAddresses' SMTP: first, then smtp:; `mail` when
// it has none.
void AddressesOf(const GraphObject& object, DirectoryObject& into) {
  for (const std::string& value : object.proxy_addresses) {
    auto proxy = ParseProxyAddress(value);
    if (!proxy) continue;
    if (proxy->primary && into.primary.empty()) {
      into.primary = proxy->address;
    } else {
      into.aliases.push_back(proxy->address);
    }
  }
  if (!object.mail.empty()) {
    if (into.primary.empty()) {
      into.primary = object.mail;
    } else {
      into.aliases.push_back(object.mail);
    }
  }
}

// Replaces `path` with `text` readable by its owner only, or leaves it as it was.
bool WritePrivateFile(const std::filesystem::path& path, const std::string& text) {
  std::string temporary = path.string() + ".new";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 ::fsync(fd) == 0;
  ::close(fd);
  if (written && ::rename(temporary.c_str(), path.c_str()) == 0) return true;
  ::unlink(temporary.c_str());
  return false;
}

}  // namespace

void GraphObject::Merge(const json& item) {
  auto text = [&](const char* key, std::string& into) {
    if (auto it = item.find(key); it != item.end())
      into = it->is_string() ? it->get<std::string>() : "";
  };
  text("userPrincipalName", name);
  text("displayName", name);
  text("mail", mail);
  text("givenName", given_name);
  text("surname", surname);
  if (auto it = item.find("proxyAddresses"); it != item.end()) {
    proxy_addresses.clear();
    if (it->is_array()) {
      for (const auto& value : *it)
        if (value.is_string()) proxy_addresses.push_back(value.get<std::string>());
    }
  }
  if (auto it = item.find("accountEnabled"); it != item.end() && it->is_boolean())
    enabled = it->get<bool>();
  if (auto it = item.find("assignedLicenses"); it != item.end())
    licensed = it->is_array() && !it->empty();
  if (auto it = item.find("mailEnabled"); it != item.end() && it->is_boolean())
    mail_enabled = it->get<bool>();
  if (auto it = item.find("members@delta"); it != item.end() && it->is_array()) {
    std::set<std::string> ids(members.begin(), members.end());
    for (const auto& member : *it) {
      if (!member.is_object() || !member.contains("id") || !member["id"].is_string()) continue;
      std::string member_id = member["id"].get<std::string>();
      if (member.contains("@removed")) {
        ids.erase(member_id);
      } else {
        ids.insert(member_id);
      }
    }
    members.assign(ids.begin(), ids.end());
  }
}

json GraphObject::ToJson() const {
  return json::array(
      {name, mail, proxy_addresses, given_name, surname, enabled, licensed, mail_enabled, members});
}

GraphObject GraphObject::FromJson(const json& saved) {
  GraphObject object;
  object.name = saved.at(0).get<std::string>();
  object.mail = saved.at(1).get<std::string>();
  object.proxy_addresses = saved.at(2).get<std::vector<std::string>>();
  object.given_name = saved.at(3).get<std::string>();
  object.surname = saved.at(4).get<std::string>();
  object.enabled = saved.at(5).get<bool>();
  object.licensed = saved.at(6).get<bool>();
  object.mail_enabled = saved.at(7).get<bool>();
  object.members = saved.at(8).get<std::vector<std::string>>();
  return object;
}

Microsoft365Source Microsoft365Source::FromJson(const json& source) {
  Microsoft365Source out;
  out.tenant = source.value("tenant", "");
  out.client_id = source.value("clientId", "");
  out.client_secret_ref = source.value("clientSecretRef", "");
  out.client_secret_expires = source.value("clientSecretExpires", "");
  out.certificate_ref = source.value("certificateRef", "");
  out.cloud = source.value("cloud", "global");
  out.groups = source.value("groups", true);
  out.skip_disabled = source.value("skipDisabled", false);
  out.skip_unlicensed = source.value("skipUnlicensed", false);
  if (source.contains("exclude")) out.exclude = DirectoryExclusions::FromJson(source["exclude"]);
  if (source.contains("minUsers")) out.min_users = source["minUsers"].get<int64_t>();
  out.timeout_seconds = source.value("timeoutSeconds", 30);
  return out;
}

GraphEndpoints GraphEndpoints::For(const std::string& cloud) {
  GraphEndpoints endpoints{"https://login.microsoftonline.com", "https://graph.microsoft.com"};
  if (cloud == "usgov")
    endpoints = {"https://login.microsoftonline.us", "https://graph.microsoft.us"};
  if (cloud == "usgov-dod") {
    endpoints = {"https://login.microsoftonline.us", "https://dod-graph.microsoft.us"};
  }
  if (cloud == "china") {
    endpoints = {"https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"};
  }
  endpoints.login = EndpointFromEnvironment("GWCTL_MICROSOFT_LOGIN_URL", endpoints.login);
  endpoints.graph = EndpointFromEnvironment("GWCTL_MICROSOFT_GRAPH_URL", endpoints.graph);
  return endpoints;
}

json GraphSnapshot::ToJson() const {
  auto objects = [](const std::map<std::string, GraphObject>& by_id) {
    json out = json::object();
    for (const auto& [id, object] : by_id) out[id] = object.ToJson();
    return out;
  };
  return {{"version", kSnapshotVersion}, {"readAt", read_at},       {"usersDelta", users_delta},
          {"groupsDelta", groups_delta}, {"users", objects(users)}, {"groups", objects(groups)}};
}

gw::Result<GraphSnapshot> GraphSnapshot::FromJson(const json& saved) {
  if (!saved.is_object() || saved.value("version", 0) != kSnapshotVersion)
    return gw::Status::Invalid("not a snapshot this gwctl writes");
  try {
    GraphSnapshot snapshot;
    snapshot.read_at = saved.at("readAt").get<std::string>();
    snapshot.users_delta = saved.at("usersDelta").get<std::string>();
    snapshot.groups_delta = saved.at("groupsDelta").get<std::string>();
    for (const auto& [id, object] : saved.at("users").items())
      snapshot.users[id] = GraphObject::FromJson(object);
    for (const auto& [id, object] : saved.at("groups").items())
      snapshot.groups[id] = GraphObject::FromJson(object);
    return snapshot;
  } catch (const json::exception& e) {
    return gw::Status::Invalid(fmt::format("damaged snapshot: {}", e.what()));
  }
}

GraphReader::GraphReader(Microsoft365Source source, std::string credential, CloudHttp& http)
    : source_(std::move(source)),
      credential_(std::move(credential)),
      http_(http),
      endpoints_(GraphEndpoints::For(source_.cloud)) {}

std::string GraphReader::Fail(const std::string& what) const {
  return fmt::format("{}: {}", source_.Name(), what);
}

gw::Result<std::string> GraphReader::Token(bool renew) {
  if (!token_.empty() && !renew) return token_;
  std::string token_url = fmt::format("{}/{}/oauth2/v2.0/token", endpoints_.login, source_.tenant);
  auto graph_origin = HttpsOrigin(endpoints_.graph);
  if (!graph_origin.ok()) return graph_origin.status();
  CloudHttp::Headers form = {{"client_id", source_.client_id},
                             {"scope", *graph_origin + "/.default"},
                             {"grant_type", "client_credentials"}};
  if (!source_.certificate_ref.empty()) {
    auto certificate = ReadCertificate(credential_);
    if (!certificate.ok()) {
      return gw::Status::Invalid(Fail("certificateRef " + certificate.status().message()));
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch());
    auto assertion = SignJwt({{"x5t", certificate->sha1_thumbprint}},
                             {{"aud", token_url},
                              {"iss", source_.client_id},
                              {"sub", source_.client_id},
                              {"jti", RandomId()},
                              {"nbf", now.count()},
                              {"iat", now.count()},
                              {"exp", now.count() + 600}},
                             credential_);
    if (!assertion.ok()) {
      return gw::Status::Invalid(Fail("certificateRef " + assertion.status().message()));
    }
    form.emplace_back("client_assertion_type",
                      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    form.emplace_back("client_assertion", *assertion);
  } else {
    form.emplace_back("client_secret", credential_);
  }
  auto reply = http_.PostForm(token_url, form);
  if (!reply.ok()) return gw::Status(reply.status().code(), Fail(reply.status().message()));
  if (reply->status != 200 || !reply->body.is_object() || !reply->body.contains("access_token") ||
      !reply->body["access_token"].is_string()) {
    return gw::Status(reply->status == 400 || reply->status == 401
                          ? gw::StatusCode::kPermissionDenied
                          : gw::StatusCode::kUnavailable,
                      Fail("the token request was refused " + DescribeReply(*reply)));
  }
  token_ = reply->body["access_token"].get<std::string>();
  return token_;
}

gw::Status GraphReader::ReadRound(const std::string& start, bool groups, GraphSnapshot& into,
                                  GraphReadStats& stats, bool& gone) {
  auto origin = HttpsOrigin(endpoints_.graph);
  if (!origin.ok()) return origin.status();
  std::map<std::string, GraphObject>& objects = groups ? into.groups : into.users;
  std::string url = start;
  bool renewed = false;
  while (true) {
    auto token = Token(false);
    if (!token.ok()) return token.status();
    auto reply = http_.Get(url, *token);
    if (!reply.ok()) return gw::Status(reply.status().code(), Fail(reply.status().message()));
    if (reply->status == 401 && !renewed) {
      // The token ran out mid-read: one new one, then the same page again.
      if (auto fresh = Token(true); !fresh.ok()) return fresh.status();
      renewed = true;
      continue;
    }
    if (reply->status == 410) {
      gone = true;
      return gw::Status::Ok();
    }
    if (reply->status != 200 || !reply->body.is_object()) {
      std::string hint = reply->status == 403
                             ? ": the app needs the application permissions User.Read.All and "
                               "GroupMember.Read.All (or Directory.Read.All), with admin consent"
                             : "";
      return gw::Status(
          reply->status == 403 ? gw::StatusCode::kPermissionDenied : gw::StatusCode::kUnavailable,
          Fail(fmt::format("Graph answered {}{}", DescribeReply(*reply), hint)));
    }
    renewed = false;
    ++stats.pages;
    const json& page = reply->body;
    if (auto values = page.find("value"); values != page.end() && values->is_array()) {
      for (const json& item : *values) MergeDeltaItem(item, objects);
      stats.changes += values->size();
    }
    std::string next = page.value("@odata.nextLink", "");
    std::string delta = page.value("@odata.deltaLink", "");
    std::string link = next.empty() ? delta : next;
    if (link.empty()) {
      return gw::Status(gw::StatusCode::kUnavailable,
                        Fail("a Graph page had neither a next link nor a delta link"));
    }
    // A link elsewhere would carry the token to another host.
    auto link_origin = HttpsOrigin(link);
    if (!link_origin.ok() || *link_origin != *origin) {
      return gw::Status(gw::StatusCode::kUnavailable,
                        Fail(fmt::format("Graph sent a link to another host ({}); not followed",
                                         link_origin.ok() ? *link_origin : "not https")));
    }
    if (next.empty()) {
      (groups ? into.groups_delta : into.users_delta) = delta;
      return gw::Status::Ok();
    }
    if (next == url) {
      return gw::Status(gw::StatusCode::kUnavailable,
                        Fail("Graph sent the same page link twice; stopped"));
    }
    url = next;
  }
}

gw::Result<GraphSnapshot> GraphReader::Read(std::optional<GraphSnapshot> known,
                                            GraphReadStats& stats) {
  std::string api = endpoints_.graph + "/v1.0";
  std::string users_start = fmt::format("{}/users/delta?$select={}", api, kUserFields);
  std::string groups_start = fmt::format("{}/groups/delta?$select={}", api, GroupFields(source_));
  std::string now = gw::FormatRfc3339(Clock::now());
  if (known) {
    auto read_at = gw::ParseRfc3339(known->read_at);
    if (!read_at || Clock::now() - *read_at > kDeltaLifetime) {
      stats.why_full = "the last read's delta links are older than 7 days";
      known.reset();
    } else if (known->users_delta.empty() || (source_.groups && known->groups_delta.empty())) {
      stats.why_full = "the last read was not finished";
      known.reset();
    }
  } else {
    stats.why_full = "no earlier read";
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    stats.full = !known;
    stats.changes = 0;
    GraphSnapshot snapshot = known ? *known : GraphSnapshot();
    bool gone = false;
    gw::Status read =
        ReadRound(known ? known->users_delta : users_start, false, snapshot, stats, gone);
    if (read.ok() && !gone && source_.groups) {
      read = ReadRound(known ? known->groups_delta : groups_start, true, snapshot, stats, gone);
    }
    if (!read.ok()) return read;
    if (gone) {
      if (!known)
        return gw::Status(gw::StatusCode::kUnavailable, Fail("Graph answered 410 to a full read"));
      stats.why_full = "Graph asked for a full read (410)";
      known.reset();
      continue;
    }
    if (!source_.groups) {
      snapshot.groups.clear();
      snapshot.groups_delta.clear();
    }
    snapshot.read_at = now;
    return snapshot;
  }
  return gw::Status(gw::StatusCode::kUnavailable, Fail("Graph asked for a full read twice"));
}

std::vector<DirectoryObject> GraphRecipients(const GraphSnapshot& snapshot,
                                             const Microsoft365Source& source,
                                             std::map<std::string, size_t>& left_out) {
  std::set<std::string> excluded_members;
  std::vector<DirectoryObject> objects;
  for (const auto& [id, group] : snapshot.groups) {
    DirectoryObject object;
    object.id = id;
    object.group = true;
    object.name = group.name;
    AddressesOf(group, object);
    std::vector<std::string> addresses = object.aliases;
    addresses.push_back(object.primary);
    bool excluded = source.exclude.NamesGroup(id, addresses);
    if (excluded) excluded_members.insert(group.members.begin(), group.members.end());
    if (!group.mail_enabled) continue;
    if (excluded) {
      ++left_out["excluded groups"];
      continue;
    }
    objects.push_back(std::move(object));
  }
  for (const auto& [id, user] : snapshot.users) {
    if (excluded_members.count(id)) {
      ++left_out["members of excluded groups"];
      continue;
    }
    if (source.skip_disabled && !user.enabled) {
      ++left_out["accounts with sign-in blocked (skipDisabled)"];
      continue;
    }
    if (source.skip_unlicensed && !user.licensed) {
      ++left_out["accounts without a licence (skipUnlicensed)"];
      continue;
    }
    DirectoryObject object;
    object.id = id;
    object.name = user.name;
    object.first_name = user.given_name;
    object.last_name = user.surname;
    AddressesOf(user, object);
    objects.push_back(std::move(object));
  }
  return objects;
}

std::optional<std::string> CredentialExpiryWarning(const Microsoft365Source& source,
                                                   const std::string& credential,
                                                   Clock::time_point now) {
  std::optional<Clock::time_point> ends;
  std::string what;
  if (!source.certificate_ref.empty()) {
    if (auto facts = ReadCertificate(credential); facts.ok()) ends = facts->not_after;
    what = "the app's certificate (certificateRef)";
  } else if (!source.client_secret_expires.empty()) {
    ends = gw::ParseRfc3339(source.client_secret_expires + "T00:00:00Z");
    what = "the client secret (clientSecretExpires)";
  }
  if (!ends) return std::nullopt;
  auto days = std::chrono::duration_cast<std::chrono::hours>(*ends - now).count() / 24;
  if (days > 30) return std::nullopt;
  std::string date = gw::FormatRfc3339(*ends).substr(0, 10);
  if (*ends <= now) {
    return fmt::format(
        "{} expired on {}: add a new one to the app registration and update the "
        "reference",
        what, date);
  }
  return fmt::format(
      "{} expires on {} (in {} days): add a new one to the app registration and "
      "update the reference",
      what, date, days);
}

std::filesystem::path GraphCacheFile(const std::filesystem::path& cache_dir,
                                     const Microsoft365Source& source) {
  std::string key = fmt::format("{}|{}|{}|{}|{}", source.cloud, gw::AsciiLower(source.tenant),
                                gw::AsciiLower(source.client_id), kUserFields, GroupFields(source));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr);
  return cache_dir / fmt::format("microsoft365-{}.json", Hex(digest, 12));
}

UserSourceResolver Microsoft365UserResolver(DirectoryReading reading) {
  return [reading =
              std::move(reading)](const DirectoryRequest& request) -> gw::Result<DirectoryUsers> {
    Microsoft365Source source = Microsoft365Source::FromJson(*request.source);
    bool certificate = !source.certificate_ref.empty();
    auto credential = ResolveSecret(certificate ? source.certificate_ref : source.client_secret_ref,
                                    reading.secrets);
    if (!credential.ok()) {
      return gw::Status(credential.status().code(),
                        fmt::format("{}: {}: {}", source.Name(),
                                    certificate ? "certificateRef" : "clientSecretRef",
                                    credential.status().message()));
    }
    std::optional<GraphSnapshot> known;
    std::filesystem::path cache;
    if (!reading.cache_dir.empty()) {
      cache = GraphCacheFile(reading.cache_dir, source);
      std::ifstream in(cache);
      json saved = json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (auto snapshot = GraphSnapshot::FromJson(saved); snapshot.ok())
        known = std::move(*snapshot);
    }
    std::optional<std::string> expiry = CredentialExpiryWarning(source, *credential, Clock::now());
    CloudHttpOptions options;
    options.timeout = std::chrono::seconds(source.timeout_seconds);
    CloudHttp http(options);
    GraphReader reader(source, std::move(*credential), http);
    std::optional<Clock::time_point> cached_at;
    if (known) cached_at = gw::ParseRfc3339(known->read_at);
    GraphReadStats stats;
    auto snapshot = reader.Read(std::move(known), stats);
    if (!snapshot.ok()) return snapshot.status();
    // Nothing changed: the cached links still lead here, and rewriting tens of MB for
    // nothing is most of a quiet plan. They are renewed daily, well inside their 7 days.
    bool unchanged = !stats.full && stats.changes == 0 && cached_at &&
                     Clock::now() - *cached_at < std::chrono::hours(24);
    if (!cache.empty() && !unchanged) {
      std::error_code ignored;
      if (std::filesystem::create_directories(reading.cache_dir, ignored)) {
        std::filesystem::permissions(reading.cache_dir, std::filesystem::perms::owner_all, ignored);
      }
      // Addresses are personal data: the cache is the reader's alone. One that cannot be
      // written costs a full read next time, nothing else.
      WritePrivateFile(cache, snapshot->ToJson().dump());
    }
    CloudRead read{"microsoft365", source.Name(), {}, {}, ""};
    read.objects = GraphRecipients(*snapshot, source, read.left_out);
    read.read =
        stats.full
            ? fmt::format("full read ({}), {} requests", stats.why_full, http.requests())
            : fmt::format("delta read: {} changes, {} requests", stats.changes, http.requests());
    auto users = UsersOfCloudRead(std::move(read), request, source.exclude, source.min_users);
    if (users.ok() && expiry) users->warnings.push_back(*expiry);
    return users;
  };
}

}  // namespace gwctl
