// Store: where the gateway keeps partners, customers, their claims and users, leases and
// the audit log. A store knows rows, not rules: Service decides what may be written,
// bumps versions and writes the audit entry, all inside one Store transaction per call.
// A second store (PostgreSQL) or a test double (one that fails on purpose) is one class.
//
// Contract:
// - Every method except Transaction is called only inside Transaction's body.
// - Transaction(write=true, body) commits the body's writes only if body returns ok and
//   the commit succeeds; otherwise none of them is visible, to this or any process.
//   Once it returns ok, the writes are durable.
// - A read transaction sees one consistent snapshot.
// - Failures of the medium are kUnavailable (retrying may help, e.g. a lock held by
//   another process past the busy timeout) or kInternal.
// Not thread-safe: Service serialises its calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/ip_range.h"
#include "gateway/model.h"
#include "gateway/status.h"

namespace gw {

// The customer that holds a domain or a relay source.
struct ClaimOwner {
  std::string partner;
  std::string customer;
};

struct RelayClaim {
  IpRange range;
  ClaimOwner owner;
};

// What identifies one state of a customer: equal marks, equal settings, users and
// domains that take mail.
struct CustomerMark {
  ClaimOwner customer;
  int64_t version = 0;
  std::string users_digest;
  std::vector<std::string> pending_domains;  // claimed, not verified: they take no mail
  int64_t personal_lists_revision = 0;       // bumped by every change of its users' lists
};

// A partner's proof of a domain: the token its claims publish, and when the record was
// seen. It outlives the claims, so that a customer replaced or a domain moved between the
// partner's customers is not put back to pending (store.h; Service decides how long).
struct DomainProof {
  std::string partner, domain;
  std::string token;
  std::string verified_at;  // "" until a claim of the partner was verified
  std::string released_at;  // "" while the partner has a claim on it
};

// An outage of a customer's servers, as continuity recorded it.
struct ContinuityOutage {
  std::string partner, customer;
  std::string started_at;  // RFC 3339
  std::string ended_at;    // "" while it lasts
  std::string reason;      // what the probe saw when it began
  bool delivered = false;  // the mail kept during it was sent on afterwards
};

struct SpamReportState {
  std::string checked_at;  // RFC 3339; "" before the customer's first report pass
  std::map<std::string, int64_t> reported_through;  // recipient -> quarantine id
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Status Transaction(bool write, const std::function<Status()>& body) = 0;

  // Partners.
  virtual Result<bool> PartnerExists(const std::string& partner) = 0;
  // False when it existed already (and nothing was written).
  virtual Result<bool> InsertPartner(const std::string& partner, const std::string& created_at) = 0;
  virtual Result<std::vector<std::string>> ListPartners() = 0;
  virtual Result<int64_t> PartnerRevision(const std::string& partner) = 0;
  virtual Status BumpPartnerRevision(const std::string& partner) = 0;

  // Customers: the settings row. Its configuration is compiled from the spec where it is
  // used (customer_rules.h CompileStored), so there is one truth.
  virtual Result<std::optional<Customer>> LoadCustomer(const std::string& partner,
                                                       const std::string& name) = 0;
  virtual Result<std::vector<Customer>> ListCustomers(const std::string& partner) = 0;
  virtual Status SaveCustomer(const std::string& partner, const Customer& customer) = 0;
  // Removes the customer row, its claims and its users.
  virtual Status DeleteCustomer(const std::string& partner, const std::string& name) = 0;
  virtual Status SetUserSummary(const std::string& partner, const std::string& name,
                                int64_t user_count, const std::string& users_digest) = 0;
  // Customers an upgraded store held from before their claims were derived from their
  // settings; each is given once (the list is emptied with the transaction's commit).
  virtual Result<std::vector<ClaimOwner>> TakeCustomersToRecompile() = 0;

