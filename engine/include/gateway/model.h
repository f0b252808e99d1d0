// The gateway's data model: partners own customers; a customer is a settings document
// (a Customer manifest's spec with defaults merged and users split out) plus its users.
// These types travel unchanged between gwctl, the HTTP API and the store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/status.h"

namespace gw {

// An address of a customer that the gateway accepts mail for.
struct User {
  std::string address;           // normalised local@domain (lowercase, IDNA A-labels)
  std::string type = "mailbox";  // mailbox | shared | resource | alias
  std::string first_name;
  std::string last_name;
  std::vector<std::string> aliases;  // normalised, sorted
  std::string source = "manifest";   // manifest | csv | discovered | a directory source
  bool active = true;
  // Activated for continuity: may log in to a continuity mailbox (with a password set
  // through the admin API) while the customer's server is down.
  bool continuity = false;

  bool operator==(const User&) const = default;
};

// mailbox | shared | resource | alias.
bool IsUserType(std::string_view type);

// The kinds of directory a customer's users can be read from: each is a list
// `spec.users.<kind>` in a Customer manifest and the User::source of the users it gives.
// Their users are known only once read (at plan time), never while validating.
inline constexpr std::string_view kDirectorySources[] = {"ldap", "microsoft365", "googleWorkspace"};
bool IsDirectorySource(std::string_view source);
// Whether a customer's spec names at least one directory source.
bool ReadsDirectoryUsers(const nlohmann::json& spec);

// A customer's claim on one of its domains. When the gateway verifies domains, a new
// claim stays pending until the domain publishes the TXT record `record()`; only a
// verified claim takes mail, and a name has at most one verified claim. Without
// verification every claim is verified when made.
inline constexpr std::string_view kVerificationRecordPrefix = "gwctl-verify=";
struct DomainClaim {
  std::string domain;
  std::string partner;
  std::string customer;
  std::string token;         // "" for claims made before verification existed
  std::string claimed_at;    // RFC 3339
  std::string verified_at;   // "" while pending
  std::string checked_at;    // the last DNS check; "" before the first
  std::string check_detail;  // what that check found

  bool verified() const { return !verified_at.empty(); }
  // The TXT record at the domain that proves the customer's partner controls it.
  std::string record() const { return std::string(kVerificationRecordPrefix) + token; }
};

// Where a customer's DNS must point, as the gateway describes itself (GET /v1/gateway).
struct GatewayFacts {
  std::vector<std::string> mx_hosts;  // the gateway's host names, in preference order
  std::string spf_include;            // the name an SPF policy includes; "" if none
  bool verifies_domains = false;      // new domain claims wait for their TXT record
};

// A customer as the gateway holds it.
struct Customer {
  std::string name;
  int64_t version = 0;  // bumped by every change of the settings document; the ETag
  std::string owner;    // who manages it, e.g. "gwctl:northwind-msp"; empty if made by hand
  std::string applied_revision;  // the git commit that last wrote it
  std::map<std::string, std::string> labels;
  nlohmann::json spec = nlohmann::json::object();
  // Write-only values (passwords) are never stored or returned: only a fingerprint per
  // JSON pointer of the secret, e.g. {"/panelLogin/password": "sha256:..."}.
  std::map<std::string, std::string> secret_fingerprints;
  int64_t user_count = 0;
  std::string users_digest;  // UsersDigest() of all its users: equal digests, equal users
  std::string created_at;    // RFC 3339, UTC
  std::string updated_at;
  // Its domains' claims, by domain: read-only status, not settings (no version change).
  std::vector<DomainClaim> domain_claims;
};

// What a create or replace carries.
struct CustomerWrite {
  std::string owner;
  std::string applied_revision;
  std::map<std::string, std::string> labels;
  nlohmann::json spec = nlohmann::json::object();
  std::map<std::string, std::string> secrets;  // JSON pointer -> value; only fingerprints are kept
};

// The check a write makes against the stored version.
struct WriteCondition {
  enum class Kind { kCreateOnly, kVersion };
  Kind kind = Kind::kCreateOnly;
  int64_t version = 0;

