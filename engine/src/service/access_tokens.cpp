// Minted access tokens (service.h): a partner admin's scoped tokens for its people.

#include <openssl/crypto.h>

#include <regex>

#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

constexpr int64_t kMaxTokenDays = 365;

Status CheckRequest(const TokenRequest& request) {
  static const std::regex kName("[A-Za-z0-9._@+-]{1,64}");
  if (!std::regex_match(request.name, kName))
    return Status::Invalid("name: 1 to 64 letters, digits or . _ @ + -", "/name");
  auto role = ParseRole(request.role);
  if (!role || *role == Role::kOperator || *role == Role::kFilter || *role == Role::kMailboxUser)
    return Status::Invalid("role must be admin, technician, read-only or customer-admin", "/role");
  if (std::string problem = CustomerScopeProblem(*role, request.customer); !problem.empty())
    return Status::Invalid(problem, "/customer");
  if (request.expires_in_days < 1 || request.expires_in_days > kMaxTokenDays)
    return Status::Invalid(fmt::format("expiresInDays must be 1 to {}", kMaxTokenDays),
                           "/expiresInDays");
  return Status::Ok();
}

}  // namespace

Result<MintedToken> Service::MintToken(const Actor& actor, const std::string& partner,
                                       const TokenRequest& request) {
  if (Status s = CheckRequest(request); !s.ok()) return s;
  auto id = RandomHex(8);
  auto secret = RandomHex(24);
  if (!id.ok()) return id.status();
  if (!secret.ok()) return secret.status();
  MintedToken minted;
  minted.bearer = fmt::format("{}{}_{}", kMintedTokenPrefix, *id, *secret);
  AccessToken& token = minted.token;
  token.id = *id;
  token.partner = partner;
  token.name = request.name;
  token.role = request.role;
  token.customer = request.customer;
  auto now = std::chrono::system_clock::now();
  token.created_at = FormatRfc3339(now);
  token.expires_at = FormatRfc3339(now + std::chrono::hours(24 * request.expires_in_days));
  token.created_by = actor.name;
  token.sha256 = HashToken(minted.bearer);
  return impl_->Write<MintedToken>([&]() -> Result<MintedToken> {
    if (Status s = impl_->CheckPartner(actor, Action::kManageTokens, partner); !s.ok()) return s;
    if (!request.customer.empty()) {
      auto customer = impl_->ExistingCustomer(partner, request.customer);
      if (!customer.ok()) return Status::Invalid(customer.status().message(), "/customer");
    }
    if (Status s = impl_->store->SaveAccessToken(token); !s.ok()) return s;
    json detail = {{"name", token.name}, {"role", token.role}, {"expiresAt", token.expires_at}};
    if (!token.customer.empty()) detail["customer"] = token.customer;
    if (Status s = impl_->Audit(actor, partner, "token.mint", token.id, std::move(detail)); !s.ok())
      return s;
    return minted;
  });
}

Result<std::vector<AccessToken>> Service::ListTokens(const Actor& actor,
                                                     const std::string& partner) {
  return impl_->Read<std::vector<AccessToken>>([&]() -> Result<std::vector<AccessToken>> {
    if (Status s = impl_->CheckPartner(actor, Action::kManageTokens, partner); !s.ok()) return s;
    return impl_->store->ListAccessTokens(partner);
  });
}

Status Service::RevokeToken(const Actor& actor, const std::string& partner, const std::string& id) {
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status s = impl_->CheckPartner(actor, Action::kManageTokens, partner); !s.ok())
          return s;
        auto token = impl_->store->LoadAccessToken(id);
        if (!token.ok()) return token.status();
        if (!*token || (*token)->partner != partner) return NotFound(fmt::format("token '{}'", id));
        if (!(*token)->revoked_at.empty()) return true;
        if (Status s = impl_->store->RevokeAccessToken(id, Now()); !s.ok()) return s;
        if (Status s = impl_->Audit(actor, partner, "token.revoke", id,
                                    json{{"name", (*token)->name}, {"role", (*token)->role}});
            !s.ok())
          return s;
        return true;
      })
      .status();
}

std::optional<Actor> Service::AuthenticateMinted(std::string_view bearer) {
  if (!LooksLikeMintedToken(bearer)) return std::nullopt;
  std::string id(bearer.substr(kMintedTokenPrefix.size(), 16));
  auto token =
      impl_->Read<std::optional<AccessToken>>([&]() { return impl_->store->LoadAccessToken(id); });
  if (!token.ok() || !*token) return std::nullopt;
  const AccessToken& found = **token;
  std::string hash = HashToken(bearer);
  if (found.sha256.size() != hash.size() ||
      CRYPTO_memcmp(found.sha256.data(), hash.data(), hash.size()) != 0)
    return std::nullopt;
  if (!found.revoked_at.empty()) return std::nullopt;
  auto expires = ParseRfc3339(found.expires_at);
  if (!expires || *expires <= std::chrono::system_clock::now()) return std::nullopt;
  auto role = ParseRole(found.role);
  if (!role) return std::nullopt;
  return Actor{found.name, *role, found.partner, found.customer};
}

}  // namespace gw
