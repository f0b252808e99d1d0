// Service: the mail archive (archive.h): keeping, searching, reading, exporting and
// verifying a customer's archived mail, the retention purge and the legal release.
#include <algorithm>

#include <fmt/format.h>

#include "gateway/service.h"
#include "service/service_impl.h"

namespace gw {

using nlohmann::json;

namespace {

constexpr size_t kMaxSearchText = 256u << 10;  // indexed per message
constexpr size_t kMaxSearchResults = 1000;
constexpr size_t kMaxExport = 10'000;  // messages per export; page with `before` for more
constexpr size_t kVerifyPage = 1000;

// `text` cut to at most `limit` bytes, never inside a UTF-8 sequence.
std::string Bounded(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// A query time as the archive keeps times; "" stays "".
Result<std::string> StoredTime(const std::string& text, const char* field) {
  if (text.empty()) return text;
  auto parsed = ParseRfc3339(text);
  if (!parsed)
    return Status::Invalid(fmt::format("{} must be an RFC 3339 time", field),
                           std::string("/") + field);
  return FormatRfc3339(*parsed);
}

}  // namespace

Result<int64_t> Service::Archive(const Actor& actor, const std::string& partner,
                                 ArchivedMessage meta, const std::string& message,
                                 const std::string& text) {
  if (Status s = Authorize(actor, Action::kArchiveMail, partner, meta.customer); !s.ok()) return s;
  if (meta.direction != "inbound" && meta.direction != "outbound")
    return Status::Invalid("direction must be inbound or outbound", "/direction");
  if (message.empty()) return Status::Invalid("the message is empty", "/message");
  if (Status s = CheckEnvelope(meta.sender, meta.recipients); !s.ok()) return s;
  auto retention = impl_->Read<int64_t>([&]() -> Result<int64_t> {
    if (Status s = impl_->ExistingPartner(partner); !s.ok()) return s;
    auto customer = impl_->ExistingCustomer(partner, meta.customer);
    if (!customer.ok()) return customer.status();
    const CustomerConfig& config = CompileStored(*customer).config;
    bool covered = config.archiving_enabled &&
                   (meta.direction == "inbound" ? config.archive_inbound : config.archive_outbound);
    if (!covered) {
      return Status(
          StatusCode::kFailedPrecondition,
          fmt::format("customer '{}' does not archive {} mail", meta.customer, meta.direction));
    }
    if (Status s = impl_->CheckMailOfCustomer(partner, meta.customer, meta.sender, meta.recipients);
        !s.ok())
      return s;
    return config.archive_retention_days;
  });
  if (!retention.ok()) return retention.status();

  auto now = std::chrono::system_clock::now();
  meta.id = 0;
  meta.partner = partner;
  meta.received_at = FormatRfc3339(now);
  meta.retain_until =
      *retention > 0 ? FormatRfc3339(now + std::chrono::hours(24 * *retention)) : "";
  meta.size = static_cast<int64_t>(message.size());
  meta.digest = MessageDigest(message);
  meta.subject = Bounded(meta.subject, 998);
  meta.released_at.clear();
  meta.release_reason.clear();
  meta.entry_digest = ArchiveEntryDigest(meta);
  std::string compressed = CompressMessage(message);  // outside the lock
  std::string indexed = Bounded(text, kMaxSearchText);
  return impl_->InArchive<int64_t>(true, [&](ArchiveStore& archive) -> Result<int64_t> {
    auto head = archive.ChainHead(partner, meta.customer);
    if (!head.ok()) return head.status();
    meta.chain = ArchiveChainLink(*head, meta.entry_digest);
    if (Status s = archive.PutMessage(partner, meta.customer, meta.digest, compressed); !s.ok())
      return s;
    return archive.AddEntry(meta, indexed);
  });
}

Status Service::ArchiveReleased(const std::string& partner, const QuarantinedMessage& message,
                                const std::vector<std::string>& recipients,
                                const std::string& marked) {
  // Held inbound mail is for the customer's users; held outbound mail is from it.
  auto inbound = impl_->Read<bool>([&]() -> Result<bool> {
    auto domains = impl_->store->CustomerDomains(partner, message.customer);
    if (!domains.ok()) return domains.status();
    return std::all_of(recipients.begin(), recipients.end(), [&](const std::string& r) {
      return !FindAddressProblem(r, *domains).has_value();
    });
  });
  if (!inbound.ok()) return inbound.status();
  ArchivedMessage meta;
  meta.customer = message.customer;
  meta.direction = *inbound ? "inbound" : "outbound";
  meta.sender = message.sender;
  meta.recipients = recipients;
  meta.subject = message.subject;
  // gatewayd reads no MIME: the subject is what a search by words finds of it.
  auto kept = Archive({"gatewayd (release)", Role::kFilter, "", ""}, partner, meta, marked,
                      message.subject);
  if (!kept.ok() && kept.status().code() != StatusCode::kFailedPrecondition) return kept.status();
  return Status::Ok();
}

Result<std::vector<ArchivedMessage>> Service::SearchArchive(const Actor& actor,
                                                            const std::string& partner,
                                                            const std::string& customer,
                                                            ArchiveQuery query) {
  // The customer may be gone: its archive stays for its retention, for its partner.
  auto allowed = impl_->Read<bool>([&]() -> Result<bool> {
    if (Status s = impl_->CheckPartner(actor, Action::kReadArchive, partner, customer); !s.ok())
      return s;
    return true;
  });
  if (!allowed.ok()) return allowed.status();
  auto since = StoredTime(query.since, "since");
  if (!since.ok()) return since.status();
  auto until = StoredTime(query.until, "until");
  if (!until.ok()) return until.status();
  query.since = *since;
  query.until = *until;
  if (query.limit == 0 || query.limit > kMaxSearchResults) query.limit = kMaxSearchResults;
  return impl_->InArchive<std::vector<ArchivedMessage>>(
      false, [&](ArchiveStore& archive) { return archive.Search(partner, customer, query); });
}

Result<std::pair<ArchivedMessage, std::string>> Service::LoadArchived(const Actor& actor,
                                                                      const std::string& partner,
                                                                      const std::string& customer,
                                                                      int64_t id) {
  if (Status s = Authorize(actor, Action::kReadArchive, partner, customer); !s.ok()) return s;
  using Loaded = std::pair<ArchivedMessage, std::string>;
  auto loaded = impl_->InArchive<Loaded>(false, [&](ArchiveStore& archive) -> Result<Loaded> {
    auto entry = archive.LoadEntry(partner, customer, id);
    if (!entry.ok()) return entry.status();
    if (!*entry) return NotFound(fmt::format("archived message {} of customer '{}'", id, customer));
    if (!(*entry)->released_at.empty()) {
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("archived message {} was released at {} ({})", id,
                                (*entry)->released_at, (*entry)->release_reason));
    }
    auto compressed = archive.LoadMessage(partner, customer, (*entry)->digest);
    if (!compressed.ok()) return compressed.status();
    if (!*compressed) {
      return Status(StatusCode::kInternal,
                    fmt::format("archived message {}: its message is missing", id));
    }
    return Loaded{std::move(**entry), std::move(**compressed)};
  });
  if (!loaded.ok()) return loaded.status();
  auto message = DecompressMessage(loaded->second);
  if (!message.ok() || MessageDigest(*message) != loaded->first.digest) {
    return Status(StatusCode::kInternal,
                  fmt::format("archived message {} does not match its digest: the archive was "
                              "changed outside gatewayd",
                              id));
  }
  return Loaded{std::move(loaded->first), std::move(*message)};
}

Result<std::string> Service::ExportArchive(const Actor& actor, const std::string& partner,
                                           const std::string& customer, const ArchiveQuery& query,
                                           const std::string& format) {
  if (format != "mbox" && format != "zip")
    return Status::Invalid("format must be mbox or zip", "/format");
  ArchiveQuery all = query;
  all.limit = std::min(query.limit == 0 ? kMaxExport : query.limit, kMaxExport);
  // SearchArchive caps a page; an export reads pages until it has what it asked for.
  std::vector<ArchivedMessage> found;
  while (found.size() < all.limit) {
    ArchiveQuery page = all;
    page.limit = std::min(kMaxSearchResults, all.limit - found.size());
    if (!found.empty()) page.before = found.back().id;
    auto more = SearchArchive(actor, partner, customer, page);
    if (!more.ok()) return more.status();
    found.insert(found.end(), more->begin(), more->end());
    if (more->size() < page.limit) break;
  }
  std::string mbox;
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& entry : found) {
    auto loaded = LoadArchived(actor, partner, customer, entry.id);
    if (!loaded.ok()) return loaded.status();
    if (format == "mbox") {
      mbox += MboxEntry(loaded->first, loaded->second);
    } else {
      files.emplace_back(fmt::format("{}-{}.eml", entry.id, entry.direction),
                         std::move(loaded->second));
    }
  }
  Status audited =
      impl_
          ->Write<bool>([&]() -> Result<bool> {
            if (Status s = impl_->Audit(actor, partner, "archive.export", customer,
                                        json{{"messages", found.size()}, {"format", format}});
                !s.ok())
              return s;
            return true;
          })
          .status();
  if (!audited.ok()) return audited;
  if (format == "mbox") return mbox;
  return ZipOf(files);
}

