#include "webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace gwctl {

namespace {

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string HmacSha256Hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

WebhookVerdict VerifyWebhook(const WebhookRequest& request, const std::string& secret) {
  if (secret.empty()) return WebhookVerdict::kBadSignature;  // never accept with no secret
  if (!request.hub_signature_256.empty()) {
    std::string expected = "sha256=" + HmacSha256Hex(secret, request.body);
    return ConstantTimeEqual(request.hub_signature_256, expected) ? WebhookVerdict::kAccepted
                                                                  : WebhookVerdict::kBadSignature;
  }
  if (!request.gitlab_token.empty()) {
    return ConstantTimeEqual(request.gitlab_token, secret) ? WebhookVerdict::kAccepted
                                                           : WebhookVerdict::kBadSignature;
  }
  return WebhookVerdict::kUnsigned;
}

}  // namespace gwctl
