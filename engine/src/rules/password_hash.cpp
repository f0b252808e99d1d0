#include "gateway/password_hash.h"

#include <argon2.h>
#include <openssl/rand.h>

#include <cstdint>
#include <vector>

#include "gateway/utf8.h"

namespace gw {

namespace {

constexpr uint32_t kPasses = 2;
constexpr uint32_t kMemoryKiB = 19 * 1024;
constexpr uint32_t kLanes = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr std::string_view kScheme = "{ARGON2ID}";

}  // namespace

Status CheckPasswordRules(std::string_view password) {
  auto invalid = [](const char* why) {
    return Status::Invalid(std::string("the password ") + why, "/password");
  };
  if (password.size() > 256) return invalid("is longer than 256 bytes");
  if (FindInvalidUtf8(password) != std::string_view::npos) return invalid("is not UTF-8 text");
  size_t characters = 0;
  for (char c : password) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return invalid("holds a control character");
    if ((byte & 0xc0) != 0x80) ++characters;
  }
  if (characters < 10) return invalid("is shorter than 10 characters");
  return Status::Ok();
}

Result<std::string> HashPassword(std::string_view password) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1)
    return Status(StatusCode::kInternal, "no random bytes for a password salt");
  std::vector<char> encoded(
      argon2_encodedlen(kPasses, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id));
  int result = argon2id_hash_encoded(kPasses, kMemoryKiB, kLanes, password.data(), password.size(),
                                     salt, sizeof salt, kHashBytes, encoded.data(), encoded.size());
  if (result != ARGON2_OK)
    return Status(StatusCode::kInternal,
                  std::string("hashing a password: ") + argon2_error_message(result));
  return std::string(kScheme) + encoded.data();
}

bool VerifyPassword(std::string_view password, const std::string& stored) {
  if (stored.rfind(kScheme, 0) != 0) return false;
  return argon2id_verify(stored.c_str() + kScheme.size(), password.data(), password.size()) ==
         ARGON2_OK;
}

}  // namespace gw
