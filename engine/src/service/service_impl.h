// Service's state and the helpers its parts share. service.h is the contract; the calls
// are split by concern: service.cpp (opening, partners, audit, jobs), customers.cpp
// (customers, leases), users.cpp (users, continuity passwords), claims.cpp (domain
// claims), quarantine.cpp and spam_report_pass.cpp. Included only by those files.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gateway/access.h"
#include "gateway/archive_store.h"
#include "gateway/customer_rules.h"
#include "gateway/rfc3339.h"
#include "gateway/service.h"
#include "gateway/spam_report.h"
#include "gateway/store.h"

namespace gw {

inline const std::string kEmptyDigest(32, '0');

inline std::string Now() {
  return FormatRfc3339(std::chrono::system_clock::now());
}

inline int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A kept message's envelope (the quarantine's, the archive's): released mail is handed
// to SMTP with it, so nothing in it could end a command.
inline Status CheckEnvelope(const std::string& sender, const std::vector<std::string>& recipients) {
  auto plain = [](const std::string& address) {
    return std::none_of(address.begin(), address.end(), [](unsigned char c) {
      return c <= ' ' || c == '<' || c == '>' || c >= 0x7f;
    });
  };
  if (recipients.empty()) return Status::Invalid("a message needs recipients", "/recipients");
  if (!plain(sender)) return Status::Invalid("the sender is not an address", "/sender");
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (recipients[i].empty() || !plain(recipients[i]))
      return Status::Invalid("a recipient is not an address", fmt::format("/recipients/{}", i));
  }
  return Status::Ok();
}

// `bytes` random bytes as hex.
Result<std::string> RandomHex(size_t bytes);

inline Status NotFound(std::string what) {
  return Status(StatusCode::kNotFound, fmt::format("{} not found", what));
}

// A refusal that names every problem: the first in field() and message() for clients
// that read one, all of them in details().
inline Status Refusal(std::vector<StatusDetail> details) {
  std::string message;
  if (details.size() == 1) {
    message = details.front().message;
  } else {
    message = fmt::format("{} problems:", details.size());
    for (const auto& d : details)
      message += fmt::format(" {}: {} [{}];", d.field, d.message, d.rule);
    message.pop_back();
  }
  std::string field = details.front().field;
  return Status::Invalid(std::move(message), std::move(field)).set_details(std::move(details));
}

// A customer's spam report settings as of one version of it.
struct ReportSettingsAt {
  int64_t version = -1;
  SpamReportSettings settings;  // disabled unless the customer sends reports
  SelfService self_service;     // which messages users see, and the links they get
};

struct Service::Impl {
  ServiceOptions options;
  CustomerRuleOptions rules;  // options' gateway names, normalised
  std::unique_ptr<Store> store;
  std::mutex mutex;
  // The archive, opened on first use beside the store at archive_location ("" : none);
  // its own lock, so archiving mail does not wait on an apply.
  std::string archive_location;
  std::mutex archive_mutex;
  std::unique_ptr<ArchiveStore> archive;
  // Runs `body(ArchiveStore&)` (returning Result<T>) in one archive transaction under
  // the archive's lock, opening the archive on first use (an embedded gwctl that never
  // reads it makes no file).
  template <typename T, typename Body>
  Result<T> InArchive(bool write, Body body) {
    std::lock_guard lock(archive_mutex);
    if (!archive) {
      if (archive_location.empty())
        return Status(StatusCode::kFailedPrecondition, "this gateway keeps no archive");
      auto opened = OpenArchiveStore(archive_location);
      if (!opened.ok()) return opened.status();
      archive = std::move(*opened);
    }
    std::optional<Result<T>> result;
    Status status = archive->Transaction(write, [&]() -> Status {
      result.emplace(body(*archive));
      return result->status();
    });
    if (!status.ok()) return status;
    return std::move(*result);
  }
  // Quarantined messages being delivered now: a second release of one waits its turn
  // out rather than delivering it again.
  std::mutex releasing_mutex;
  std::set<std::pair<std::string, int64_t>> releasing;
  // This process's turn to release one message, while it lives; ok() is false when
  // another call is releasing it now.
  class ReleaseTurn {
   public:
    ReleaseTurn(Impl& impl, std::string partner, int64_t id) : impl_(impl), key_(partner, id) {
      std::lock_guard lock(impl_.releasing_mutex);
      ok_ = impl_.releasing.insert(key_).second;
    }
    ~ReleaseTurn() {
      if (!ok_) return;
      std::lock_guard lock(impl_.releasing_mutex);
      impl_.releasing.erase(key_);
    }
    ReleaseTurn(const ReleaseTurn&) = delete;
    ReleaseTurn& operator=(const ReleaseTurn&) = delete;
    bool ok() const { return ok_; }

