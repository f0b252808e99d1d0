#include "gateway/model.h"

#include <openssl/sha.h>

#include <fmt/format.h>

#include "json_codec.h"

namespace gw {

namespace {

std::string Sha256Hex(std::string_view data, size_t bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (size_t i = 0; i < bytes; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace

std::string SecretFingerprint(const std::string& partner, const std::string& customer,
                              const std::string& pointer, const std::string& value) {
  std::string material = partner + '\0' + customer + '\0' + pointer + '\0' + value;
  return "sha256:" + Sha256Hex(material, 16);
}

std::string UserHash(const User& user) {
  return UserRecordHash(ToJson(user).dump());
}

std::string UserRecordHash(const std::string& serialized_user) {
  return Sha256Hex(serialized_user, 16);
}

std::string XorHex(const std::string& a, const std::string& b) {
  std::string out(32, '0');
  for (size_t i = 0; i < 32; ++i) {
    auto nibble = [](const std::string& s, size_t k) {
      if (k >= s.size()) return 0;
      char c = s[k];
      return c <= '9' ? c - '0' : c - 'a' + 10;
    };
    out[i] = "0123456789abcdef"[nibble(a, i) ^ nibble(b, i)];
  }
  return out;
}

std::string UsersDigest(const std::vector<User>& users) {
  std::string digest(32, '0');
  for (const auto& user : users) digest = XorHex(digest, UserHash(user));
  return digest;
}

std::string ContentChecksum(std::string_view bytes) {
  return "sha256:" + Sha256Hex(bytes, 32);
}

std::string StateChecksum(const PartnerState& state) {
  std::string material = state.partner;
  for (const auto& c : state.customers) {
    material += fmt::format("\n{}\t{}\t{}\t{}", c.name, c.version, c.owner, c.users_digest);
  }
  return ContentChecksum(material);
}

nlohmann::json ToJson(const User& user) {
  // Field order is fixed (nlohmann sorts keys), so the hash is stable.
  return {{"address", user.address},    {"type", user.type},       {"firstName", user.first_name},
          {"lastName", user.last_name}, {"aliases", user.aliases}, {"source", user.source},
          {"active", user.active}};
}

Result<User> UserFromJsonValue(const nlohmann::json& value) {
  return UserFromJson(value, "");
}

nlohmann::json ToJson(const Customer& c) {
  return {{"name", c.name},
          {"version", c.version},
          {"owner", c.owner},
          {"appliedRevision", c.applied_revision},
          {"labels", c.labels},
          {"spec", c.spec},
          {"secretFingerprints", c.secret_fingerprints},
          {"userCount", c.user_count},
          {"usersDigest", c.users_digest},
          {"createdAt", c.created_at},
          {"updatedAt", c.updated_at}};
}

nlohmann::json ToJson(const AuditEntry& e) {
  return {{"id", e.id},         {"at", e.at},         {"partner", e.partner}, {"actor", e.actor},
          {"action", e.action}, {"target", e.target}, {"detail", e.detail}};
}

}  // namespace gw