  // Claims: domains (model.h DomainClaim: any number of pending claims on a name, at
  // most one verified) and hand-written relay sources. ReplaceClaims sets a customer's
  // claims to exactly these.
  // The customer whose verified claim holds `domain`.
  virtual Result<std::optional<ClaimOwner>> DomainOwner(const std::string& domain) = 0;
  // The customer's claimed domains, verified or not.
  virtual Result<std::vector<std::string>> CustomerDomains(const std::string& partner,
                                                           const std::string& customer) = 0;
  // Claims by partner, customer and domain; "" matches every partner or customer, and
  // `pending_only` leaves out verified claims.
  virtual Result<std::vector<DomainClaim>> ListDomainClaims(const std::string& partner,
                                                            const std::string& customer,
                                                            bool pending_only) = 0;
  // Records a check of the claim (domain, partner, customer): its verified_at,
  // checked_at and check_detail. kNotFound when the claim is gone.
  virtual Status SaveDomainCheck(const DomainClaim& claim) = 0;
  virtual Result<std::optional<DomainProof>> LoadDomainProof(const std::string& partner,
                                                             const std::string& domain) = 0;
  virtual Status SaveDomainProof(const DomainProof& proof) = 0;  // creates or replaces
  // A relay source of a customer other than `except` that overlaps `range`, if any.
  virtual Result<std::optional<RelayClaim>> RelayOverlap(const IpRange& range,
                                                         const ClaimOwner& except) = 0;
  virtual Status ReplaceClaims(const ClaimOwner& owner, const std::vector<DomainClaim>& domains,
                               const std::vector<IpRange>& relay_sources) = 0;

  // Users. The hash is UserHash(user), kept so a batch can skip identical records.
  virtual Result<std::optional<std::string>> UserHashOf(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& address) = 0;
  // The stored hashes of those of `addresses` that are users. One query where the store
  // talks over a network: a batch of 50,000 users must not be 50,000 round trips.
  virtual Result<std::map<std::string, std::string>> UserHashesOf(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) = 0;
  struct UserWrite {
    const User* user;
    std::string hash;
    bool replacing;  // a user with this address exists (whose old aliases are dropped)
  };
  // Writes each user (addresses distinct) and makes its aliases its own, taking them from
  // another user (Service has checked that each is free or moving).
  virtual Status PutUsers(const std::string& partner, const std::string& customer,
                          const std::vector<UserWrite>& users) = 0;
  // Removes the users, their aliases and their continuity passwords.
  virtual Status RemoveUsers(const std::string& partner, const std::string& customer,
                             const std::vector<std::string>& addresses) = 0;
  // Whether any user of the customer has an alias.
  virtual Result<bool> HasAliases(const std::string& partner, const std::string& customer) = 0;
  // Those of `addresses` that are some user's alias, with that user (alias -> owner).
  virtual Result<std::map<std::string, std::string>> AliasOwners(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) = 0;
  // Up to `limit` users after `after`, by address.
  virtual Result<std::vector<User>> ListUsers(const std::string& partner,
                                              const std::string& customer, const std::string& after,
                                              size_t limit) = 0;
  // How many of the customer's users lie in `domain`, and the first of them.
  virtual Result<std::pair<int64_t, std::string>> UsersInDomain(const std::string& partner,
                                                                const std::string& customer,
                                                                const std::string& domain) = 0;

  // Leases.
  virtual Result<std::optional<Lease>> GetLease(const std::string& partner) = 0;
  virtual Status PutLease(const std::string& partner, const Lease& lease) = 0;
  virtual Status DeleteLease(const std::string& partner, const std::string& holder) = 0;

  // For the mail data plane, which keeps a copy and re-reads only what changed.
  // A value that differs once any writer, in this process or another, has committed.
  virtual Result<int64_t> ChangeMark() = 0;
  // Every customer of every partner.
  virtual Result<std::vector<CustomerMark>> ListCustomerMarks() = 0;
  // The customer's active users' addresses and aliases, each with its user's address.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListRecipients(
      const std::string& partner, const std::string& customer) = 0;