   private:
    Impl& impl_;
    std::pair<std::string, int64_t> key_;
    bool ok_ = false;
  };
  // One spam report pass at a time; the settings it read, by customer, under it.
  std::mutex reports_mutex;
  std::map<std::pair<std::string, std::string>, ReportSettingsAt> report_settings;
  // The key that signs links, read from the store once (LinkKey).
  std::mutex link_key_mutex;
  std::string link_key;

  Result<std::string> LinkKey();
  // When each address was last mailed a sign-in link, and each panel email's failures.
  std::mutex sign_in_mutex;
  std::map<std::string, std::chrono::steady_clock::time_point> sign_in_sent;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> admin_failures;
  // `claim` signed with the link key, expiring after `life`, with a fresh nonce.
  Result<std::string> Sign(LinkClaim claim, std::chrono::seconds life);
  // The portal's URL of `path` carrying `token`.
  std::string PortalUrl(const std::string& path, const std::string& token) const;
  // The link to `action` on `message` for `recipient`, expiring after link_lifetime.
  Result<std::string> MakeLink(const ClaimOwner& owner, const std::string& recipient,
                               int64_t message, const std::string& action);
  // The claim of a link that acts on a message, verified (never a session's).
  Result<LinkClaim> ActionLink(std::string_view token);

  // The quarantine page: the customer's self-service settings, once the actor may read
  // its held mail; one message as the actor sees it (nullopt: not shown to it); one
  // message by id with its content.
  Result<SelfService> HeldMailOf(const Actor& actor);
  std::optional<HeldView> HeldViewOf(const Actor& actor, const SelfService& self,
                                     const QuarantinedMessage& m);
  Result<std::pair<HeldView, std::string>> HeldOne(const Actor& actor, int64_t id);

  // Runs `body` (returning Result<T>) as one store transaction, serialised with every
  // other call. The body's writes are kept only if it succeeds.
  template <typename T, typename Body>
  Result<T> Transact(bool write, Body body) {
    std::lock_guard lock(mutex);
    std::optional<Result<T>> result;
    Status status = store->Transaction(write, [&]() -> Status {
      result.emplace(body());
      return result->status();
    });
    if (!status.ok()) return status;
    return std::move(*result);
  }
  template <typename T, typename Body>
  Result<T> Read(Body body) {
    return Transact<T>(false, std::move(body));
  }
  template <typename T, typename Body>
  Result<T> Write(Body body) {
    return Transact<T>(true, std::move(body));
  }

  // Takes or renews the store's job lease `job` for this replica for `ttl`; kConflict
  // naming the replica that has it.
  Status HoldJob(const std::string& job, std::chrono::milliseconds ttl) {
    std::lock_guard lock(mutex);
    auto holder = store->HoldJobFor(job, options.replica, ttl);
    if (!holder.ok()) return holder.status();
    if (*holder == options.replica) return Status::Ok();
    return Status(StatusCode::kConflict,
                  fmt::format("replica '{}' holds the {} job now", *holder, job));
  }
  void ReleaseJob(const std::string& job) {
    std::lock_guard lock(mutex);
    store->ReleaseJob(job, options.replica);
  }

