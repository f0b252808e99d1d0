// Service: the gateway engine. Every rule about what may be written lives here, once,
// behind both the admin API (gatewayd) and the in-process client (embedded:PATH).
//
// Contract:
// - Each call is one Store transaction (store.h): a write that fails leaves nothing
//   behind, and once it returns success the change is durable.
// - Every settings document is checked against the same JSON Schema and the same rules
//   (customer_rules.h) as gwctl validate; a refusal is kInvalidArgument carrying every
//   problem as a StatusDetail (pointer, rule id, message), not just the first.
// - Domains are held by one customer of the whole gateway and hand-written relay sources
//   may not overlap another customer's (rules domain-duplicate, relay-source-conflict);
//   a holder of another partner is never named. Users' addresses lie in their customer's
//   domains.
// - Beside each settings document the store keeps its compiled CustomerConfig.
// - A replace that changes nothing returns the stored customer without a new version.
// - An actor sees only its own partner (others are kNotFound) unless it is an operator.
// - Secrets are never stored, logged or audited: only their fingerprints.
// Thread-safe: calls are serialised internally.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/archive.h"
#include "gateway/digest_links.h"
#include "gateway/endpoint.h"
#include "gateway/model.h"
#include "gateway/network_policy.h"
#include "gateway/status.h"
#include "gateway/store.h"

namespace gw {

// What an identity is; gateway/access.h says what each may do.
enum class Role {
  kOperator,  // the gateway's operator: every partner, every action
  // The content filter (gw-milter): may keep messages in any customer's quarantine and
  // do nothing else, so a flaw in the code that parses hostile mail reaches no further.
  kFilter,
  kPartnerAdmin,   // a partner's admins and its CI: everything of that partner
  kTechnician,     // a named person of the partner: what an admin does, under its own name
  kReadOnly,       // a partner's dashboards and auditors: reads, never writes
  kCustomerAdmin,  // one customer's admin: its quarantine, passwords, domain checks, reads
  // One mailbox user (Actor::name is its address), signed in by a link mailed to it: its
  // own held mail and its own allow and block lists, as its customer's selfService allows.
  kMailboxUser,
};

struct Actor {
  std::string name;  // recorded in the audit log
  Role role = Role::kPartnerAdmin;
  std::string partner;   // the only partner a partner's role may touch
  std::string customer;  // the only customer a customer admin or mailbox user may touch

