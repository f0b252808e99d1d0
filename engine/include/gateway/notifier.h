// Notifier: tells people that something needs them, over webhooks: a generic JSON POST
// signed with HMAC-SHA256, a Slack incoming webhook, or a Microsoft Teams Workflows
// webhook (an Adaptive Card).
//
// Contract: Report() is level-triggered. Callers report a condition's current state each
// time they check it; a notice goes out when an incident starts (firing: the condition
// failed `failures_to_fire` reports in a row) and one when it ends (resolved), never twice
// for one incident. A notice no webhook took is tried again
// at the next Report() of that condition. Report() sends on the caller's thread, with a
// timeout per webhook, and is safe to call from several threads at once. Webhook URLs and
// secrets never appear in what it logs.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/status.h"

namespace gw {

struct WebhookTarget {
  enum class Kind { kGeneric, kSlack, kTeams };
  Kind kind = Kind::kGeneric;
  std::string url;     // http(s)://...
  std::string secret;  // generic: the HMAC key; none: unsigned
};

// "KIND=URL" (kind generic, slack or teams; a bare URL is generic), as flags and
// gatewayd.yaml write them.
Result<WebhookTarget> ParseWebhookTarget(std::string_view text);

// The webhooks of a file, one "KIND=URL" per line (# comments and blank lines skipped);
// `secret_file`'s first line, when given, signs the generic ones. Errors name the file
// and line, never the URL (it is a credential).
Result<std::vector<WebhookTarget>> ReadWebhooks(const std::string& file,
                                                const std::string& secret_file = "");

struct Notice {
  std::string source;  // who noticed: "gatewayd mx1.example", "gwctl run northwind"
  std::string key;     // the condition, stable across checks: "queue", "drift/acme"
  bool resolved = false;
  std::string summary;  // one line
  std::string detail;   // what was seen, what to do
  std::chrono::system_clock::time_point at;
};

// What is POSTed for `notice` to a webhook of `kind`.
std::string RenderNotice(WebhookTarget::Kind kind, const Notice& notice);

// The generic webhook's signature header value, "t=UNIX,v1=HEX": HMAC-SHA256 with
// `secret` over "UNIX.BODY", so a receiver checks both body and age.
std::string SignNotice(std::string_view secret, std::string_view body, int64_t unix_seconds);

class Notifier {
 public:
  using Send =
      std::function<Status(const WebhookTarget&, const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers)>;

  // `send` posts one body (default: HTTP with a 10 s timeout; tests may record instead).
  Notifier(std::string source, std::vector<WebhookTarget> targets,
           std::function<void(const std::string&)> log, int failures_to_fire = 1, Send send = {});

  // The condition `key` now: failing with what was seen, or not.
  void Report(const std::string& key, bool failing, const std::string& summary,
              const std::string& detail = "");

  bool enabled() const { return !targets_.empty(); }

 private:
  struct Incident {
    bool failing = false;
    int failures = 0;             // reports in a row, while not yet firing
    std::vector<bool> delivered;  // per target: took the notice of this state
  };

  std::string source_;
  std::vector<WebhookTarget> targets_;
  std::function<void(const std::string&)> log_;
  int failures_to_fire_;
  Send send_;
  std::mutex mutex_;
  std::map<std::string, Incident> incidents_;
};

}  // namespace gw
