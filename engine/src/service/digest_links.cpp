#include "gateway/digest_links.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "base/base64.h"

namespace gw {

namespace {

std::string Mac(std::string_view key, std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

Status NotValid() {
  return Status::Invalid("this link is not valid: it may have been cut short in the mail");
}

}  // namespace

std::string SignLink(std::string_view key, const LinkClaim& claim) {
  nlohmann::json body = {{"p", claim.partner}, {"c", claim.customer}, {"r", claim.recipient},
                         {"m", claim.message}, {"a", claim.action},   {"e", claim.expires_unix},
                         {"n", claim.nonce}};
  std::string payload = EncodeBase64Url(body.dump());
  return payload + "." + EncodeBase64Url(Mac(key, payload));
}

Result<LinkClaim> VerifyLink(std::string_view key, std::string_view token, int64_t now_unix) {
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.size() > 4096) return NotValid();
  std::string_view payload = token.substr(0, dot);
  auto signature = DecodeBase64Url(std::string(token.substr(dot + 1)));
  std::string expected = Mac(key, payload);
  if (!signature || signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0)
    return NotValid();
  auto text = DecodeBase64Url(std::string(payload));
  if (!text) return NotValid();
  nlohmann::json body = nlohmann::json::parse(*text, nullptr, false);
  LinkClaim claim;
  try {
    claim.partner = body.at("p");
    claim.customer = body.at("c");
    claim.recipient = body.at("r");
    claim.message = body.at("m");
    claim.action = body.at("a");
    claim.expires_unix = body.at("e");
    claim.nonce = body.at("n");
  } catch (const nlohmann::json::exception&) {
    return NotValid();  // signed by this key, yet unreadable: never expected
  }
  if (now_unix >= claim.expires_unix)
    return Status(StatusCode::kFailedPrecondition, "this link has expired");
  return claim;
}

}  // namespace gw
