// The conversations the mail servers hold with gatewayd, as byte-in/byte-out state
// machines without sockets, so they can be tested and fuzzed alone (postfix_lookups.cpp
// carries them over sockets):
// - socketmap (socketmap_table(5)): netstring "NAME KEY" -> "OK value" | "NOTFOUND " |
//   "TEMP reason" | "PERM reason"; maps `domains`, `recipients`, `transport`,
//   `filter` (gw-milter's: a customer's filter settings as JSON, by recipient), and for
//   continuity `continuity` (whose mail is kept) and `logins` (who may send as an address).
// - policy delegation (SMTPD_POLICY_README): "name=value" lines and an empty line ->
//   "action=..." and an empty line.
// - memcache text protocol (get/set/delete), as Postfix's verify(8) uses it to keep
//   address probe results in gatewayd (address_verify_map = memcache:...).
// - Dovecot's dict protocol (the `proxy:` dict client): tab-separated lines, "H..." hello
//   then "L<key>" lookups -> "O<value>" | "N" | "F<error>"; Dovecot's passdb and userdb
//   ask it for continuity users (keys passdb/USER and userdb/USER, values JSON).
//
// Contract of Consume: takes whole requests from the front of `input` (a partial request
// stays there for the next call), appends the replies to `output`, and returns false
// when the connection must close once `output` is written (a request that cannot be
// framed, or is larger than the limit). Never throws; any bytes are safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/continuity.h"
#include "gateway/mail_directory.h"
#include "gateway/status.h"
#include "lookups/postfix_lookups.h"

namespace gw::postfix {

using DirectoryGetter = std::function<std::shared_ptr<const MailDirectory>()>;
using ProblemLog = std::function<void(const std::string&)>;

// The restriction class (main.cf smtpd_restriction_classes) the policy names for an
// address to probe: it holds reject_unverified_recipient.
inline constexpr const char* kDiscoveryClass = "gw_discover";

// Requests larger than this are refused and the connection closed.
inline constexpr size_t kMaxRequestBytes = 64 * 1024;

class Protocol {
 public:
  virtual ~Protocol() = default;
  virtual bool Consume(std::string& input, std::string& output) = 0;
};

// `continuity` may be null (no continuity listener): transport answers are the
// customers' own servers.
std::unique_ptr<Protocol> MakeSocketmap(DirectoryGetter directory,
                                        const ContinuityRouting* continuity, ProblemLog log);
// `tally` (may be null) counts the recipients accepted, by customer and client TLS.
std::unique_ptr<Protocol> MakePolicy(DirectoryGetter directory, ProblemLog log,
                                     TlsTally* tally = nullptr);

// verify(8)'s results, shared by every memcache connection, bounded in entries and in
// bytes: whoever reaches the port can store, so a full cache forgets an arbitrary entry
// (verify then probes that address again) rather than grow.
class VerifyCache {
 public:
  static constexpr size_t kMaxKeyBytes = 512;     // "verify:" and an address
  static constexpr size_t kMaxValueBytes = 1024;  // "status:probed:updated:reply text"
  explicit VerifyCache(size_t capacity, size_t max_bytes = 64u << 20)
      : capacity_(capacity), max_bytes_(max_bytes) {}
  void Set(const std::string& key, std::string value);
  bool Get(const std::string& key, std::string& value) const;
  bool Delete(const std::string& key);
  size_t bytes() const;

 private:
  // Drops one entry and its bytes; the lock held.
  void Forget(std::unordered_map<std::string, std::string>::iterator entry);

  size_t capacity_, max_bytes_;
  size_t bytes_ = 0;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> entries_;
};

// Called with each address a destination accepted for a probe (status 0) that is not a
// user yet of a customer with address discovery.
using DiscoveredAddress = std::function<void(const MailCustomer&, const std::string& address)>;

// The stored password hash of a user's continuity mailbox; nullopt when none is set.
using PasswordLookup = std::function<Result<std::optional<std::string>>(
    const MailCustomer& customer, const std::string& user)>;

// passdb/USER answers {"password": hash, "user": the user's address} for a user who may
// use continuity and has a password; userdb/USER answers {"user": ...} for any user, so
// that mail kept for them stays reachable (for delivery afterwards and retention) after
// the scope changes; what reaches Dovecot at all is gated by the socketmap's continuity
// map. An alias names its user.
std::unique_ptr<Protocol> MakeDovecotDict(DirectoryGetter directory, PasswordLookup passwords,
                                          ProblemLog log);

std::unique_ptr<Protocol> MakeVerifyMemcache(VerifyCache& cache, DirectoryGetter directory,
                                             DiscoveredAddress discovered, ProblemLog log);

}  // namespace gw::postfix