  bool is_operator() const { return role == Role::kOperator; }
  bool is_filter() const { return role == Role::kFilter; }
  static Actor Local() { return {"local", Role::kOperator, "", ""}; }
};

struct ServiceOptions {
  size_t max_users_per_batch = 50'000;
  size_t max_page_size = 10'000;
  // How long a call waits while another process (a second gatewayd, an embedded gwctl)
  // holds the store's write lock; then it fails with kUnavailable, which gatewayd answers
  // with 503 and Retry-After.
  int busy_timeout_ms = 5000;
  // The gateway's own host names and SMTP listeners: a destination naming one would loop
  // (rule destination-self; see CustomerRuleOptions).
  std::vector<std::string> gateway_hosts;
  std::vector<Endpoint> gateway_smtp;
  // Internal networks a destination may be in (rule destination-internal); nullopt: any
  // address (an embedded gateway). gatewayd always sets it.
  std::optional<DestinationNetworks> destination_networks;
  // Sends a mail (a released message, a spam report) to its recipients (gatewayd: through
  // Postfix); unset, releasing and reports are refused (an embedded gateway has no mail
  // to deliver with).
  std::function<Status(const std::string& sender, const std::vector<std::string>& recipients,
                       const std::string& message)>
      send_mail;
  // The envelope and From address of spam reports.
  std::string report_sender = "quarantine@localhost";
  // Where users reach the gateway's self-service pages (gatewayd --portal-url), e.g.
  // "https://quarantine.gw.example"; empty: spam reports carry no action links.
  std::string portal_url;
  // How long a spam report's link acts: gatewayd makes it at most the quarantine's
  // retention, and never more than 7 days.
  std::chrono::seconds link_lifetime = std::chrono::hours(24 * 7);
  // This replica's name in the store's job leases: replicas sharing a store run one
  // spam report pass at a time, so each report is sent once.
  std::string replica = "gatewayd";
  // A new domain claim stays pending, taking no mail, until a DNS check finds its TXT
  // record (RecordDomainChecks). Off, every claim is verified when made.
  bool verify_domains = false;
};

// What a check of one domain claim found (domain_verifier.h makes them).
struct DomainCheck {
  std::string partner, customer, domain;
  bool found = false;    // the domain publishes the claim's record (or an operator vouches)
  bool answered = true;  // false: DNS did not answer (timeout, failure), so found is unknown
  std::string detail;    // what the check saw, for the claim's check_detail
};

// What one spam report pass did.
struct SpamReportRun {
  int64_t customers_due = 0;  // customers with a report time in the pass's window
  int64_t reports_sent = 0;
  int64_t messages_listed = 0;
  std::vector<std::string> failures;  // "partner/customer: recipient: why"
};

// What a spam report's link would do, for the page that asks the user to confirm it.
struct LinkView {
  LinkClaim claim;
  QuarantinedMessage message;  // sender, subject, time, verdict
  std::string effect;          // what confirming does, for a person
};

// One held message as the quarantine page shows it to an actor.
struct HeldView {
  QuarantinedMessage message;
  std::string recipient;             // a mailbox user's: the address it was sent to
  std::vector<std::string> actions;  // what the actor may do: release, request, allow, ...
};

// A scoped token a partner admin mints for one of its people (access.h).
struct TokenRequest {
  std::string name;      // who will use it: the audit log's actor; letters, digits, . _ @ + -
  std::string role;      // admin | technician | read-only | customer-admin
  std::string customer;  // customer-admin only: the one customer it acts on
  int64_t expires_in_days = 90;  // 1..365: every minted token expires
};

struct MintedToken {
  AccessToken token;
  std::string bearer;  // "gwt_<id>_<secret>": returned this once, never stored
};

class Service {
 public:
  // Opens the store at `path`: a SQLite file (created with its directory if missing), or
  // a PostgreSQL database named by a postgres:// URL. Fails with a clear message,
  // changing nothing, if it is not a store, is corrupt, is read-only, or was written by
  // a newer version.
  static Result<std::unique_ptr<Service>> Open(const std::string& path,
                                               ServiceOptions options = {});
  // A service over any store; derives the claims of customers an upgraded store held from
  // before it kept them (Store::TakeCustomersToRecompile).
  static Result<std::unique_ptr<Service>> Create(std::unique_ptr<Store> store,
                                                 ServiceOptions options = {});
  ~Service();

  // Partners (operator only). Creating an existing partner is a no-op, and a partner's own
  // token may make that no-op for its own partner.
  Status PutPartner(const Actor& actor, const std::string& partner);
  Result<std::vector<std::string>> ListPartners(const Actor& actor);

  Result<std::vector<Customer>> ListCustomers(const Actor& actor, const std::string& partner);
  Result<Customer> GetCustomer(const Actor& actor, const std::string& partner,
                               const std::string& name);
  // Creates or replaces. kFailedPrecondition if the condition does not hold (exists on
  // create-only, other version on replace); kNotFound when replacing a missing customer.
  Result<Customer> PutCustomer(const Actor& actor, const std::string& partner,
                               const std::string& name, const CustomerWrite& write,
                               WriteCondition condition);
  // Deletes the customer with its domains and users, if it is still at `version`.
  Status DeleteCustomer(const Actor& actor, const std::string& partner, const std::string& name,
                        int64_t version);