  // The quarantine. Messages are kept whole; listing returns only their metadata.
  virtual Result<int64_t> AddQuarantined(const std::string& partner, const QuarantinedMessage& meta,
                                         const std::string& message) = 0;
  // Up to `limit` of the customer's messages with an id above `after`, oldest first.
  virtual Result<std::vector<QuarantinedMessage>> ListQuarantined(const std::string& partner,
                                                                  const std::string& customer,
                                                                  int64_t after, size_t limit) = 0;
  virtual Result<std::optional<std::pair<QuarantinedMessage, std::string>>> LoadQuarantined(
      const std::string& partner, const std::string& customer, int64_t id) = 0;
  virtual Status MarkReleased(const std::string& partner, const std::string& customer, int64_t id,
                              const std::string& released_at) = 0;
  // Removes messages received before `before` (RFC 3339); returns how many.
  virtual Result<int64_t> PurgeQuarantine(const std::string& before) = 0;

  // Spam reports: how far the customer's schedule was looked at, and per recipient the
  // last quarantined message a report of theirs covered. Save writes checked_at and the
  // given recipients' marks; other recipients' marks stay.
  virtual Result<SpamReportState> LoadSpamReportState(const std::string& partner,
                                                      const std::string& customer) = 0;
  virtual Status SaveSpamReportState(const std::string& partner, const std::string& customer,
                                     const SpamReportState& state) = 0;

