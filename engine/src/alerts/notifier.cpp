#include "gateway/notifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/rfc3339.h"

namespace gw {
namespace {

using nlohmann::json;

const char* KindName(WebhookTarget::Kind kind) {
  switch (kind) {
    case WebhookTarget::Kind::kSlack:
      return "slack";
    case WebhookTarget::Kind::kTeams:
      return "teams";
    case WebhookTarget::Kind::kGeneric:
      break;
  }
  return "generic";
}

// Slack's mrkdwn reads &, < and > as markup.
std::string SlackEscaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

Status PostOverHttp(const WebhookTarget& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
  // scheme://host[:port] and the path, for httplib's client.
  size_t host_start = target.url.find("://") + 3;
  size_t path_start = target.url.find('/', host_start);
  std::string origin = target.url.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "/" : target.url.substr(path_start);
  httplib::Client client(origin);
  client.set_connection_timeout(std::chrono::seconds(10));
  client.set_read_timeout(std::chrono::seconds(10));
  client.set_write_timeout(std::chrono::seconds(10));
  httplib::Headers sent;
  for (const auto& [name, value] : headers) sent.emplace(name, value);
  auto answer = client.Post(path, sent, body, "application/json");
  if (!answer) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("no answer ({})", httplib::to_string(answer.error())));
  }
  if (answer->status < 200 || answer->status > 299) {
    return Status(StatusCode::kUnavailable, fmt::format("answered {}", answer->status));
  }
  return Status::Ok();
}

}  // namespace

Result<WebhookTarget> ParseWebhookTarget(std::string_view text) {
  WebhookTarget target;
  std::string_view url = text;
  if (size_t eq = text.find('=');
      eq != std::string_view::npos && text.substr(0, eq).find(':') == std::string_view::npos) {
    std::string_view kind = text.substr(0, eq);
    url = text.substr(eq + 1);
    if (kind == "slack") {
      target.kind = WebhookTarget::Kind::kSlack;
    } else if (kind == "teams") {
      target.kind = WebhookTarget::Kind::kTeams;
    } else if (kind != "generic") {
      return Status::Invalid(
          fmt::format("webhook kind '{}' is not one of: generic, slack, teams", kind));
    }
  }
  if (!url.starts_with("https://") && !url.starts_with("http://")) {
    return Status::Invalid("a webhook is KIND=http(s)://HOST/PATH");  // the URL stays unsaid
  }
  target.url = std::string(url);
  return target;
}

Result<std::vector<WebhookTarget>> ReadWebhooks(const std::string& file,
                                                const std::string& secret_file) {
  std::string secret;
  if (!secret_file.empty()) {
    std::ifstream in(secret_file);
    if (!in || !std::getline(in, secret) || secret.empty()) {
      return Status::Invalid(fmt::format("{}: no secret on its first line", secret_file));
    }
  }
  std::ifstream in(file);
  if (!in) return Status(StatusCode::kUnavailable, fmt::format("cannot read {}", file));
  std::vector<WebhookTarget> targets;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    auto target = ParseWebhookTarget(line);
    if (!target.ok()) {
      return Status::Invalid(fmt::format("{}:{}: {}", file, number, target.status().message()));
    }
    if (target->kind == WebhookTarget::Kind::kGeneric) target->secret = secret;
    targets.push_back(std::move(*target));
  }
  return targets;
}

