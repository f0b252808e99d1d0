// The Store written once in SQL: the class behind MakeSqlStore, split by concern into
// sql_store.cpp (partners, customers, domain and relay claims), sql_users.cpp (users,
// aliases, continuity passwords) and sql_records.cpp (leases, quarantine, spam report
// state, outages, jobs, audit) and sql_self_service.cpp (tokens, personal lists, links). Only those
// files include this header.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gateway/store.h"
#include "store/sql.h"

namespace gw {

class SqlStore : public Store {
 public:
  // Partners, customers and claims (sql_store.cpp).
  explicit SqlStore(std::unique_ptr<sql::Connection> db);
  Status Transaction(bool write, const std::function<Status()>& body) override {
    return db_->Transaction(write, /*change=*/true, body);
  }
  Result<int64_t> ChangeMark() override { return db_->ChangeMark(); }
  Result<std::vector<CustomerMark>> ListCustomerMarks() override;
  Result<bool> PartnerExists(const std::string& partner) override;
  Result<bool> InsertPartner(const std::string& partner, const std::string& created_at) override;
  Result<std::vector<std::string>> ListPartners() override;
  Result<int64_t> PartnerRevision(const std::string& partner) override;
  Status BumpPartnerRevision(const std::string& partner) override;
  Result<std::optional<Customer>> LoadCustomer(const std::string& partner,
                                               const std::string& name) override;
  Result<std::vector<Customer>> ListCustomers(const std::string& partner) override;
  Status SaveCustomer(const std::string& partner, const Customer& c) override;
  Status DeleteCustomer(const std::string& partner, const std::string& name) override;
  Status SetUserSummary(const std::string& partner, const std::string& name, int64_t user_count,
                        const std::string& users_digest) override;
  Result<std::vector<ClaimOwner>> TakeCustomersToRecompile() override;
  Result<std::optional<ClaimOwner>> DomainOwner(const std::string& domain) override;
  Result<std::vector<std::string>> CustomerDomains(const std::string& partner,
                                                   const std::string& customer) override;
  Result<std::vector<DomainClaim>> ListDomainClaims(const std::string& partner,
                                                    const std::string& customer,
                                                    bool pending_only) override;
  Result<std::optional<DomainProof>> LoadDomainProof(const std::string& partner,
                                                     const std::string& domain) override;
  Status SaveDomainProof(const DomainProof& p) override;
  Status SaveDomainCheck(const DomainClaim& claim) override;
  Result<std::optional<RelayClaim>> RelayOverlap(const IpRange& range,
                                                 const ClaimOwner& except) override;
  Status ReplaceClaims(const ClaimOwner& owner, const std::vector<DomainClaim>& domains,
                       const std::vector<IpRange>& relay_sources) override;

  // Users, aliases and continuity passwords (sql_users.cpp).
  Result<std::vector<std::pair<std::string, std::string>>> ListRecipients(
      const std::string& partner, const std::string& customer) override;
  Result<std::optional<std::string>> UserHashOf(const std::string& partner,
                                                const std::string& customer,
                                                const std::string& address) override;
  Result<std::map<std::string, std::string>> UserHashesOf(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override;
  Status PutUsers(const std::string& partner, const std::string& customer,
                  const std::vector<UserWrite>& users) override;
  Status RemoveUsers(const std::string& partner, const std::string& customer,
                     const std::vector<std::string>& addresses) override;
  Result<bool> HasAliases(const std::string& partner, const std::string& customer) override;
  Result<std::map<std::string, std::string>> AliasOwners(
      const std::string& partner, const std::string& customer,
      const std::vector<std::string>& addresses) override;
  Result<std::vector<User>> ListUsers(const std::string& partner, const std::string& customer,
                                      const std::string& after, size_t limit) override;
  Result<std::pair<int64_t, std::string>> UsersInDomain(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& domain) override;
  Result<std::vector<std::string>> ListContinuityUsers(const std::string& partner,
                                                       const std::string& customer) override;
  Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                               const std::string& address, const std::string& hash,
                               const std::string& set_at) override;
  Result<std::optional<std::string>> ContinuityPassword(const std::string& partner,
                                                        const std::string& customer,
                                                        const std::string& address) override;