  Result<UserPage> ListUsers(const Actor& actor, const std::string& partner,
                             const std::string& customer, const std::string& after, size_t limit);
  // All of the batch, or nothing: one invalid user rejects the whole batch.
  Result<UserBatchResult> BatchUsers(const Actor& actor, const std::string& partner,
                                     const std::string& customer, const UserBatch& batch);

  // Every customer of the partner, read in one transaction.
  Result<PartnerState> GetState(const Actor& actor, const std::string& partner);

  // Takes or renews the partner's apply lease for `ttl_seconds`; 0 releases it.
  // kConflict while another holder's lease is live.
  Result<Lease> TakeLease(const Actor& actor, const std::string& partner, const std::string& holder,
                          int64_t ttl_seconds);

  Result<std::vector<AuditEntry>> ListAudit(const Actor& actor, const std::string& partner,
                                            int64_t after, size_t limit);

  // The quarantine. Keeping a message is the filter's (operator only) and not audited: it
  // is mail, not configuration; `meta.id` and `received_at` are assigned. Listing is the
  // partner's, oldest first. Releasing delivers the message again (ServiceOptions::
  // deliver), once: a released message is kFailedPrecondition, one being released by
  // another call kConflict; audited.
  Result<int64_t> Quarantine(const Actor& actor, const std::string& partner,
                             QuarantinedMessage meta, const std::string& message);
  Result<std::vector<QuarantinedMessage>> ListQuarantine(const Actor& actor,
                                                         const std::string& partner,
                                                         const std::string& customer, int64_t after,
                                                         size_t limit);
  Result<QuarantinedMessage> ReleaseQuarantined(const Actor& actor, const std::string& partner,
                                                const std::string& customer, int64_t id);
  // Forgets messages received more than `retention_days` before `as_of` (with what users
  // did with them, and the used links they outlived); returns how many.
  Result<int64_t> PurgeQuarantine(
      int64_t retention_days,
      std::chrono::system_clock::time_point as_of = std::chrono::system_clock::now());

  // The mail archive (archive.h), beside the store Open was given (none for Create).
  // Archive keeps a message as it was delivered: the filter's call, like Quarantine, not
  // audited. kFailedPrecondition when the customer's archiving does not cover
  // `meta.direction` now (the filter asks again), so mail is archived under the settings
  // it was delivered under. `text` is the message's searchable text (the filter reads
  // MIME). Searching, reading, exporting and verifying are the partner's admins' and
  // the customer admin's (archive.read); a message whose bytes no longer match its
  // digest is kDataLoss, never served. No call of the API removes an entry.
  Result<int64_t> Archive(const Actor& actor, const std::string& partner, ArchivedMessage meta,
                          const std::string& message, const std::string& text);
  Result<std::vector<ArchivedMessage>> SearchArchive(const Actor& actor, const std::string& partner,
                                                     const std::string& customer,
                                                     ArchiveQuery query);
  Result<std::pair<ArchivedMessage, std::string>> LoadArchived(const Actor& actor,
                                                               const std::string& partner,
                                                               const std::string& customer,
                                                               int64_t id);
  // The messages a query finds, newest first, as one mbox or a zip of .eml files
  // (`format` mbox | zip). Audited: an export is a copy of mail leaving the gateway.
  Result<std::string> ExportArchive(const Actor& actor, const std::string& partner,
                                    const std::string& customer, const ArchiveQuery& query,
                                    const std::string& format);
  // Walks the customer's chain from its anchor, checking every entry's fields, message
  // and link.
  Result<ArchiveCheck> VerifyArchive(const Actor& actor, const std::string& partner,
                                     const std::string& customer);
  // Removes, per customer, its oldest entries that are past their retention as of
  // `as_of`: the retention they were archived under and, while the customer still
  // archives, its retention now (a longer one keeps them longer). Returns how many.
  Result<int64_t> PurgeArchive(
      std::chrono::system_clock::time_point as_of = std::chrono::system_clock::now());
  // The legal release of one entry before its retention ends: only from the gateway's
  // host (Actor::Local(), `gatewayd archive-release`), with a reason, audited. The
  // entry's message and fields go; its digests stay, so the chain still verifies.
  Status ReleaseArchived(const Actor& actor, const std::string& partner,
                         const std::string& customer, int64_t id, const std::string& reason);

