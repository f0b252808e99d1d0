// What gw-milter does with one message, apart from libmilter (milter_main.cpp carries it
// over the milter protocol): find the customer's filter settings by recipient, apply the
// attachment rules, score spam, and decide. Pure but for `lookup` and `spam`, so it is
// tested without Postfix or rspamd.
//
// Order (inbound): no customer -> deferred (451); filtering off -> accept untouched. Malware
// (ClamAV) -> quarantined or refused per the customer's virusAction, whoever the sender.
// Attachment rules -> refuse, cut, or quarantine. Then, unless the allow list exempts the sender,
// spam scoring: spam is quarantined (never refused: a user can release a false positive). With the
// infomail filter on, a newsletter that is not spam is quarantined as infomail. Anything the milter
// cannot find out (gatewayd or rspamd unreachable) defers the message (451): mail is never passed
// unfiltered.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clamd_client.h"
#include "gateway/content_scan.h"
#include "gateway/filter_profile.h"
#include "gateway/status.h"
#include "rspamd_client.h"

namespace gw {

struct MilterDecision {
  enum class Kind { kAccept, kReject, kTempfail, kRewrite, kQuarantine };
  Kind kind = Kind::kAccept;
  std::string reply;  // kReject, kTempfail: the text after the SMTP codes
  // kRewrite: the new body (CRLF line ends) and the top-level headers to set (nullopt:
  // delete), e.g. Content-Type when the message became multipart/mixed.
  std::string body;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::string rewritten;  // kRewrite: the whole new message
  std::string removed;    // kRewrite: what was removed, for an X-GW-Removed header
  // kQuarantine: whose quarantine, why (spam, infomail, attachment), and the whole message
  // to keep (cut first, when the attachment rules cut it).
  std::string customer;
  std::string reason;
  std::string quarantined;
  std::string subject;  // the kept message's, for the quarantine's listing
  std::string log;      // one line for the log
  // kAccept, kRewrite: the archives that keep the message as delivered, each a customer
  // ("partner/name") and the direction (inbound | outbound) its archiving covers.
  struct ArchiveCopy {
    std::string customer, direction;
    bool operator==(const ArchiveCopy&) const = default;
  };
  std::vector<ArchiveCopy> archive;
};

// The filter settings for mail from the envelope's sender and client to its first
// recipient; nullopt when the recipient is no customer's (nothing to filter).
using ProfileLookup = std::function<Result<std::optional<FilterProfile>>(const SpamEnvelope&)>;
using SpamCheck = std::function<Result<SpamVerdict>(
    std::string_view message, const FilterProfile& profile, const SpamEnvelope& envelope)>;
// Malware scanning of the whole message; empty: the gateway runs without antivirus
// (gw-milter --no-antivirus), and nothing is scanned.
using VirusCheck = std::function<Result<VirusVerdict>(std::string_view message)>;

// `message` is the whole message as received (headers, blank line, body). A message
// delivered (accepted or cut) for a customer whose profile archives is to be archived
// (MilterDecision::archive).
MilterDecision DecideMessage(const SpamEnvelope& envelope, std::string_view message,
                             const ProfileLookup& lookup, const SpamCheck& spam,
                             const VirusCheck& virus, const ContentLimits& limits = {});

// The relay listener's settings for the envelope; nullopt when no customer relays it.
using RelayLookup = std::function<Result<std::optional<RelayFilter>>(const SpamEnvelope&)>;

// Mail a customer's server relays. First the tenant proof of a shared service's relay
// (TenantProof): office365, at least one X-MS-Exchange-CrossTenant-Id header and every
// one naming the tenant (a sender's own copy then cannot stand in for Exchange Online's
// stamp); google, a valid DKIM signature of one of the customer's domains. Without it
// the message is refused. Then the sender's own settings, spam scored whatever its
// allow list says (outbound spam is held in the sender's quarantine, never relayed),
// and, for mail to another customer of the gateway, that customer's settings on what is
// left, as for inbound mail.
MilterDecision DecideRelayedMessage(const SpamEnvelope& envelope, std::string_view message,
                                    const RelayLookup& lookup, const SpamCheck& spam,
                                    const VirusCheck& virus, const ContentLimits& limits = {});

}  // namespace gw
