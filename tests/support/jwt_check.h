// Test support: what a token endpoint checks of a JWT bearer assertion (RFC 7523) signed
// RS256: the signature against a certificate's or a private key's public key.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace gwtest {

inline std::string FromBase64Url(std::string text) {
  for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (text.size() % 4) text += '=';
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return "";
  out.resize(n - std::count(text.end() - std::min<size_t>(2, text.size()), text.end(), '='));
  return out;
}

// The public key of a PEM certificate, or of a PEM private key.
inline std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> PublicKeyOf(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()), BIO_free);
  if (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    EVP_PKEY* key = X509_get_pubkey(certificate);
    X509_free(certificate);
    return {key, EVP_PKEY_free};
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> again(BIO_new_mem_buf(pem.data(), pem.size()),
                                                  BIO_free);
  return {PEM_read_bio_PrivateKey(again.get(), nullptr, nullptr, nullptr), EVP_PKEY_free};
}

inline std::string CertificateSha1(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()), BIO_free);
  X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!certificate) return "";
  unsigned char digest[20];
  unsigned int length = 0;
  X509_digest(certificate, EVP_sha1(), digest, &length);
  X509_free(certificate);
  return std::string(reinterpret_cast<char*>(digest), length);
}

// The header and claims of `jwt` when it is RS256 and signed by `pem`'s key.
inline std::optional<std::pair<nlohmann::json, nlohmann::json>> CheckRs256Jwt(
    const std::string& jwt, const std::string& pem) {
  size_t dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  if (dot1 == std::string::npos || dot1 == dot2) return std::nullopt;
  auto header = nlohmann::json::parse(FromBase64Url(jwt.substr(0, dot1)), nullptr, false);
  auto claims =
      nlohmann::json::parse(FromBase64Url(jwt.substr(dot1 + 1, dot2 - dot1 - 1)), nullptr, false);
  if (!header.is_object() || !claims.is_object() || header.value("alg", "") != "RS256")
    return std::nullopt;
  auto key = PublicKeyOf(pem);
  if (!key) return std::nullopt;
  std::string signature = FromBase64Url(jwt.substr(dot2 + 1));
  std::string input = jwt.substr(0, dot2);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  EVP_MD_CTX_free);
  bool valid =
      EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
      EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  if (!valid) return std::nullopt;
  return std::make_pair(std::move(header), std::move(claims));
}

}  // namespace gwtest