  static WriteCondition CreateOnly() { return {Kind::kCreateOnly, 0}; }
  static WriteCondition AtVersion(int64_t v) { return {Kind::kVersion, v}; }
};

// An atomic change to a customer's users: all of it applies, or none.
struct UserBatch {
  std::vector<User> upsert;
  std::vector<std::string> remove;  // addresses; removing an absent one is not an error
};

struct UserBatchResult {
  int64_t upserted = 0;  // users created or changed (identical ones are not counted)
  int64_t removed = 0;
  int64_t user_count = 0;
  std::string users_digest;
};

struct UserPage {
  std::vector<User> users;  // sorted by address
  std::string next_after;   // pass as `after` for the next page; empty at the end
};

// Everything a planner needs about one partner, read in one transaction.
struct PartnerState {
  std::string partner;
  int64_t revision = 0;             // bumped by every write to the partner; a plan records it
  std::vector<Customer> customers;  // sorted by name
};

struct Lease {
  std::string holder;
  int64_t expires_at_unix = 0;
};

// A message the filter kept from delivery (spam, or an attachment rule that
// quarantines), held per customer until released or past the retention.
struct QuarantinedMessage {
  int64_t id = 0;  // assigned by the store
  std::string customer;
  std::string received_at;  // RFC 3339
  std::string sender;       // "" for the null sender
  std::vector<std::string> recipients;
  std::string subject;
  int64_t size = 0;
  std::string reason;       // spam | infomail | attachment | virus
  std::string detail;       // what the filter saw, e.g. "score 15.0 (reject) GTUBE"
  std::string released_at;  // "" until released (to every recipient, by an admin)
  // Recipients who released it to themselves, and who asked for it (self-service).
  std::vector<std::string> released_to;
  std::vector<std::string> release_requests;
  std::vector<std::string> removed_by;  // took it off their own list (still held)
};

// A bearer token minted through the admin API for one of a partner's people (access.h
// says what its role may do). The bearer token is "gwt_<id>_<secret>", shown once when
// minted; the store keeps only its SHA-256.
struct AccessToken {
  std::string id;  // public: names the token in lists, revocation and the audit log
  std::string partner;
  std::string name;                    // who uses it: the audit log's actor
  std::string role;                    // admin | technician | read-only | customer-admin
  std::string customer;                // a customer admin's one customer; "" otherwise
  std::string created_at, expires_at;  // RFC 3339
  std::string created_by;              // the minting actor's name
  std::string revoked_at;              // "" while in force
  std::string sha256;                  // of the bearer token; never answered
};

// One entry of a mailbox user's own allow or block list, kept on the gateway (users
// change them; they are not in git). `kind` is sender (an address) or senderDomain.
struct PersonalListEntry {
  std::string address;  // the user's
  std::string list;     // allow | block
  std::string kind;
  std::string value;  // lower case
  std::string added_at;
  std::string added_by;  // the actor that added it
};

struct AuditEntry {
  int64_t id = 0;
  std::string at;  // RFC 3339
  std::string partner;
  std::string actor;   // the token's name, or "local" in embedded mode
  std::string action;  // customer.create, customer.update, customer.delete, users.batch,
                       // partner.create, lease.acquire, lease.release (target: the holder)
  std::string target;
  nlohmann::json detail;  // never holds a secret
};

// The fingerprint of a write-only value (a panel password), as stored and returned:
// "pbkdf2-sha256$ITERATIONS$SALT$HASH", with a random salt and a slow hash, since a
// fingerprint travels further than the value (API answers, saved plans in CI) and a
// chosen password is guessable. SecretMatches tells whether a value is the one a
// fingerprint was made from; gwctl and gatewayd compare that way, never by equal text.
std::string SecretFingerprint(const std::string& value);
bool SecretMatches(const std::string& fingerprint, const std::string& value);

// 16 bytes (hex) that identify one user's full record; the users digest of a customer
// is the XOR of these over its users, so it can be kept up to date one user at a time.
std::string UserHash(const User& user);
std::string UsersDigest(const std::vector<User>& users);
std::string XorHex(const std::string& a, const std::string& b);

// "sha256:<hex>" of some bytes: for checksums over plans and states.
std::string ContentChecksum(std::string_view bytes);

// A checksum over what a planner reads of a partner: every customer's name, version,
// owner and users digest. Equal checksums, equal state.
std::string StateChecksum(const PartnerState& state);

nlohmann::json ToJson(const User& user);
// The inverse of ToJson(User) (which is also how a store keeps a user); errors name the
// field, under the JSON pointer `at`.
Result<User> UserFromJson(const nlohmann::json& value, const std::string& at = "");
// Checks and normalises a user: address and aliases (lowercase, IDNA), type, source.
Result<User> NormalizeUser(const User& user, const std::string& at);
nlohmann::json ToJson(const Customer& customer);
nlohmann::json ToJson(const AuditEntry& entry);
nlohmann::json ToJson(const QuarantinedMessage& message);
nlohmann::json ToJson(const DomainClaim& claim);
nlohmann::json ToJson(const AccessToken& token);  // without its hash
nlohmann::json ToJson(const PersonalListEntry& entry);

}  // namespace gw