  // Sets the continuity password of the customer's user `address` (not an alias), kept as
  // an Argon2id hash (password_hash.h). kInvalidArgument, saying why, for a password the
  // rules refuse; kNotFound for an unknown user. Audited without the password. A user
  // logs in only while also activated (User::continuity) and in the customer's
  // continuity scope.
  Status SetContinuityPassword(const Actor& actor, const std::string& partner,
                               const std::string& customer, const std::string& address,
                               const std::string& password);

  // Sends the spam reports due at `as_of` (operator only; gatewayd runs it every minute,
  // and an operator may run it for a moment already past). A customer whose schedule
  // (spam_report.h) has a report time after its previous pass and at or before `as_of`
  // sends each recipient with unreleased quarantined mail not yet reported one digest of
  // it. A customer's first pass only notes the time. A report that cannot be sent is
  // retried by the next pass; one that was sent is not sent again. kInvalidArgument when
  // `as_of` is in the future: a pass ahead of time would hold back the real one;
  // kConflict while another replica of the store runs a pass (Store::HoldJob).
  Result<SpamReportRun> RunSpamReports(const Actor& actor,
                                       std::chrono::system_clock::time_point as_of);

  // Domain claims (model.h DomainClaim) by partner, customer and domain. A partner sees
  // its own; "" for `partner` (operator only) lists every partner's, "" for `customer`
  // every customer's.
  Result<std::vector<DomainClaim>> ListDomainClaims(const Actor& actor, const std::string& partner,
                                                    const std::string& customer, bool pending_only);
  // Records checks of pending claims (operator only), in one transaction: each claim's
  // checked_at and detail, and a found one becomes verified unless another customer's
  // verified claim holds the name (it stays pending, saying so, never naming the other
  // partner). Verified claims and claims gone meanwhile are left as they are. A claim
  // verified is audited (domain.verify). Returns the checked claims as they are after.
  Result<std::vector<DomainClaim>> RecordDomainChecks(const Actor& actor,
                                                      const std::vector<DomainCheck>& checks);

  // Verifies every pending claim of the gateway that no other customer's verified claim
  // holds the name of (operator only): for a gateway that stopped verifying domains.
  // Returns how many were verified.
  Result<int64_t> VerifyPendingClaims(const Actor& actor);

  // Spam report links (digest_links.h), acting as their recipient (a mailbox user) within
  // what the customer's selfService allows now: a release needs the `release` right for
  // the message's verdict (`request` turns it into a request, mailed to
  // releaseRequestsTo), allow and block need personalLists, and every link needs
  // digestActions. A link acts once.
  // InspectLink reads without acting (GET: mail scanners fetch every URL in a message);
  // kInvalidArgument for a link that is not valid, kFailedPrecondition for one expired,
  // used, or no longer allowed (saying why), kNotFound for mail no longer held.
  Result<LinkView> InspectLink(std::string_view token);
  // Does what the link says (POST) and returns what was done, for a person. A delivery
  // that fails leaves the link unused, to try again.
  Result<std::string> UseLink(std::string_view token);

