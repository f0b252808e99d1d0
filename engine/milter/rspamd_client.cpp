#include "rspamd_client.h"

#include <httplib.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/domain_name.h"

namespace gw {

std::string RspamdSettings(const FilterProfile& profile) {
  double threshold = SpamThreshold(profile.level);
  nlohmann::json actions = {{"reject", threshold},
                            {"add header", threshold},
                            {"rewrite subject", threshold},
                            {"greylist", threshold}};
  return nlohmann::json{{"actions", actions}}.dump();
}

std::vector<std::string> VerifiedDkimDomains(const nlohmann::json& symbols) {
  // R_DKIM_ALLOW's options are its valid signatures ("domain:s=selector"); DKIM_TRACE's
  // are every signature, "domain:+" for a valid one.
  std::vector<std::string> domains;
  auto add = [&](const char* symbol, bool only_passed) {
    auto it = symbols.find(symbol);
    if (it == symbols.end() || !it->is_object()) return;
    auto options = it->find("options");
    if (options == it->end() || !options->is_array()) return;
    for (const auto& option : *options) {
      if (!option.is_string()) continue;
      const std::string& text = option.get_ref<const std::string&>();
      size_t colon = text.find(':');
      if (only_passed && (colon == std::string::npos || text.substr(colon + 1) != "+")) continue;
      std::string domain = AsciiLower(text.substr(0, colon));
      if (!domain.empty() && std::find(domains.begin(), domains.end(), domain) == domains.end()) {
        domains.push_back(std::move(domain));
      }
    }
  };
  add("R_DKIM_ALLOW", false);
  add("DKIM_TRACE", true);
  return domains;
}

Result<SpamVerdict> CheckWithRspamd(const Endpoint& rspamd, std::string_view message,
                                    const FilterProfile& profile, const SpamEnvelope& envelope,
                                    std::chrono::milliseconds timeout) {
  httplib::Client client(rspamd.host, rspamd.port);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout - seconds);
  client.set_connection_timeout(seconds.count(), micros.count());
  client.set_read_timeout(seconds.count(), micros.count());
  client.set_write_timeout(seconds.count(), micros.count());
  httplib::Headers headers = {{"Settings", RspamdSettings(profile)}};
  if (!envelope.sender.empty()) headers.emplace("From", envelope.sender);
  for (const auto& recipient : envelope.recipients) headers.emplace("Rcpt", recipient);
  if (!envelope.client_address.empty()) headers.emplace("IP", envelope.client_address);
  if (!envelope.queue_id.empty()) headers.emplace("Queue-Id", envelope.queue_id);
  auto response =
      client.Post("/checkv2", headers, message.data(), message.size(), "message/rfc822");
  if (!response) {
    return Status(StatusCode::kUnavailable, fmt::format("rspamd {}: {}", rspamd.ToString(),
                                                        httplib::to_string(response.error())));
  }
  if (response->status != 200) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("rspamd {}: HTTP {}", rspamd.ToString(), response->status));
  }
  auto body = nlohmann::json::parse(response->body, nullptr, false);
  if (!body.is_object() || !body.contains("action")) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("rspamd {}: an answer without an action", rspamd.ToString()));
  }
  SpamVerdict verdict;
  verdict.action = body.value("action", "");
  verdict.score = body.value("score", 0.0);
  verdict.spam = verdict.action != "no action" && verdict.action != "soft reject";
  if (auto symbols = body.find("symbols"); symbols != body.end() && symbols->is_object()) {
    verdict.dkim_domains = VerifiedDkimDomains(*symbols);
    for (const auto& [name, detail] : symbols->items()) {
      double score = detail.is_object() ? detail.value("score", 0.0) : 0.0;
      if (score != 0 || name == "GTUBE") {
        verdict.symbols +=
            fmt::format("{}{}({:.1f})", verdict.symbols.empty() ? "" : " ", name, score);
      }
    }
  }
  return verdict;
}

}  // namespace gw