  Status CanSendMail(const char* what) const {
    if (options.send_mail) return Status::Ok();
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("this gateway cannot deliver mail: {} needs gatewayd started with "
                              "--release-smtp",
                              what));
  }

  // Whether `actor` may do `action` here (access.h), and the partner exists.
  Status CheckPartner(const Actor& actor, Action action, const std::string& partner,
                      const std::string& customer = {}) {
    if (Status allowed = Authorize(actor, action, partner, customer); !allowed.ok()) return allowed;
    return ExistingPartner(partner);
  }

  Status ExistingPartner(const std::string& partner) {
    auto exists = store->PartnerExists(partner);
    if (!exists.ok()) return exists.status();
    if (!*exists) return NotFound(fmt::format("partner '{}'", partner));
    return Status::Ok();
  }

  // The partner's customers (only `only`, when set) with their domain claims.
  Result<std::vector<Customer>> CustomersWithClaims(const std::string& partner,
                                                    const std::string& only = {}) {
    auto customers = store->ListCustomers(partner);
    if (!customers.ok()) return customers;
    if (!only.empty()) {
      std::erase_if(*customers, [&](const Customer& c) { return c.name != only; });
    }
    std::vector<Customer*> listed;
    for (auto& customer : *customers) listed.push_back(&customer);
    if (Status s = AttachClaims(partner, listed); !s.ok()) return s;
    return customers;
  }

  // The customer's user `address` as `actor` may reach it (a mailbox user only itself);
  // kNotFound otherwise.
  Status CheckMailboxUser(const Actor& actor, const std::string& partner,
                          const std::string& customer, const std::string& address);

  // The user an address names (its own address or an alias, with or without a
  // +extension); kNotFound when none.
  Result<std::string> UserNamed(const std::string& partner, const std::string& customer,
                                const std::string& address);

  // Mail kept for a customer (held, archived) is mail to its users or from it, never a
  // message between strangers: the sender or every recipient is in its domains.
  Status CheckMailOfCustomer(const std::string& partner, const std::string& customer,
                             const std::string& sender,
                             const std::vector<std::string>& recipients) {
    auto domains = store->CustomerDomains(partner, customer);
    if (!domains.ok()) return domains.status();
    auto ours = [&](const std::string& address) {
      return !FindAddressProblem(address, *domains).has_value();
    };
    if (ours(sender) || std::all_of(recipients.begin(), recipients.end(), ours))
      return Status::Ok();
    return Status::Invalid(
        fmt::format("neither the sender nor every recipient is in a domain of customer '{}'",
                    customer),
        "/recipients");
  }

  Result<Customer> ExistingCustomer(const std::string& partner, const std::string& name) {
    auto customer = store->LoadCustomer(partner, name);
    if (!customer.ok()) return customer.status();
    if (!*customer) return NotFound(fmt::format("customer '{}'", name));
    return std::move(**customer);
  }

  // Records a change and bumps the partner's revision, which every change does.
  Status Changed(const Actor& actor, const std::string& partner, const std::string& action,
                 const std::string& target, nlohmann::json detail) {
    if (Status s = store->BumpPartnerRevision(partner); !s.ok()) return s;
    return Audit(actor, partner, action, target, std::move(detail));
  }

  Status Audit(const Actor& actor, const std::string& partner, const std::string& action,
               const std::string& target, nlohmann::json detail) {
    return store->AppendAudit({0, Now(), partner, actor.name, action, target, std::move(detail)});
  }

  // Those of `domains` the owner claims already (`held`) as they are; a new one with the
  // partner's proof of the domain: verified at once when the partner proved it and has
  // held it within kProofOutlivesClaims (or the gateway does not verify), else pending
  // with the proof's token (a new one once a proof has lapsed).
  Result<std::vector<DomainClaim>> ClaimsFor(const ClaimOwner& owner,
                                             const std::vector<std::string>& domains,
                                             const std::vector<DomainClaim>& held);

  // Marks the partner's proofs of `domains` released now (their claims are going).
  Status ReleaseProofs(const std::string& partner, const std::vector<std::string>& domains);

  Status SaveClaims(const ClaimOwner& owner, const CompiledCustomer& compiled);

  // Gives each customer its domain claims, read in one query.
  Status AttachClaims(const std::string& partner, std::vector<Customer*> customers);

  // Verifies the claim if no other customer's verified claim holds its name; else says
  // so in its detail. Audited when verified.
  Status VerifyClaim(const Actor& actor, DomainClaim& claim, const std::string& at);

  // Derives a stored customer's claims from its settings, for customers stored before
  // the store kept them.
  Status Recompile(const ClaimOwner& owner);
};

}  // namespace gw
