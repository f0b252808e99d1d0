#include "doveadm_client.h"

#include <openssl/evp.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace gw {
namespace {

using json = nlohmann::json;

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

// The reply is [[type, result, tag]]: type "doveadmResponse" with the command's rows, or
// "error" with {type, exitCode}.
Result<std::string> DoveadmClient::Call(const std::string& command,
                                        const std::string& parameters) const {
  httplib::Client client(server_.host, server_.port);
  client.set_connection_timeout(timeout_);
  client.set_read_timeout(timeout_);
  client.set_write_timeout(timeout_);
  httplib::Headers headers = {{"Authorization", "X-Dovecot-API " + Base64(api_key_)}};
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

Result<std::vector<KeptMessage>> DoveadmClient::Undelivered(const std::string& user,
                                                            size_t limit) const {
  json parameters = {{"user", user},
                     {"field", {"uid", "text"}},
                     {"query", {"mailbox", "INBOX", "unkeyword", kDeliveredKeyword}}};
  auto rows = Call("fetch", parameters.dump());
  if (!rows.ok()) return rows.status();
  json list = json::parse(*rows, nullptr, false);
  std::vector<KeptMessage> kept;
  for (const auto& row : list) {
    if (kept.size() >= limit) break;
    if (!row.is_object() || !row["uid"].is_string() || !row["text"].is_string()) continue;
    kept.push_back({row["uid"], row["text"]});
  }
  return kept;
}

Status DoveadmClient::MarkDelivered(const std::string& user, const std::string& uid) const {
  json parameters = {
      {"user", user}, {"flag", {kDeliveredKeyword}}, {"query", {"mailbox", "INBOX", "uid", uid}}};
  return Call("flagsAdd", parameters.dump()).status();
}

Status DoveadmClient::ExpungeSavedBefore(const std::string& user, int64_t before_unix) const {
  json parameters = {{"user", user},
                     {"query", {"mailbox", "INBOX", "savedbefore", std::to_string(before_unix)}}};
  return Call("expunge", parameters.dump()).status();
}

}  // namespace gw
