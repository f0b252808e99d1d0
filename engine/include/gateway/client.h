// GatewayClient: how gwctl talks to a gateway, whichever way it is reached. Two
// implementations behave identically (a shared conformance suite runs on both):
//   http://host:port, https://host:port   gatewayd's admin API, with a bearer token
//   embedded:PATH                          the engine in this process, on the store at PATH
// Errors come back as the Service reports them (kNotFound, kConflict, ...); failures to
// reach the gateway are kUnavailable, and timeouts are bounded by ClientOptions.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/archive.h"
#include "gateway/continuity.h"
#include "gateway/model.h"
#include "gateway/status.h"

namespace gw {

class GatewayClient {
 public:
  virtual ~GatewayClient() = default;

  // "http://127.0.0.1:8025" or "embedded:/path/gateway.db", for messages.
  virtual std::string Describe() const = 0;

  // Creates the partner if it does not exist (an operator's right; always allowed embedded).
  virtual Status EnsurePartner(const std::string& partner) = 0;
  virtual Result<PartnerState> GetState(const std::string& partner) = 0;
  virtual Result<Customer> GetCustomer(const std::string& partner, const std::string& name) = 0;
  virtual Result<Customer> PutCustomer(const std::string& partner, const std::string& name,
                                       const CustomerWrite& write, WriteCondition condition) = 0;
  virtual Status DeleteCustomer(const std::string& partner, const std::string& name,
                                int64_t version) = 0;
  virtual Result<UserPage> ListUsers(const std::string& partner, const std::string& customer,
                                     const std::string& after, size_t limit) = 0;
  virtual Result<UserBatchResult> BatchUsers(const std::string& partner,
                                             const std::string& customer,
                                             const UserBatch& batch) = 0;
  virtual Result<Lease> TakeLease(const std::string& partner, const std::string& holder,
                                  int64_t ttl_seconds) = 0;
  virtual Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                                    size_t limit) = 0;

  // The quarantine (Service::Quarantine and what follows it).
  virtual Result<int64_t> Quarantine(const std::string& partner, const QuarantinedMessage& meta,
                                     const std::string& message) = 0;
  virtual Result<std::vector<QuarantinedMessage>> ListQuarantine(const std::string& partner,
                                                                 const std::string& customer,
                                                                 int64_t after, size_t limit) = 0;
  virtual Result<QuarantinedMessage> ReleaseQuarantined(const std::string& partner,
                                                        const std::string& customer,
                                                        int64_t id) = 0;

  // The archive (Service::Archive and what follows it). LoadArchived is the message as
  // kept; ExportArchive an mbox or zip of what the query finds.
  virtual Result<int64_t> Archive(const std::string& partner, const ArchivedMessage& meta,
                                  const std::string& message, const std::string& text) = 0;
  virtual Result<std::vector<ArchivedMessage>> SearchArchive(const std::string& partner,
                                                             const std::string& customer,
                                                             const ArchiveQuery& query) = 0;
  virtual Result<std::string> LoadArchived(const std::string& partner, const std::string& customer,
                                           int64_t id) = 0;
  virtual Result<std::string> ExportArchive(const std::string& partner, const std::string& customer,
                                            const ArchiveQuery& query,
                                            const std::string& format) = 0;
  virtual Result<ArchiveCheck> VerifyArchive(const std::string& partner,
                                             const std::string& customer) = 0;

  // Every personal list entry of the customer's users (Service::ListPersonalEntries).
  virtual Result<std::vector<PersonalListEntry>> ListPersonalEntries(
      const std::string& partner, const std::string& customer) = 0;

  // The partner's customers in continuity now (GET /v1/continuity); nullopt when the
  // gateway carries no mail (an embedded one, or gatewayd without continuity).
  virtual Result<std::optional<std::vector<ContinuityEntry>>> ListContinuity(
      const std::string& partner) = 0;

  // Service::SetContinuityPassword.
  virtual Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                                       const std::string& address, const std::string& password) = 0;

  // What customers' DNS must point at (GET /v1/gateway); an embedded gateway names no
  // hosts and verifies no domains.
  virtual Result<GatewayFacts> GetFacts() = 0;
  // Checks the customer's pending domain claims against DNS now and returns all its
  // claims; kFailedPrecondition when the gateway does not verify domains.
  virtual Result<std::vector<DomainClaim>> CheckDomains(const std::string& partner,
                                                        const std::string& customer) = 0;
};

struct ClientOptions {
  std::string token;    // bearer token for http(s); ignored when embedded
  std::string ca_file;  // extra CA certificates for https
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};
};

// Every user of a customer, page by page, sorted by address.
Result<std::vector<User>> ListAllUsers(GatewayClient& gateway, const std::string& partner,
                                       const std::string& customer);

// Connects by URL. Embedded clients open (and create) the store at once; HTTP clients
// connect lazily, so an unreachable server shows on the first call.
Result<std::unique_ptr<GatewayClient>> ConnectGateway(const std::string& url,
                                                      const ClientOptions& options = {});

}  // namespace gw
