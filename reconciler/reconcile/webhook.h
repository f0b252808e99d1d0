// Webhook: whether a push notification really comes from the git host that shares our
// secret. GitHub and Gitea sign the body (X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>);
// GitLab sends the secret itself (X-Gitlab-Token). Both are compared in constant time.
// A request with neither, or with a wrong one, is refused: there is no unsigned pass.
#pragma once

#include <string>

namespace gwctl {

enum class WebhookVerdict { kAccepted, kUnsigned, kBadSignature };

struct WebhookRequest {
  std::string hub_signature_256;  // X-Hub-Signature-256, "" if absent
  std::string gitlab_token;       // X-Gitlab-Token, "" if absent
  std::string body;
};

WebhookVerdict VerifyWebhook(const WebhookRequest& request, const std::string& secret);

// Lower-case hex HMAC-SHA256 of `message` under `key` (what GitHub puts after "sha256=").
std::string HmacSha256Hex(const std::string& key, const std::string& message);

}  // namespace gwctl
