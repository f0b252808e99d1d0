#include "gateway/tokens.h"

#include <openssl/crypto.h>

#include <regex>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "gateway/access.h"

namespace gw {

Result<std::vector<TokenStore::Entry>> TokenStore::Parse(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Status(StatusCode::kUnavailable, fmt::format("cannot read tokens file {}", path));
  } catch (const YAML::Exception& e) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  return ParseEntries(root, path);
}

Status TokenStore::Check(const std::string& text) {
  try {
    return ParseEntries(YAML::Load(text), "entry").status();
  } catch (const YAML::Exception& e) {
    return Status::Invalid(e.msg);
  }
}

Result<std::vector<TokenStore::Entry>> TokenStore::ParseEntries(const YAML::Node& root,
                                                                const std::string& path) {
  static const std::regex kHex("[0-9a-f]{64}");
  std::vector<Entry> entries;
  const YAML::Node tokens = root["tokens"];
  if (!tokens || !tokens.IsSequence()) {
    return Status::Invalid(fmt::format("{}: expected a 'tokens:' list", path));
  }
  for (const auto& node : tokens) {
    auto where = fmt::format("{}:{}", path, node.Mark().line + 1);
    if (!node.IsMap()) return Status::Invalid(where + ": each token is a mapping");
    // Every field is a plain string: anything else is an error here, never a throw from
    // the conversion (on SIGHUP that would end gatewayd, not keep the tokens in force).
    std::string bad_field;
    auto field = [&](const char* key) -> std::string {
      const YAML::Node value = node[key];
      if (!value) return "";
      if (!value.IsScalar()) {
        if (bad_field.empty()) bad_field = key;
        return "";
      }
      return value.Scalar();
    };
    Entry entry;
    entry.actor.name = field("name");
    entry.sha256 = field("sha256");
    std::string role = field("role");
    entry.actor.partner = field("partner");
    entry.actor.customer = field("customer");
    if (!bad_field.empty()) return Status::Invalid(where + ": " + bad_field + " must be a string");
    if (entry.actor.name.empty()) return Status::Invalid(where + ": a token needs a name");
    if (!std::regex_match(entry.sha256, kHex)) {
      return Status(
          StatusCode::kInvalidArgument,
          where + ": sha256 must be 64 lowercase hex digits (gatewayd hash-token prints it)");
    }
    // A partner's token is its admin's unless it says otherwise.
    auto parsed = ParseRole(role.empty() && !entry.actor.partner.empty() ? "admin" : role);
    // A mailbox user signs in by a link mailed to it, never with a standing token.
    if (!parsed || *parsed == Role::kMailboxUser) {
      return Status::Invalid(where +
                             ": role must be operator or filter, or with a partner admin, "
                             "technician, read-only or customer-admin");
    }
    entry.actor.role = *parsed;
    bool of_partner = *parsed != Role::kOperator && *parsed != Role::kFilter;
    if (of_partner != !entry.actor.partner.empty()) {
      return Status::Invalid(where + (of_partner ? ": a " + role + " token needs a partner"
                                                 : ": an " + role + " token has no partner"));
    }
    if (std::string problem = CustomerScopeProblem(*parsed, entry.actor.customer); !problem.empty())
      return Status::Invalid(where + ": " + problem);
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<std::unique_ptr<TokenStore>> TokenStore::Load(const std::string& path) {
  auto entries = Parse(path);
  if (!entries.ok()) return entries.status();
  auto store = std::make_unique<TokenStore>();
  store->path_ = path;
  store->entries_ = std::move(*entries);
  return store;
}

Status TokenStore::Reload() {
  auto entries = Parse(path_);
  if (!entries.ok()) return entries.status();
  std::lock_guard lock(mutex_);
  entries_ = std::move(*entries);
  return Status::Ok();
}

std::optional<Actor> TokenStore::Authenticate(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  std::string hash = HashToken(token);
  std::lock_guard lock(mutex_);
  std::optional<Actor> found;
  for (const auto& entry : entries_) {
    if (CRYPTO_memcmp(entry.sha256.data(), hash.data(), hash.size()) == 0) found = entry.actor;
  }
  return found;
}

size_t TokenStore::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace gw