  // The quarantine page's sessions (a cookie holding a signed token, 8 hours).
  // SendSignInLink mails `address` a link (an hour, once) that opens a session, when it is
  // a user of a customer whose selfService.digestActions is on and the portal is set;
  // whatever the address, it answers the same, and mails one address once in 10 minutes.
  Status SendSignInLink(const std::string& address);
  // The session a sign-in link opens (spending the link).
  Result<std::string> OpenSession(std::string_view sign_in_token);
  // A customer admin's session, by its customer's panelLogin: an email in one of the
  // customer's domains, status activated, and its password. kUnauthenticated, the same
  // for every failure, otherwise; 5 failures in 15 minutes lock the email that long.
  Result<std::string> OpenAdminSession(const std::string& email, const std::string& password);
  // The actor a session stands for: a mailbox user (name: its address) or a customer admin.
  Result<Actor> SessionActor(std::string_view session);
  // The held mail the actor sees, newest first: a user's own (not removed), or every
  // message of the customer for its admin; each with what the actor may do now.
  Result<std::vector<HeldView>> ListHeld(const Actor& actor);
  // Does `action` (one ListHeld offered) on message `id` as the actor. A customer admin
  // releases to every recipient what its users may release or request.
  Result<std::string> ActOnHeld(const Actor& actor, int64_t id, const std::string& action);
  // The message's text for a preview the actor may see: at most `limit` bytes, as kept.
  Result<std::string> PreviewHeld(const Actor& actor, int64_t id, size_t limit);

  // Minted tokens (operator and the partner's admins only). A minted token acts as its
  // role on its partner (customer) until it expires or is revoked; minting and revoking
  // are audited. Listing never shows a secret or its hash.
  Result<MintedToken> MintToken(const Actor& actor, const std::string& partner,
                                const TokenRequest& request);
  Result<std::vector<AccessToken>> ListTokens(const Actor& actor, const std::string& partner);
  // kNotFound for a token that is not the partner's; revoking twice is not an error.
  Status RevokeToken(const Actor& actor, const std::string& partner, const std::string& id);
  // The actor a minted bearer token stands for while it is in force (not revoked, not
  // expired); nullopt for anything else. Compares the secret in constant time.
  std::optional<Actor> AuthenticateMinted(std::string_view bearer);

  // Mailbox users' own allow and block lists (model.h PersonalListEntry), honoured by the
  // mail decision above the customer's lists (mail_policy.h). A mailbox user reaches only
  // its own; a customer admin every user of its customer. `address` "" lists every user's.
  Result<std::vector<PersonalListEntry>> ListPersonalEntries(const Actor& actor,
                                                             const std::string& partner,
                                                             const std::string& customer,
                                                             const std::string& address);
  // Puts `value` (an address, or a domain) on the user's `list` (allow | block), moving it
  // from the other. kInvalidArgument for what is not an address or domain, and on the
  // allow list for high-risk senders: the customer's own domains (forged most often) and
  // whole public mail domains (anyone may send from them); kFailedPrecondition when the
  // customer's selfService.personalLists is off or the user has kMaxPersonalEntries;
  // kNotFound for an address that is not the customer's user. Audited.
  Status PutPersonalEntry(const Actor& actor, const std::string& partner,
                          const std::string& customer, const std::string& address,
                          const std::string& list, const std::string& value);
  // kNotFound when there is no such entry. Audited.
  Status RemovePersonalEntry(const Actor& actor, const std::string& partner,
                             const std::string& customer, const std::string& address,
                             const std::string& value);
  static constexpr size_t kMaxPersonalEntries = 1000;

  // Takes or renews the store's job lease `job` for this replica (ServiceOptions::
  // replica) for `ttl`: kConflict naming the replica that holds it. For work that replicas
  // sharing a store must do once (store.h HoldJob).
  Status HoldJob(const std::string& job, std::chrono::milliseconds ttl);
  void ReleaseJob(const std::string& job);

  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

 private:
  struct Impl;
  explicit Service(std::unique_ptr<Impl> impl);
  // What a link (or the quarantine page) does for its recipient; `spend` records its
  // nonce so that it acts once.
  Result<std::string> ActAsRecipient(const LinkClaim& claim, bool spend);
  // A held message released to `recipients` is delivered mail: archived (as `marked`,
  // before it is sent) when its customer's archiving covers it. No archiving is no error.
  Status ArchiveReleased(const std::string& partner, const QuarantinedMessage& message,
                         const std::vector<std::string>& recipients, const std::string& marked);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