Result<ArchiveCheck> Service::VerifyArchive(const Actor& actor, const std::string& partner,
                                            const std::string& customer) {
  if (Status s = Authorize(actor, Action::kReadArchive, partner, customer); !s.ok()) return s;
  return impl_->InArchive<ArchiveCheck>(false, [&](ArchiveStore& archive) -> Result<ArchiveCheck> {
    ArchiveCheck check;
    auto anchor = archive.Anchor(partner, customer);
    if (!anchor.ok()) return anchor.status();
    check.anchor = *anchor;
    std::string previous = *anchor;
    int64_t after = 0;
    while (true) {
      auto page = archive.Entries(partner, customer, after, kVerifyPage);
      if (!page.ok()) return page.status();
      for (const ArchivedMessage& e : *page) {
        if (check.entries++ == 0) check.first_id = e.id;
        check.last_id = after = e.id;
        std::string entry_digest = e.entry_digest;
        if (e.released_at.empty()) {
          if (ArchiveEntryDigest(e) != e.entry_digest) {
            check.problems.push_back(fmt::format("entry {}: its fields were changed", e.id));
          }
          auto compressed = archive.LoadMessage(partner, customer, e.digest);
          if (!compressed.ok()) return compressed.status();
          auto message = *compressed ? DecompressMessage(**compressed)
                                     : Result<std::string>(Status(StatusCode::kInternal, ""));
          if (!message.ok() || MessageDigest(*message) != e.digest) {
            check.problems.push_back(fmt::format("entry {}: its message is {}", e.id,
                                                 *compressed ? "not the one archived" : "missing"));
          }
        }
        if (ArchiveChainLink(previous, entry_digest) != e.chain) {
          check.problems.push_back(
              fmt::format("entry {}: the chain breaks before it (an entry was removed, added "
                          "or changed)",
                          e.id));
        }
        previous = e.chain;
      }
      if (page->size() < kVerifyPage) break;
    }
    check.head = previous;
    return check;
  });
}

