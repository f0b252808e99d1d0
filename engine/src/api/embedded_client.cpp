// The in-process transport: the Service itself, acting as the local operator.
#include "api/transports.h"
#include "gateway/service.h"

namespace gw {

namespace {

class EmbeddedClient final : public GatewayClient {
 public:
  EmbeddedClient(std::unique_ptr<Service> service, std::string path)
      : service_(std::move(service)), path_(std::move(path)) {}

  std::string Describe() const override { return "embedded:" + path_; }
  Status EnsurePartner(const std::string& partner) override {
    return service_->PutPartner(actor_, partner);
  }
  Result<PartnerState> GetState(const std::string& partner) override {
    return service_->GetState(actor_, partner);
  }
  Result<Customer> GetCustomer(const std::string& partner, const std::string& name) override {
    return service_->GetCustomer(actor_, partner, name);
  }
  Result<Customer> PutCustomer(const std::string& partner, const std::string& name,
                               const CustomerWrite& write, WriteCondition condition) override {
    return service_->PutCustomer(actor_, partner, name, write, condition);
  }
  Status DeleteCustomer(const std::string& partner, const std::string& name,
                        int64_t version) override {
    return service_->DeleteCustomer(actor_, partner, name, version);
  }
  Result<UserPage> ListUsers(const std::string& partner, const std::string& customer,
                             const std::string& after, size_t limit) override {
    return service_->ListUsers(actor_, partner, customer, after, limit);
  }
  Result<UserBatchResult> BatchUsers(const std::string& partner, const std::string& customer,
                                     const UserBatch& batch) override {
    return service_->BatchUsers(actor_, partner, customer, batch);
  }
  Result<Lease> TakeLease(const std::string& partner, const std::string& holder,
                          int64_t ttl_seconds) override {
    return service_->TakeLease(actor_, partner, holder, ttl_seconds);
  }
  Result<int64_t> Quarantine(const std::string& partner, const QuarantinedMessage& meta,
                             const std::string& message) override {
    return service_->Quarantine(actor_, partner, meta, message);
  }
  Result<int64_t> Archive(const std::string& partner, const ArchivedMessage& meta,
                          const std::string& message, const std::string& text) override {
    return service_->Archive(actor_, partner, meta, message, text);
  }
  Result<std::vector<ArchivedMessage>> SearchArchive(const std::string& partner,
                                                     const std::string& customer,
                                                     const ArchiveQuery& query) override {
    return service_->SearchArchive(actor_, partner, customer, query);
  }
  Result<std::string> LoadArchived(const std::string& partner, const std::string& customer,
                                   int64_t id) override {
    auto loaded = service_->LoadArchived(actor_, partner, customer, id);
    if (!loaded.ok()) return loaded.status();
    return std::move(loaded->second);
  }
  Result<std::string> ExportArchive(const std::string& partner, const std::string& customer,
                                    const ArchiveQuery& query, const std::string& format) override {
    return service_->ExportArchive(actor_, partner, customer, query, format);
  }
  Result<ArchiveCheck> VerifyArchive(const std::string& partner,
                                     const std::string& customer) override {
    return service_->VerifyArchive(actor_, partner, customer);
  }
  Result<std::vector<QuarantinedMessage>> ListQuarantine(const std::string& partner,
                                                         const std::string& customer, int64_t after,
                                                         size_t limit) override {
    return service_->ListQuarantine(actor_, partner, customer, after, limit);
  }
  Result<QuarantinedMessage> ReleaseQuarantined(const std::string& partner,
                                                const std::string& customer, int64_t id) override {
    return service_->ReleaseQuarantined(actor_, partner, customer, id);
  }
  Result<std::vector<PersonalListEntry>> ListPersonalEntries(const std::string& partner,
                                                             const std::string& customer) override {
    return service_->ListPersonalEntries(actor_, partner, customer, "");
  }
  Result<std::optional<std::vector<ContinuityEntry>>> ListContinuity(const std::string&) override {
    return std::optional<std::vector<ContinuityEntry>>();  // in-process: no mail, no outages
  }
  Status SetContinuityPassword(const std::string& partner, const std::string& customer,
                               const std::string& address, const std::string& password) override {
    return service_->SetContinuityPassword(actor_, partner, customer, address, password);
  }
  Result<std::vector<AuditEntry>> ListAudit(const std::string& partner, int64_t after,
                                            size_t limit) override {
    return service_->ListAudit(actor_, partner, after, limit);
  }
  Result<GatewayFacts> GetFacts() override { return GatewayFacts(); }
  Result<std::vector<DomainClaim>> CheckDomains(const std::string&, const std::string&) override {
    return Status(StatusCode::kFailedPrecondition,
                  "an embedded gateway does not verify domains (gatewayd --verify-domains does)");
  }

 private:
  std::unique_ptr<Service> service_;
  std::string path_;
  Actor actor_ = Actor::Local();
};

}  // namespace

Result<std::unique_ptr<GatewayClient>> OpenEmbeddedClient(const std::string& url,
                                                          const ClientOptions&) {
  std::string path = url.substr(url.find(':') + 1);
  if (path.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "embedded: needs a store path, e.g. embedded:gateway.db");
  }
  auto service = Service::Open(path);
  if (!service.ok()) return service.status();
  return std::unique_ptr<GatewayClient>(new EmbeddedClient(std::move(*service), path));
}

}  // namespace gw