std::string RenderNotice(WebhookTarget::Kind kind, const Notice& notice) {
  std::string time = FormatRfc3339(notice.at);
  switch (kind) {
    case WebhookTarget::Kind::kSlack: {
      std::string text = fmt::format("{} *{}{}*\n{}\n_{} · {} · {}_",
                                     notice.resolved ? ":white_check_mark:" : ":rotating_light:",
                                     notice.resolved ? "Resolved: " : "",
                                     SlackEscaped(notice.summary), SlackEscaped(notice.detail),
                                     SlackEscaped(notice.source), SlackEscaped(notice.key), time);
      return json{{"text", text}}.dump();
    }
    case WebhookTarget::Kind::kTeams: {
      json card = {{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
                   {"type", "AdaptiveCard"},
                   {"version", "1.4"},
                   {"body",
                    {{{"type", "TextBlock"},
                      {"size", "Medium"},
                      {"weight", "Bolder"},
                      {"wrap", true},
                      {"color", notice.resolved ? "Good" : "Attention"},
                      {"text", (notice.resolved ? "Resolved: " : "") + notice.summary}},
                     {{"type", "TextBlock"}, {"wrap", true}, {"text", notice.detail}},
                     {{"type", "FactSet"},
                      {"facts",
                       {{{"title", "Source"}, {"value", notice.source}},
                        {{"title", "Condition"}, {"value", notice.key}},
                        {{"title", "Time"}, {"value", time}}}}}}}};
      return json{{"type", "message"},
                  {"attachments",
                   {{{"contentType", "application/vnd.microsoft.card.adaptive"},
                     {"contentUrl", nullptr},
                     {"content", card}}}}}
          .dump();
    }
    case WebhookTarget::Kind::kGeneric:
      break;
  }
  return json{{"source", notice.source},
              {"key", notice.key},
              {"state", notice.resolved ? "resolved" : "firing"},
              {"summary", notice.summary},
              {"detail", notice.detail},
              {"time", time}}
      .dump();
}

std::string SignNotice(std::string_view secret, std::string_view body, int64_t unix_seconds) {
  std::string signed_text = fmt::format("{}.{}", unix_seconds, body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac,
       &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", mac[i]);
  return fmt::format("t={},v1={}", unix_seconds, hex);
}

Notifier::Notifier(std::string source, std::vector<WebhookTarget> targets,
                   std::function<void(const std::string&)> log, int failures_to_fire, Send send)
    : source_(std::move(source)),
      targets_(std::move(targets)),
      log_(std::move(log)),
      failures_to_fire_(std::max(1, failures_to_fire)),
      send_(send ? std::move(send) : Send(PostOverHttp)) {}

void Notifier::Report(const std::string& key, bool failing, const std::string& summary,
                      const std::string& detail) {
  if (targets_.empty()) return;
  std::lock_guard lock(mutex_);
  Incident& incident = incidents_[key];
  auto taken = [](bool delivered) { return delivered; };
  if (!incident.failing) {
    incident.failures = failing ? incident.failures + 1 : 0;
    if (failing && incident.failures < failures_to_fire_) return;  // not yet an incident
  }
  if (failing == incident.failing) {
    // Never failed, or this state's notice taken by every webhook: nothing to say.
    if (std::all_of(incident.delivered.begin(), incident.delivered.end(), taken)) return;
  } else if (!failing &&
             std::none_of(incident.delivered.begin(), incident.delivered.end(), taken)) {
    incident = {};  // recovered before any webhook heard of it
    return;
  } else {
    incident.failing = failing;
    incident.delivered.assign(targets_.size(), false);
  }
  Notice notice{source_, key, !failing, summary, detail, std::chrono::system_clock::now()};
  for (size_t i = 0; i < targets_.size(); ++i) {
    if (incident.delivered[i]) continue;
    const WebhookTarget& target = targets_[i];
    std::string body = RenderNotice(target.kind, notice);
    std::vector<std::pair<std::string, std::string>> headers;
    if (target.kind == WebhookTarget::Kind::kGeneric && !target.secret.empty()) {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(notice.at.time_since_epoch());
      headers.emplace_back("X-Gateway-Signature", SignNotice(target.secret, body, now.count()));
    }
    Status sent = send_(target, body, headers);
    incident.delivered[i] = sent.ok();
    if (!sent.ok() && log_) {
      log_(
          fmt::format("notification '{}' to {} webhook #{} not delivered (tried again at the next "
                      "check): {}",
                      key, KindName(target.kind), i + 1, sent.message()));
    }
  }
}

}  // namespace gw
