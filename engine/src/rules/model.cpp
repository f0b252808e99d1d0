#include "gateway/model.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/json_reader.h"

namespace gw {

namespace {

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string hex;
  for (size_t i = 0; i < size; ++i) hex += fmt::format("{:02x}", bytes[i]);
  return hex;
}

std::string Sha256Hex(std::string_view data, size_t bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, bytes);
}

}  // namespace

bool IsUserType(std::string_view type) {
  return type == "mailbox" || type == "shared" || type == "resource" || type == "alias";
}

namespace {

constexpr int kSecretIterations = 10'000;

std::string Pbkdf2(const std::string& value, const std::string& salt, int iterations) {
  unsigned char out[16];
  PKCS5_PBKDF2_HMAC(value.data(), static_cast<int>(value.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(), sizeof out, out);
  return Hex(out, sizeof out);
}

}  // namespace

std::string SecretFingerprint(const std::string& value) {
  unsigned char salt[16];
  if (RAND_bytes(salt, sizeof salt) != 1) std::abort();  // no randomness: nothing is safe
  std::string salt_hex = Hex(salt, sizeof salt);
  return fmt::format("pbkdf2-sha256${}${}${}", kSecretIterations, salt_hex,
                     Pbkdf2(value, salt_hex, kSecretIterations));
}

bool SecretMatches(const std::string& fingerprint, const std::string& value) {
  // pbkdf2-sha256$ITERATIONS$SALT$HASH; anything else (an older form) matches nothing,
  // so the secret is written once more.
  std::string_view rest = fingerprint;
  constexpr std::string_view kScheme = "pbkdf2-sha256$";
  if (rest.substr(0, kScheme.size()) != kScheme) return false;
  rest.remove_prefix(kScheme.size());
  size_t a = rest.find('$');
  size_t b = a == std::string_view::npos ? a : rest.find('$', a + 1);
  if (b == std::string_view::npos) return false;
  int iterations = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + a, iterations);
  if (ec != std::errc() || end != rest.data() + a || iterations < 1 || iterations > 10'000'000)
    return false;
  std::string expected = Pbkdf2(value, std::string(rest.substr(a + 1, b - a - 1)), iterations);
  std::string_view stored = rest.substr(b + 1);
  return stored.size() == expected.size() &&
         CRYPTO_memcmp(stored.data(), expected.data(), expected.size()) == 0;
}

