// Tokens: who may call gatewayd, in which role (gateway/access.h). The tokens file holds
// only SHA-256 hashes:
//   tokens:
//     - {name: ops, role: operator, sha256: "<64 hex>"}
//     - {name: northwind-ci, partner: northwind-msp, sha256: "<64 hex>"}
//     - {name: gw-milter, role: filter, sha256: "<64 hex>"}   (keeps quarantined mail only)
//     - {name: alice, role: technician, partner: northwind-msp, sha256: "<64 hex>"}
//     - {name: acme-it, role: customer-admin, partner: northwind-msp, customer: acme, ...}
// A partner's entry without a role is its admin's.
// Authenticate() is safe to call concurrently with Reload().
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/access.h"
#include "gateway/service.h"
#include "gateway/status.h"

namespace YAML {
class Node;
}

namespace gw {

class TokenStore {
 public:
  // Reads and checks the file: every entry needs a name, a 64-hex sha256, and either a
  // role (operator, filter) or a partner. Errors name the entry.
  static Result<std::unique_ptr<TokenStore>> Load(const std::string& path);

  // Whether `text` (a tokens file's content) would load: what `gatewayd hash-token`
  // checks its entry with.
  static Status Check(const std::string& text);

  // Re-reads the file; on error the previous tokens stay in force.
  Status Reload();

  // The actor a bearer token stands for, if any. Compares in constant time.
  std::optional<Actor> Authenticate(std::string_view token) const;
  size_t size() const;

 private:
  struct Entry {
    Actor actor;
    std::string sha256;
  };
  static Result<std::vector<Entry>> Parse(const std::string& path);
  static Result<std::vector<Entry>> ParseEntries(const YAML::Node& root, const std::string& path);

  std::string path_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace gw