  // Continuity: the addresses of the customer's active users activated for continuity,
  // and each one's password hash (password_hash.h; never the password). A user's hash
  // goes with the user (RemoveUsers, DeleteCustomer).
  virtual Result<std::vector<std::string>> ListContinuityUsers(const std::string& partner,
                                                               const std::string& customer) = 0;
  virtual Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                                       const std::string& address, const std::string& hash,
                                       const std::string& set_at) = 0;
  virtual Result<std::optional<std::string>> ContinuityPassword(const std::string& partner,
                                                                const std::string& customer,
                                                                const std::string& address) = 0;

  // Continuity outages, so that a restarted gatewayd knows who is in continuity and
  // whose kept mail is still to deliver or expunge. Start records a new one (one per
  // customer and start time); End ends the customer's ongoing one; MarkDelivered marks
  // its ended ones delivered. Listed: ongoing ones, undelivered ones, and those ended at
  // or after `ended_since` (RFC 3339), by customer and start.
  virtual Status StartOutage(const ContinuityOutage& outage) = 0;
  virtual Status EndOutage(const std::string& partner, const std::string& customer,
                           const std::string& ended_at) = 0;
  virtual Status MarkOutagesDelivered(const std::string& partner, const std::string& customer) = 0;
  virtual Result<std::vector<ContinuityOutage>> ListOutages(const std::string& ended_since) = 0;

  // Job leases: which gatewayd replica runs work that must run in one place at a time
  // (probing customers' servers, a spam report pass). Each is one step on its own,
  // outside Transaction, and does not count as a change of the store (ChangeMark).
  // HoldJob gives `job` to `holder` until `until_ms` (Unix ms) when it is free, expired
  // at `now_ms`, or `holder`'s already (a renewal), and returns who holds it afterwards.
  // ReleaseJob gives it up if `holder` has it.
  virtual Result<std::string> HoldJob(const std::string& job, const std::string& holder,
                                      int64_t now_ms, int64_t until_ms) = 0;
  virtual Status ReleaseJob(const std::string& job, const std::string& holder) = 0;
  // HoldJob from now, by the system clock, for `ttl`.
  Result<std::string> HoldJobFor(const std::string& job, const std::string& holder,
                                 std::chrono::milliseconds ttl) {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    return HoldJob(job, holder, now, now + ttl.count());
  }

  // Minted access tokens (model.h AccessToken): saved once, revoked by setting
  // revoked_at, listed by partner (newest first) and found by id.
  virtual Status SaveAccessToken(const AccessToken& token) = 0;
  virtual Result<std::optional<AccessToken>> LoadAccessToken(const std::string& id) = 0;
  virtual Result<std::vector<AccessToken>> ListAccessTokens(const std::string& partner) = 0;
  virtual Status RevokeAccessToken(const std::string& id, const std::string& revoked_at) = 0;

  // Mailbox users' own allow and block lists. An address has one entry per value: adding
  // a value to one list moves it from the other. Every change bumps the customer's
  // personal_lists_revision (CustomerMark). A user's entries go with the user
  // (RemoveUsers, DeleteCustomer). `address` "" lists every user's.
  virtual Result<std::vector<PersonalListEntry>> ListPersonalEntries(
      const std::string& partner, const std::string& customer, const std::string& address) = 0;
  virtual Status PutPersonalEntry(const std::string& partner, const std::string& customer,
                                  const PersonalListEntry& entry) = 0;
  // Whether there was such an entry.
  virtual Result<bool> RemovePersonalEntry(const std::string& partner, const std::string& customer,
                                           const std::string& address,
                                           const std::string& value) = 0;

  // Single-use links (a spam report's action links): records `nonce` as used, and says
  // whether it was unused until now. Records past `expires_at` are purged with the
  // quarantine (PurgeQuarantine), once no link naming them can be valid.
  virtual Result<bool> UseLinkNonce(const std::string& nonce, const std::string& used_at,
                                    const std::string& expires_at) = 0;

  // The gateway's secret named `name` (e.g. the key that signs links): `fresh` is kept if
  // there is none yet, and the one kept is returned, so replicas sharing a store agree.
  virtual Result<std::string> GatewaySecret(const std::string& name, const std::string& fresh) = 0;

  // What a recipient did with a held message (released | requested | deleted), once
  // each; listed and loaded messages carry them (released_to, release_requests,
  // removed_by). They go with the
  // message (PurgeQuarantine, DeleteCustomer).
  virtual Status RecordQuarantineAction(const std::string& partner, const std::string& customer,
                                        int64_t id, const std::string& recipient,
                                        const std::string& action, const std::string& at,
                                        const std::string& actor) = 0;
  // Forgets a link's nonce recorded by UseLinkNonce (its action could not be done).
  virtual Status ForgetLinkNonce(const std::string& nonce) = 0;

  // The audit log (entry.id is assigned by the store).
  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  virtual Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                                    size_t limit) = 0;
};

struct SqliteStoreOptions {
  // How long a write waits for another process holding the store's lock, then kUnavailable.
  int busy_timeout_ms = 5000;
};

// The SQLite store at `path` (created with its directory if missing; WAL mode,
// synchronous=FULL). Fails with a clear message, changing nothing, if the file is not a
// store, is corrupt, is read-only, or was written by a newer version.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               SqliteStoreOptions options = {});

// The PostgreSQL store at `url` (postgres://... or postgresql://...), migrated to this
// version's schema (replicas starting together take turns). Every transaction is
// SERIALIZABLE and run again when it conflicts with a concurrent one. Fails with a
// clear message naming the server, never the password, if it cannot connect or the
// schema is newer than this version.
Result<std::unique_ptr<Store>> OpenPostgresStore(
    const std::string& url, std::chrono::seconds connect_timeout = std::chrono::seconds(10));

// Whether `location` names a PostgreSQL store rather than a SQLite file.
bool IsPostgresUrl(const std::string& location);
// The store at `location`: a postgres:// URL or a SQLite file.
Result<std::unique_ptr<Store>> OpenStore(const std::string& location,
                                         SqliteStoreOptions options = {});
// `location` fit for a log line: a URL's password replaced by ***.
std::string RedactedStoreLocation(const std::string& location);

}  // namespace gw
