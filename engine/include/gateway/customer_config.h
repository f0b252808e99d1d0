// CustomerConfig: one customer's settings compiled into typed, normalised values. It is
// what the mail data plane reads (sizes in bytes, destinations in delivery order, relay
// sources as ranges), so nothing on the mail path parses "50MiB" or "host:25#10" again.
//
// Contract: a CustomerConfig comes only from CompileCustomer (customer_rules.h); when that
// reports no errors, every value here has passed the schema and every rule. Values the
// manifest leaves out hold the gateway's defaults, stated next to each field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/destination.h"
#include "gateway/ip_range.h"

namespace gw {

// Who may send outbound mail through the gateway as this customer.
struct RelayPolicy {
  bool enabled = false;
  std::string service;           // "office365" | "google" | "" (sources written by hand)
  std::vector<IpRange> sources;  // written sources, or the service's published ranges
  // A service's ranges are shared by all its tenants, so mail from them proves its
  // tenant: office365, every X-MS-Exchange-CrossTenant-Id header is this id (lower
  // case); google, a valid DKIM signature of one of the customer's domains.
  std::string tenant_id;
  // Relayed mail must come over STARTTLS (outboundRelay.requireTls); otherwise refused.
  bool require_tls = false;
};

// How the hops to the customer's servers are encrypted (tls: in the manifest).
struct DeliveryTls {
  enum class Level {
    kOpportunistic,  // STARTTLS wherever the server offers it
    kRequired,       // mail waits rather than go in cleartext
    kVerified,       // ...or to a server whose certificate is not the expected one
  };
  Level level = Level::kOpportunistic;
  // kVerified: the certificate is signed by a CA the gateway trusts and names one of
  // these (serverNames; each destination's own host name when none are written)...
  std::vector<std::string> names;
  // ...or, pinned, is one of these: SHA-256 digests of the certificate or its public key,
  // upper-case hex with colons, as Postfix prints them. Pins replace the CA and names.
  std::vector<std::string> fingerprints;
  bool operator==(const DeliveryTls&) const = default;
};

// One allow- or block-list entry, normalised: kind is sender | senderDomain | ip |
// recipient | recipientDomain; value is an address, domain or canonical IP range.
struct ListEntry {
  std::string kind;
  std::string value;
  bool operator==(const ListEntry&) const = default;
};

struct Lists {
  std::vector<ListEntry> allow;
  std::vector<ListEntry> block;
  std::vector<ListEntry> outbound_block;
  std::vector<std::string> recipient_allow;  // local parts
  std::vector<std::string> recipient_block;
};

// The quarantine digest each user gets (spam_report.h composes and schedules it).
struct SpamReportSettings {
  bool enabled = false;
  std::vector<std::string> days;   // mon..sun
  std::vector<std::string> times;  // HH:MM
  std::string time_zone = "UTC";   // a known IANA name
  // Sections the digest shows: spam, infomail, virus, content. Unset: spam and infomail
  // (the panel's default; virus and content are ticked to show).
  std::vector<std::string> categories = {"spam", "infomail"};
  // Whether the spam / infomail sections tell the user how to have a sender allow-listed.
  bool whitelist_spam = false;
  bool whitelist_infomail = false;
  // A branded template (report_template.h): its name and HTML; "" and "": the plain
  // text report.
  std::string template_name;
  std::string template_html;
};

struct ContinuityPolicy {
  bool enabled = false;
  int64_t retention_days = 30;
  bool all_users = true;             // scope: all
  std::vector<std::string> members;  // scope: selected; normalised addresses
};

// What a mailbox user may do with their own held mail of one verdict.
enum class QuarantineRight { kNone, kView, kRequest, kRelease };
const char* QuarantineRightName(QuarantineRight right);

// What the customer's own people do themselves (selfService in the manifest).
struct SelfService {
  // By quarantine reason (spam, infomail, attachment, virus); a reason not listed is
  // kNone. A virus is at most kView: only the partner releases malware.
  std::map<std::string, QuarantineRight> quarantine = {{"spam", QuarantineRight::kRelease},
                                                       {"infomail", QuarantineRight::kRelease},
                                                       {"attachment", QuarantineRight::kRequest},
                                                       {"virus", QuarantineRight::kNone}};
  std::vector<std::string> release_requests_to;  // told of a user's release request
  bool personal_lists = true;
  bool digest_actions = true;

  QuarantineRight RightFor(const std::string& reason) const {
    auto it = quarantine.find(reason);
    return it == quarantine.end() ? QuarantineRight::kNone : it->second;
  }
};

struct CustomerConfig {
  std::string product;
  std::vector<std::string> domains;       // normalised; the primary first
  std::vector<Destination> destinations;  // lowest preference first; equal ones as written
  // Addresses the destination accepts (250 to a probe) become users; unknown ones are
  // probed rather than refused.
  bool address_discovery = false;
  bool filtering_enabled = true;
  std::string filtering_level = "premium";  // standard | premium (spam thresholds)
  bool infomail = false;                    // newsletters filtered as spam
  std::string virus_action = "quarantine";  // quarantine | reject: what ClamAV finds
  uint64_t max_message_size_bytes = 0;      // 0: none set; the gateway's own limit applies
  // Attachment rules (content_scan.h reads them).
  std::vector<std::string> forbidden_attachments;  // categories and ".ext" extensions
  bool forbid_encrypted_attachments = false;
  std::string attachment_action = "cut-and-inform";  // cut-and-inform | reject | quarantine
  RelayPolicy relay;
  DeliveryTls delivery_tls;
  Lists lists;
  SpamReportSettings spam_report;
  SelfService self_service;
  ContinuityPolicy continuity;
  bool archiving_enabled = false;
  int64_t archive_retention_days = 0;  // 0: kept without limit
  bool archive_inbound = true;         // mail to the customer's users
  bool archive_outbound = true;        // mail its servers relay
};

// The published sending ranges of a named relay service ("office365", "google"), from
// schemas/relay-services.json, plus any added by ExtendRelayServiceRanges; null for an
// unknown name.
const std::vector<IpRange>* RelayServiceRanges(std::string_view service);

// Treats `range` as one of `service`'s (gatewayd --relay-service-range: tests and labs
// stand a loopback address in for a provider). Call before any customer is compiled;
// not thread-safe.
void ExtendRelayServiceRanges(std::string_view service, const IpRange& range);

// The typed values as JSON (sizes as integers, ranges in canonical text), for the
// store and for people inspecting it.
nlohmann::json ToJson(const CustomerConfig& config);

}  // namespace gw