Result<int64_t> Service::PurgeArchive(std::chrono::system_clock::time_point as_of) {
  auto customers = impl_->InArchive<std::vector<std::pair<std::string, std::string>>>(
      false, [](ArchiveStore& archive) { return archive.Customers(); });
  if (!customers.ok()) return customers.status();
  std::string now = FormatRfc3339(as_of);
  int64_t removed = 0;
  for (const auto& owner : *customers) {
    // Named, not bound: lambdas below use them (clang 14 cannot capture a binding).
    const std::string& partner = owner.first;
    const std::string& customer = owner.second;
    // The customer's retention now, while it still archives ("": none applies; "max":
    // it keeps mail without limit).
    auto current = impl_->Read<std::string>([&]() -> Result<std::string> {
      auto stored = impl_->store->LoadCustomer(partner, customer);
      if (!stored.ok()) return stored.status();
      if (!*stored) return std::string();
      const CustomerConfig& config = CompileStored(**stored).config;
      if (!config.archiving_enabled) return std::string();
      if (config.archive_retention_days == 0) return std::string("max");
      return FormatRfc3339(as_of - std::chrono::hours(24 * config.archive_retention_days));
    });
    if (!current.ok()) return current.status();
    if (*current == "max") continue;
    auto expired = [&](const ArchivedMessage& e) {
      if (e.retain_until.empty() || e.retain_until > now) return false;
      return current->empty() || e.received_at <= *current;
    };
    auto purged = impl_->InArchive<int64_t>(true, [&](ArchiveStore& archive) -> Result<int64_t> {
      // Only the oldest entries, up to the first one still kept: the chain stays whole.
      std::optional<ArchivedMessage> last;
      int64_t after = 0;
      bool done = false;
      while (!done) {
        auto page = archive.Entries(partner, customer, after, kVerifyPage);
        if (!page.ok()) return page.status();
        for (const auto& e : *page) {
          if (!expired(e)) {
            done = true;
            break;
          }
          last = e;
          after = e.id;
        }
        if (page->size() < kVerifyPage) done = true;
      }
      if (!last) return 0;
      return archive.RemoveThrough(partner, customer, last->id, last->chain);
    });
    if (!purged.ok()) return purged.status();
    removed += *purged;
  }
  return removed;
}

Status Service::ReleaseArchived(const Actor& actor, const std::string& partner,
                                const std::string& customer, int64_t id,
                                const std::string& reason) {
  // No route of the API reaches this; the check is for any caller in this process.
  if (!actor.is_operator() || actor.name != Actor::Local().name) {
    return Status(StatusCode::kPermissionDenied,
                  "an archived message is released before its retention only on the gateway's "
                  "host (gatewayd archive-release)");
  }
  if (reason.size() < 10) {
    return Status::Invalid("a legal release names its reason (a case or order reference)",
                           "/reason");
  }
  std::string at = Now();
  Status released =
      impl_
          ->InArchive<bool>(
              true,
              [&](ArchiveStore& archive) -> Result<bool> {
                auto entry = archive.LoadEntry(partner, customer, id);
                if (!entry.ok()) return entry.status();
                if (!*entry)
                  return NotFound(
                      fmt::format("archived message {} of customer '{}'", id, customer));
                if (!(*entry)->released_at.empty()) {
                  return Status(StatusCode::kFailedPrecondition,
                                fmt::format("archived message {} was released at {}", id,
                                            (*entry)->released_at));
                }
                if (Status s = archive.Release(partner, customer, id, at, reason); !s.ok())
                  return s;
                return true;
              })
          .status();
  if (!released.ok()) return released;
  return impl_
      ->Write<bool>([&]() -> Result<bool> {
        if (Status s = impl_->Audit(actor, partner, "archive.release", customer,
                                    json{{"id", id}, {"reason", reason}});
            !s.ok())
          return s;
        return true;
      })
      .status();
}

}  // namespace gw
