// Rules 8 to 10: the content filter, the allow and block lists, and the spam report.

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <fmt/format.h>

#include "gateway/domain_name.h"
#include "gateway/ip_range.h"
#include "gateway/quantity.h"
#include "gateway/report_template.h"
#include "gateway/time_zone.h"
#include "rules/customer_checker.h"

namespace gw {

namespace {

constexpr uint64_t kMinMessageSize = 1024;
constexpr uint64_t kMaxMessageSize = 2ull << 30;
const std::set<std::string> kAttachmentCategories = {"executable", "docmacro",  "xlsmacro",
                                                     "pptmacro",   "mediafile", "archive"};

}  // namespace

// Rule 8.
void CustomerChecker::CheckContentFilter() {
  auto filter = spec_["filtering"]["contentFilter"];
  config_.forbid_encrypted_attachments = filter["forbidEncryptedAttachments"].boolean_or(false);
  config_.attachment_action = filter["attachmentAction"].string_or("cut-and-inform");
  if (const std::string* size = filter["maxMessageSize"].string()) {
    auto bytes = ParseSize(*size);
    if (bytes.ok() && (*bytes < kMinMessageSize || *bytes > kMaxMessageSize)) {
      Error(filter["maxMessageSize"], "content-filter-size",
            fmt::format("maxMessageSize {} is outside 1KiB-2GiB", *size));
    } else if (bytes.ok()) {
      config_.max_message_size_bytes = *bytes;
    }
  }
  auto attachments = filter["forbiddenAttachments"];
  for (size_t i = 0; i < attachments.size(); ++i) {
    const std::string* entry = attachments[i].string();
    if (!entry) continue;
    if (kAttachmentCategories.count(*entry)) {
      config_.forbidden_attachments.push_back(*entry);
      continue;
    }
    std::string lower = *entry;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    bool extension_chars =
        lower.size() > 1 && std::all_of(lower.begin() + 1, lower.end(), [](unsigned char c) {
          return std::isalnum(c) || c == '-' || c == '_' || c == '.';
        });
    if (entry->front() == '.' && kAttachmentCategories.count(lower.substr(1))) {
      // A panel's category copied with a dot would be an extension no file has.
      Error(attachments[i], "attachment-type",
            fmt::format("'{}' is an extension no file has; did you mean the category '{}'?", *entry,
                        lower.substr(1)));
    } else if (entry->front() == '.' && extension_chars && lower != *entry) {
      Error(attachments[i], "attachment-type",
            fmt::format("extension '{}' must be lowercase: '{}'", *entry, lower));
    } else if (entry->front() != '.' || !extension_chars) {
      Error(attachments[i], "attachment-type",
            fmt::format(
                "'{}' is neither a category (executable, docmacro, xlsmacro, pptmacro, mediafile, "
                "archive) nor an extension such as .iso",
                *entry));
    } else {
      config_.forbidden_attachments.push_back(*entry);
    }
  }
}

// A list entry normalised, or nothing when it is invalid (reported) or malformed.
std::optional<ListEntry> CustomerChecker::ListEntryAt(const JsonCursor& entry,
                                                      bool own_domain_warning) {
  for (const char* field : {"sender", "senderDomain", "ip", "recipient", "recipientDomain"}) {
    const std::string* value = entry[field].string();
    if (!value) continue;
    std::string kind(field);
    Result<std::string> normalized = Status::Invalid("");
    std::string domain;
    if (kind == "sender" || kind == "recipient") {
      auto address = ParseEmailAddress(*value);
      if (address.ok()) domain = address->domain;
      normalized = address.ok() ? Result<std::string>(address->ToString()) : address.status();
    } else if (kind == "ip") {
      auto range = IpRange::Parse(*value);
      normalized = range.ok() ? Result<std::string>(range->ToString()) : range.status();
    } else {
      normalized = NormalizeDomain(*value);
      if (normalized.ok()) domain = *normalized;
    }
    if (!normalized.ok()) {
      Error(entry[field], "list-entry-invalid", normalized.status().message());
      return std::nullopt;
    }
    if (own_domain_warning && !domain.empty()) {
      for (const auto& own : config_.domains) {
        if (IsSameOrSubdomain(domain, own)) {
          Warning(entry[field], "allow-own-domain",
                  fmt::format(
                      "allow-listing the customer's own domain {} lets spoofed mail through", own));
          break;
        }
      }
    }
    return ListEntry{kind, *normalized};
  }
  return std::nullopt;
}

// Rule 9.
void CustomerChecker::CheckLists() {
  auto lists = spec_["lists"];
  Lists& out = config_.lists;
  std::map<std::pair<std::string, std::string>, std::string> allowed;  // -> pointer
  auto allow = lists["allow"];
  for (size_t i = 0; i < allow.size(); ++i) {
    if (auto entry = ListEntryAt(allow[i], true)) {
      allowed.emplace(std::make_pair(entry->kind, entry->value), allow[i].pointer());
      out.allow.push_back(std::move(*entry));
    }
  }
  auto block = lists["block"];
  for (size_t i = 0; i < block.size(); ++i) {
    auto entry = ListEntryAt(block[i], false);
    if (!entry) continue;
    if (auto it = allowed.find({entry->kind, entry->value}); it != allowed.end()) {
      Error(block[i], "list-conflict",
            fmt::format("{} is on both the allow list ({{related}}) and the block list",
                        entry->value),
            it->second);
      continue;
    }
    out.block.push_back(std::move(*entry));
  }
  auto outbound = lists["outboundBlock"];
  for (size_t i = 0; i < outbound.size(); ++i) {
    if (auto entry = ListEntryAt(outbound[i], false)) out.outbound_block.push_back(*entry);
  }
  auto recipient_allow = lists["recipientAllow"];
  std::map<std::string, std::string> allowed_recipients;  // -> pointer
  for (size_t i = 0; i < recipient_allow.size(); ++i) {
    const std::string* local = recipient_allow[i].string();
    if (!local) continue;
    if (*local == "*") {
      Error(recipient_allow[i], "recipient-allow-all",
            "recipientAllow: \"*\" would deliver every message unfiltered, switching filtering "
            "off");
      continue;
    }
    allowed_recipients.emplace(*local, recipient_allow[i].pointer());
    out.recipient_allow.push_back(*local);
  }
  auto recipient_block = lists["recipientBlock"];
  for (size_t i = 0; i < recipient_block.size(); ++i) {
    const std::string* local = recipient_block[i].string();
    if (!local) continue;
    if (auto it = allowed_recipients.find(*local); it != allowed_recipients.end()) {
      Error(recipient_block[i], "list-conflict",
            fmt::format("'{}' is on both recipientAllow ({{related}}) and recipientBlock", *local),
            it->second);
      continue;
    }
    out.recipient_block.push_back(*local);
  }
}

// Rule 10.
void CustomerChecker::CheckSpamReport() {
  auto report = spec_["filtering"]["spamReport"];
  if (!report.is_object()) return;
  SpamReportSettings& schedule = config_.spam_report;
  schedule.enabled = report["enabled"].boolean_or(false);
  schedule.whitelist_spam = report["whitelist"]["spam"].boolean_or(false);
  schedule.whitelist_infomail = report["whitelist"]["infomail"].boolean_or(false);
  if (auto categories = report["categories"]; categories.exists()) {
    schedule.categories.clear();
    for (size_t i = 0; i < categories.size(); ++i) {
      if (const std::string* text = categories[i].string()) schedule.categories.push_back(*text);
    }
  }
  if (schedule.enabled) {
    if (report["days"].size() == 0)
      Error(report, "spam-report", "the spam report is enabled but has no days");
    if (report["times"].size() == 0)
      Error(report, "spam-report", "the spam report is enabled but has no times");
  }
  for (const char* key : {"days", "times"}) {
    auto list = report[key];
    auto& into = std::string_view(key) == "days" ? schedule.days : schedule.times;
    for (size_t i = 0; i < list.size(); ++i) {
      if (const std::string* text = list[i].string()) into.push_back(*text);
    }
  }
  const std::string* name = report["template"].string();
  const std::string* html = report["templateHtml"].string();
  if (name && *name != "default") {
    if (!html) {
      Error(report["template"], "report-template-missing",
            fmt::format("the branded template '{}' comes without its HTML (gwctl reads it from "
                        "report-templates/{}.html)",
                        *name, *name));
    } else {
      auto problems = CheckReportTemplate(*html);
      for (const auto& problem : problems) {
        Error(report["templateHtml"], problem.rule.c_str(),
              fmt::format("at byte {}: {}", problem.offset, problem.message));
      }
      if (problems.empty()) {
        schedule.template_name = *name;
        schedule.template_html = *html;
      }
    }
  } else if (html) {
    Error(report["templateHtml"], "report-template",
          "templateHtml is a branded template's: name it in template");
  }
  if (const std::string* zone = report["timezone"].string()) {
    if (IsKnownTimeZone(*zone)) {
      schedule.time_zone = *zone;
    } else {
      Error(report["timezone"], "spam-report",
            fmt::format("unknown time zone '{}' (use an IANA name such as Europe/London)", *zone));
    }
  }
}

// What the customer's people may do themselves (the schema holds a virus at view or
// none: only the partner releases malware).
void CustomerChecker::CheckSelfService() {
  auto self = spec_["selfService"];
  if (!self.is_object()) return;
  SelfService& out = config_.self_service;
  out.personal_lists = self["personalLists"].boolean_or(true);
  out.digest_actions = self["digestActions"].boolean_or(true);
  auto quarantine = self["quarantine"];
  for (auto& [reason, right] : out.quarantine) {
    const std::string* text = quarantine[reason].string();
    if (!text) continue;
    for (auto known : {QuarantineRight::kNone, QuarantineRight::kView, QuarantineRight::kRequest,
                       QuarantineRight::kRelease}) {
      if (*text == QuarantineRightName(known)) right = known;
    }
  }
  auto requests_to = self["releaseRequestsTo"];
  for (size_t i = 0; i < requests_to.size(); ++i) {
    const std::string* text = requests_to[i].string();
    if (!text) continue;
    auto address = ParseEmailAddress(*text);
    if (!address.ok()) {
      Error(requests_to[i], "self-service", address.status().message());
      continue;
    }
    out.release_requests_to.push_back(address->ToString());
  }
}

}  // namespace gw