namespace {

// The bytes a user's hash covers: every field, in a fixed order, with separators that
// cannot appear in addresses or names, so it is unambiguous and cheap to build.
std::string CanonicalUser(const User& user) {
  std::string out;
  out.reserve(64 + user.aliases.size() * 32);
  out += user.address;
  out += '\x1f';
  out += user.type;
  out += '\x1f';
  out += user.first_name;
  out += '\x1f';
  out += user.last_name;
  out += '\x1f';
  for (const auto& alias : user.aliases) {
    out += alias;
    out += '\x1e';
  }
  out += '\x1f';
  out += user.source;
  out += '\x1f';
  out += user.active ? '1' : '0';
  // Only when set, so the hashes of users stored before the field existed stay the same.
  if (user.continuity)
    out +=
        "\x1f"
        "c";
  return out;
}

using Hash16 = std::array<unsigned char, 16>;

Hash16 RawUserHash(const User& user) {
  std::string canonical = CanonicalUser(user);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  Hash16 out;
  std::copy(digest, digest + 16, out.begin());
  return out;
}

std::string Hex(const Hash16& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex(32, '0');
  for (size_t i = 0; i < 16; ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return hex;
}

}  // namespace

std::string UserHash(const User& user) {
  return Hex(RawUserHash(user));
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
  Hash16 digest{};
  for (const auto& user : users) {
    Hash16 h = RawUserHash(user);
    for (size_t i = 0; i < 16; ++i) digest[i] ^= h[i];
  }
  return Hex(digest);
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
  return {{"address", user.address},      {"type", user.type},
          {"firstName", user.first_name}, {"lastName", user.last_name},
          {"aliases", user.aliases},      {"source", user.source},
          {"active", user.active},        {"continuity", user.continuity}};
}

Result<User> UserFromJson(const nlohmann::json& value, const std::string& at) {
  JsonReader r(value, at);
  r.AllowOnly(
      {"address", "type", "firstName", "lastName", "aliases", "source", "active", "continuity"});
  User user;
  r.Get("address", user.address, true);
  r.Get("type", user.type);
  r.Get("firstName", user.first_name);
  r.Get("lastName", user.last_name);
  r.Get("aliases", user.aliases);
  r.Get("source", user.source);
  r.Get("active", user.active);
  r.Get("continuity", user.continuity);
  if (!r.status().ok()) return r.status();
  return user;
}

namespace {
Status InvalidUser(std::string message, std::string field) {
  return Status::Invalid(std::move(message), std::move(field));
}
}  // namespace

Result<User> NormalizeUser(const User& user, const std::string& at) {
  User out = user;
  auto address = ParseEmailAddress(user.address);
  if (!address.ok()) return InvalidUser(address.status().message(), at + "/address");
  out.address = address->ToString();
  if (!IsUserType(user.type)) {
    return InvalidUser(
        fmt::format("type must be one of: mailbox, shared, resource, alias (found '{}')",
                    user.type),
        at + "/type");
  }
  if (user.source != "manifest" && user.source != "csv" && user.source != "discovered" &&
      !IsDirectorySource(user.source)) {
    return InvalidUser(fmt::format("source must be one of: manifest, csv, discovered, {} (found "
                                   "'{}')",
                                   fmt::join(kDirectorySources, ", "), user.source),
                       at + "/source");
  }
  if (user.first_name.size() > 256 || user.last_name.size() > 256) {
    return InvalidUser("names are limited to 256 bytes", at + "/firstName");
  }
  out.aliases.clear();
  for (size_t i = 0; i < user.aliases.size(); ++i) {
    auto alias = ParseEmailAddress(user.aliases[i]);
    if (!alias.ok())
      return InvalidUser(alias.status().message(), fmt::format("{}/aliases/{}", at, i));
    if (alias->ToString() != out.address) out.aliases.push_back(alias->ToString());
  }
  std::sort(out.aliases.begin(), out.aliases.end());
  out.aliases.erase(std::unique(out.aliases.begin(), out.aliases.end()), out.aliases.end());
  return out;
}

nlohmann::json ToJson(const Customer& c) {
  nlohmann::json claims = nlohmann::json::array();
  for (const auto& claim : c.domain_claims) claims.push_back(ToJson(claim));
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
          {"updatedAt", c.updated_at},
          {"domainClaims", std::move(claims)}};
}

nlohmann::json ToJson(const DomainClaim& claim) {
  // Compact: a partner's state carries one per domain. Empty fields are left out, and a
  // verified claim's record, which nobody needs to publish any more.
  nlohmann::json out = {{"domain", claim.domain},
                        {"partner", claim.partner},
                        {"customer", claim.customer},
                        {"state", claim.verified() ? "verified" : "pending"},
                        {"claimedAt", claim.claimed_at}};
  for (const auto& [key, value] :
       {std::pair{"verifiedAt", &claim.verified_at}, std::pair{"checkedAt", &claim.checked_at},
        std::pair{"checkDetail", &claim.check_detail}}) {
    if (!value->empty()) out[key] = *value;
  }
  if (!claim.verified() && !claim.token.empty()) out["record"] = claim.record();
  return out;
}

nlohmann::json ToJson(const QuarantinedMessage& m) {
  return {{"id", m.id},
          {"customer", m.customer},
          {"receivedAt", m.received_at},
          {"sender", m.sender},
          {"recipients", m.recipients},
          {"subject", m.subject},
          {"size", m.size},
          {"reason", m.reason},
          {"detail", m.detail},
          {"releasedAt", m.released_at},
          {"releasedTo", m.released_to},
          {"releaseRequests", m.release_requests},
          {"removedBy", m.removed_by}};
}

nlohmann::json ToJson(const AccessToken& t) {
  nlohmann::json out = {{"id", t.id},
                        {"name", t.name},
                        {"role", t.role},
                        {"createdAt", t.created_at},
                        {"createdBy", t.created_by},
                        {"expiresAt", t.expires_at}};
  if (!t.customer.empty()) out["customer"] = t.customer;
  if (!t.revoked_at.empty()) out["revokedAt"] = t.revoked_at;
  return out;
}

nlohmann::json ToJson(const PersonalListEntry& e) {
  return {{"address", e.address}, {"list", e.list},        {"kind", e.kind},
          {"value", e.value},     {"addedAt", e.added_at}, {"addedBy", e.added_by}};
}

nlohmann::json ToJson(const AuditEntry& e) {
  return {{"id", e.id},         {"at", e.at},         {"partner", e.partner}, {"actor", e.actor},
          {"action", e.action}, {"target", e.target}, {"detail", e.detail}};
}

}  // namespace gw
