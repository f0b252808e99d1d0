// Service: opening a store, partners, the audit log and job leases (service_impl.h).
#include "gateway/service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"

#include "service/service_impl.h"

namespace gw {

namespace {

using nlohmann::json;

bool ValidName(const std::string& name) {
  static const std::regex kName("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
  return std::regex_match(name, kName);
}

}  // namespace

Result<std::string> RandomHex(size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1)
    return Status(StatusCode::kInternal, "no random bytes");
  std::string hex;
  for (unsigned char b : buffer) hex += fmt::format("{:02x}", b);
  return hex;
}

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() = default;

Result<std::unique_ptr<Service>> Service::Open(const std::string& path, ServiceOptions options) {
  auto store = OpenStore(path, {options.busy_timeout_ms});
  if (!store.ok()) return store.status();
  auto service = Create(std::move(*store), options);
  if (service.ok()) (*service)->impl_->archive_location = path;
  return service;
}

Result<std::unique_ptr<Service>> Service::Create(std::unique_ptr<Store> store,
                                                 ServiceOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  for (const std::string& name : options.gateway_hosts) {
    auto host = NormalizeHost(name);
    if (!host.ok())
      return Status(StatusCode::kInvalidArgument,
                    "the gateway's host name: " + host.status().message());
    impl->rules.gateway_hosts.push_back(*host);
  }
  for (Endpoint smtp : options.gateway_smtp) {
    auto host = NormalizeHost(smtp.host);
    if (!host.ok())
      return Status(StatusCode::kInvalidArgument,
                    "the gateway's SMTP address: " + host.status().message());
    smtp.host = *host;
    impl->rules.gateway_smtp.push_back(smtp);
  }
  impl->rules.destination_networks = options.destination_networks;
  impl->store = std::move(store);
  auto upgraded = impl->Write<bool>([&]() -> Result<bool> {
    auto stale = impl->store->TakeCustomersToRecompile();
    if (!stale.ok()) return stale.status();
    for (const auto& owner : *stale) {
      if (Status s = impl->Recompile(owner); !s.ok()) return s;
    }
    return true;
  });
  if (!upgraded.ok()) return upgraded.status();
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

Status Service::PutPartner(const Actor& actor, const std::string& partner) {
  if (!actor.is_operator()) {
    // A partner's token may confirm its own partner exists (gwctl does before every
    // plan), so that costs neither a refusal nor a write; only an operator creates one.
    if (actor.partner == partner && !actor.is_filter()) {
      auto exists = impl_->Read<bool>([&]() -> Result<bool> {
        if (Status s = impl_->ExistingPartner(partner); !s.ok()) return s;
        return true;
      });
      if (exists.ok()) return Status::Ok();
    }
    return Status(StatusCode::kPermissionDenied, "only an operator can create partners");
  }
  if (!ValidName(partner))
    return Status::Invalid(fmt::format("'{}' is not a valid partner name", partner), "/name");
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        auto inserted = impl_->store->InsertPartner(partner, Now());
        if (!inserted.ok() || !*inserted) return inserted;
        if (Status s = impl_->Audit(actor, partner, "partner.create", partner, json::object());
            !s.ok())
          return s;
        return true;
      })
      .status();
}

Result<std::vector<std::string>> Service::ListPartners(const Actor& actor) {
  if (Status s = Authorize(actor, Action::kListPartners, ""); !s.ok()) return s;
  return impl_->Read<std::vector<std::string>>([&] { return impl_->store->ListPartners(); });
}

Result<std::vector<AuditEntry>> Service::ListAudit(const Actor& actor, const std::string& partner,
                                                   int64_t after, size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  return impl_->Read<std::vector<AuditEntry>>([&]() -> Result<std::vector<AuditEntry>> {
    if (Status s = impl_->CheckPartner(actor, Action::kReadAudit, partner); !s.ok()) return s;
    return impl_->store->ListAudit(partner, after, limit);
  });
}

Status Service::HoldJob(const std::string& job, std::chrono::milliseconds ttl) {
  return impl_->HoldJob(job, ttl);
}

void Service::ReleaseJob(const std::string& job) {
  impl_->ReleaseJob(job);
}

}  // namespace gw
