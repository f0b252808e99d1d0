#include "continuity/doveadm_client.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "smtp/imap_fetch.h"

namespace gw {
namespace {

using json = nlohmann::json;

}  // namespace

// The reply is [[type, result, tag]]: type "doveadmResponse" with the command's rows, or
// "error" with {type, exitCode}.
Result<std::string> DoveadmClient::Call(const std::string& command,
                                        const std::string& parameters) const {
  httplib::Client client(server_.host, server_.port);
  client.set_connection_timeout(timeout_);
  client.set_read_timeout(timeout_);
  client.set_write_timeout(timeout_);
  httplib::Headers headers = {{"Authorization", "X-Dovecot-API " + EncodeBase64(api_key_)}};
  std::string body = fmt::format(R"([["{}", {}, "gw"]])", command, parameters);
  auto response = client.Post("/doveadm/v1", headers, body, "application/json");
  auto fail = [&](const std::string& why) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("doveadm {} at {}: {}", command, server_.ToString(), why));
  };
  if (!response) return fail(httplib::to_string(response.error()));
  if (response->status != 200) return fail(fmt::format("HTTP {}", response->status));
  json reply = json::parse(response->body, nullptr, false);
  if (!reply.is_array() || reply.empty() || !reply[0].is_array() || reply[0].size() < 2 ||
      !reply[0][0].is_string())
    return fail("an answer that is not a doveadm reply");
  if (reply[0][0] != "doveadmResponse") {
    return fail(fmt::format("error {}", reply[0][1].dump()));
  }
  return reply[0][1].dump();
}

Result<std::vector<std::string>> DoveadmClient::Undelivered(const std::string& user) const {
  json parameters = {
      {"user", user},
      {"field", {"uid"}},
      {"query", {"mailbox", "INBOX", "unkeyword", kDelivered, "unkeyword", kRefused}}};
  auto rows = Call("fetch", parameters.dump());
  if (!rows.ok()) return rows.status();
  std::vector<std::string> uids;
  for (const auto& row : json::parse(*rows, nullptr, false)) {
    if (row.is_object() && row["uid"].is_string()) uids.push_back(row["uid"]);
  }
  return uids;
}

Result<std::string> DoveadmClient::Text(const std::string& user, const std::string& uid) const {
  json parameters = {{"user", user},
                     {"field", {"size.physical", "text"}},
                     {"query", {"mailbox", "INBOX", "uid", uid}}};
  auto rows = Call("fetch", parameters.dump());
  if (!rows.ok()) return rows.status();
  json list = json::parse(*rows, nullptr, false);
  if (!list.is_array() || list.size() != 1 || !list[0]["text"].is_string())
    return Status(StatusCode::kNotFound, fmt::format("message {} of {} is gone", uid, user));
  std::string text = list[0]["text"];
  if (list[0]["size.physical"] != std::to_string(text.size())) {
    if (imap_) return FetchOverImap(*imap_, user, kMasterUser, api_key_, uid, timeout_);
    return Status(StatusCode::kMalformed,
                  fmt::format("message {} of {} holds bytes that are not UTF-8, which doveadm's "
                              "API cannot carry unchanged",
                              uid, user));
  }
  return text;
}

Status DoveadmClient::Mark(const std::string& user, const std::string& uid,
                           const char* keyword) const {
  json parameters = {
      {"user", user}, {"flag", {keyword}}, {"query", {"mailbox", "INBOX", "uid", uid}}};
  return Call("flagsAdd", parameters.dump()).status();
}

Status DoveadmClient::ExpungeSavedBefore(const std::string& user, int64_t before_unix) const {
  json parameters = {{"user", user},
                     {"query", {"mailbox", "INBOX", "savedbefore", std::to_string(before_unix)}}};
  return Call("expunge", parameters.dump()).status();
}

}  // namespace gw
