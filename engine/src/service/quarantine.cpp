// Service: the quarantine: keeping, listing, releasing and purging messages.
#include "gateway/service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "service/service_impl.h"

namespace gw {

using nlohmann::json;

Result<int64_t> Service::Quarantine(const Actor& actor, const std::string& partner,
                                    QuarantinedMessage meta, const std::string& message) {
  if (Status s = Authorize(actor, Action::kKeepQuarantined, partner, meta.customer); !s.ok())
    return s;
  if (meta.reason != "spam" && meta.reason != "infomail" && meta.reason != "attachment" &&
      meta.reason != "virus")
    return Status::Invalid("reason must be spam, infomail, attachment or virus", "/reason");
  if (message.empty()) return Status::Invalid("the message is empty", "/message");
  if (Status s = CheckEnvelope(meta.sender, meta.recipients); !s.ok()) return s;
  meta.received_at = Now();
  return impl_->Write<int64_t>([&]() -> Result<int64_t> {
    // Who may is checked above, before the message is looked at.
    if (Status s = impl_->ExistingPartner(partner); !s.ok()) return s;
    auto customer = impl_->ExistingCustomer(partner, meta.customer);
    if (!customer.ok()) return customer.status();
    // A release delivers to these recipients.
    if (Status s = impl_->CheckMailOfCustomer(partner, meta.customer, meta.sender, meta.recipients);
        !s.ok())
      return s;
    return impl_->store->AddQuarantined(partner, meta, message);
  });
}

Result<std::vector<QuarantinedMessage>> Service::ListQuarantine(const Actor& actor,
                                                                const std::string& partner,
                                                                const std::string& customer,
                                                                int64_t after, size_t limit) {
  if (limit == 0 || limit > impl_->options.max_page_size) limit = impl_->options.max_page_size;
  return impl_->Read<std::vector<QuarantinedMessage>>(
      [&]() -> Result<std::vector<QuarantinedMessage>> {
        if (Status s = impl_->CheckPartner(actor, Action::kReadQuarantine, partner, customer);
            !s.ok())
          return s;
        auto existing = impl_->ExistingCustomer(partner, customer);
        if (!existing.ok()) return existing.status();
        return impl_->store->ListQuarantined(partner, customer, after, limit);
      });
}

Result<QuarantinedMessage> Service::ReleaseQuarantined(const Actor& actor,
                                                       const std::string& partner,
                                                       const std::string& customer, int64_t id) {
  if (Status s = impl_->CanSendMail("releasing"); !s.ok()) return s;
  Impl::ReleaseTurn turn(*impl_, partner, id);
  if (!turn.ok())
    return Status(StatusCode::kConflict, fmt::format("message {} is being released", id));
  using Kept = std::pair<QuarantinedMessage, std::string>;
  auto kept = impl_->Read<Kept>([&]() -> Result<Kept> {
    if (Status s = impl_->CheckPartner(actor, Action::kReleaseQuarantined, partner, customer);
        !s.ok())
      return s;
    auto loaded = impl_->store->LoadQuarantined(partner, customer, id);
    if (!loaded.ok()) return loaded.status();
    if (!*loaded)
      return NotFound(fmt::format("quarantined message {} of customer '{}'", id, customer));
    // A customer admin releases what its users may release or ask for, never malware.
    if (actor.role == Role::kCustomerAdmin) {
      auto stored = impl_->ExistingCustomer(partner, customer);
      if (!stored.ok()) return stored.status();
      if (CompileStored(*stored).config.self_service.RightFor((*loaded)->first.reason) <
          QuarantineRight::kRequest) {
        return Status(
            StatusCode::kPermissionDenied,
            fmt::format("only the partner releases {} held as {}", id, (*loaded)->first.reason));
      }
    }
    if (!(*loaded)->first.released_at.empty()) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("message {} was released at {}", id, (*loaded)->first.released_at));
    }
    return std::move(**loaded);
  });
  if (!kept.ok()) return kept.status();
  // Delivered outside the transaction (it waits on Postfix); marked after. A failure in
  // between leaves it unreleased, so a retry may deliver it twice, never not at all.
  // Marked, so whoever reads it knows the filter held it and a person let it go.
  std::string marked = fmt::format("X-GW-Released: from quarantine ({}, {})\r\n{}",
                                   kept->first.reason, kept->first.received_at, kept->second);
  if (Status s = ArchiveReleased(partner, kept->first, kept->first.recipients, marked); !s.ok())
    return s;
  if (Status s = impl_->options.send_mail(kept->first.sender, kept->first.recipients, marked);
      !s.ok())
    return s;
  return impl_->Write<QuarantinedMessage>([&]() -> Result<QuarantinedMessage> {
    QuarantinedMessage released = kept->first;
    released.released_at = Now();
    if (Status s = impl_->store->MarkReleased(partner, customer, id, released.released_at); !s.ok())
      return s;
    if (Status s = impl_->Audit(actor, partner, "quarantine.release", customer,
                                json{{"id", id}, {"reason", released.reason}});
        !s.ok())
      return s;
    return released;
  });
}

Result<int64_t> Service::PurgeQuarantine(int64_t retention_days,
                                         std::chrono::system_clock::time_point as_of) {
  auto cutoff = as_of - std::chrono::hours(24 * retention_days);
  std::string before = FormatRfc3339(cutoff);
  return impl_->Write<int64_t>(
      [&]() -> Result<int64_t> { return impl_->store->PurgeQuarantine(before); });
}

}  // namespace gw