  // Leases, quarantine, spam reports, outages, jobs and audit (sql_records.cpp).
  Result<std::optional<Lease>> GetLease(const std::string& partner) override;
  Status PutLease(const std::string& partner, const Lease& lease) override;
  Status DeleteLease(const std::string& partner, const std::string& holder) override;
  Result<int64_t> AddQuarantined(const std::string& partner, const QuarantinedMessage& m,
                                 const std::string& message) override;
  Result<std::vector<QuarantinedMessage>> ListQuarantined(const std::string& partner,
                                                          const std::string& customer,
                                                          int64_t after, size_t limit) override;
  Result<std::optional<std::pair<QuarantinedMessage, std::string>>> LoadQuarantined(
      const std::string& partner, const std::string& customer, int64_t id) override;
  Status MarkReleased(const std::string& partner, const std::string& customer, int64_t id,
                      const std::string& released_at) override;
  Result<int64_t> PurgeQuarantine(const std::string& before) override;
  Result<SpamReportState> LoadSpamReportState(const std::string& partner,
                                              const std::string& customer) override;
  Status SaveSpamReportState(const std::string& partner, const std::string& customer,
                             const SpamReportState& state) override;
  Status StartOutage(const ContinuityOutage& o) override;
  Status EndOutage(const std::string& partner, const std::string& customer,
                   const std::string& ended_at) override;
  Status MarkOutagesDelivered(const std::string& partner, const std::string& customer) override;
  Result<std::vector<ContinuityOutage>> ListOutages(const std::string& ended_since) override;
  Result<std::string> HoldJob(const std::string& job, const std::string& holder, int64_t now_ms,
                              int64_t until_ms) override;
  Status ReleaseJob(const std::string& job, const std::string& holder) override;
  Status AppendAudit(const AuditEntry& e) override;

  // Tokens, personal lists and link nonces (sql_self_service.cpp).
  Status SaveAccessToken(const AccessToken& t) override;
  Result<std::optional<AccessToken>> LoadAccessToken(const std::string& id) override;
  Result<std::vector<AccessToken>> ListAccessTokens(const std::string& partner) override;
  Status RevokeAccessToken(const std::string& id, const std::string& revoked_at) override;
  Result<std::vector<PersonalListEntry>> ListPersonalEntries(const std::string& partner,
                                                             const std::string& customer,
                                                             const std::string& address) override;
  Status PutPersonalEntry(const std::string& partner, const std::string& customer,
                          const PersonalListEntry& e) override;
  Result<bool> RemovePersonalEntry(const std::string& partner, const std::string& customer,
                                   const std::string& address, const std::string& value) override;
  Result<bool> UseLinkNonce(const std::string& nonce, const std::string& used_at,
                            const std::string& expires_at) override;
  Result<std::string> GatewaySecret(const std::string& name, const std::string& fresh) override;
  Status RecordQuarantineAction(const std::string& partner, const std::string& customer, int64_t id,
                                const std::string& recipient, const std::string& action,
                                const std::string& at, const std::string& actor) override;
  Status ForgetLinkNonce(const std::string& nonce) override;
  Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                            size_t limit) override;

 private:
  using Params = sql::Connection::Params;
  using Row = sql::Row;

  Status Run(std::string_view sql, Params params) { return db_->Execute(sql, params).status(); }

  Status BumpPersonalLists(const std::string& partner, const std::string& customer);
  // Gives each message what its recipients did with it (quarantine_actions).
  Status AttachQuarantineActions(const std::string& partner, const std::string& customer,
                                 std::vector<QuarantinedMessage*> messages);

  Result<bool> Exists(std::string_view sql, Params params) {
    bool found = false;
    Status status = db_->Select(sql, params, [&](const Row&) { found = true; });
    if (!status.ok()) return status;
    return found;
  }

  // The first row of `sql`, read by `read`, or nothing.
  template <typename T, typename Read>
  Result<std::optional<T>> First(std::string_view sql, Params params, Read read) {
    std::optional<T> first;
    Status status = db_->Select(sql, params, [&](const Row& row) {
      if (!first) first.emplace(read(row));
    });
    if (!status.ok()) return status;
    return first;
  }

  Result<std::optional<std::string>> FirstText(std::string_view sql, Params params) {
    return First<std::string>(sql, params, [](const Row& row) { return row.Text(0); });
  }

  Result<std::vector<std::string>> Column(std::string_view sql, Params params) {
    std::vector<std::string> out;
    Status status = db_->Select(sql, params, [&](const Row& row) { out.push_back(row.Text(0)); });
    if (!status.ok()) return status;
    return out;
  }

  // The first two columns of the rows, as keys and values.
  Result<std::map<std::string, std::string>> Pairs(std::string_view sql, Params params) {
    std::map<std::string, std::string> pairs;
    Status status =
        db_->Select(sql, params, [&](const Row& row) { pairs.emplace(row.Text(0), row.Text(1)); });
    if (!status.ok()) return status;
    return pairs;
  }

  Result<std::optional<RelayClaim>> FirstRelay(std::string_view sql, Params params) {
    auto found = First<std::pair<std::string, ClaimOwner>>(sql, params, [](const Row& row) {
      return std::make_pair(row.Text(0), ClaimOwner{row.Text(1), row.Text(2)});
    });
    if (!found.ok()) return found.status();
    if (!*found) return std::optional<RelayClaim>();
    auto range = IpRange::Parse((*found)->first);
    if (!range.ok()) return Status(StatusCode::kInternal, "store holds an unreadable relay source");
    return std::optional<RelayClaim>(RelayClaim{*range, std::move((*found)->second)});
  }

  std::unique_ptr<sql::Connection> db_;
  // Statements that read a JSON array parameter, spelled for this database once.
  const std::string addresses_, user_hashes_, alias_owners_, put_users_, put_aliases_,
      remove_users_, remove_passwords_, remove_aliases_, remove_personal_;
};

}  // namespace gw
