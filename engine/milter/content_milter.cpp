#include "content_milter.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "gateway/domain_name.h"

namespace gw {

namespace {

// An SMTP reply's text: printable ASCII, no '%' (libmilter's format character), bounded.
std::string ReplyText(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 400)) {
    auto byte = static_cast<unsigned char>(c);
    out.push_back(byte < 0x20 || byte >= 0x7f || c == '%' ? '?' : c);
  }
  return out;
}

// Every value of the top-level header `name`, unfolded and trimmed, in order.
std::vector<std::string> HeaderValues(std::string_view message, std::string_view name) {
  std::string wanted = AsciiLower(name) + ":";
  std::vector<std::string> values;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the end of the headers
    if (AsciiLower(line.substr(0, wanted.size())) == wanted) {
      std::string value(line.substr(wanted.size()));
      // Continuation lines belong to it.
      for (size_t next = end + 1;
           next < message.size() && (message[next] == ' ' || message[next] == '\t');) {
        size_t next_end = message.find('\n', next);
        if (next_end == std::string_view::npos) next_end = message.size();
        std::string_view more = message.substr(next, next_end - next);
        if (!more.empty() && more.back() == '\r') more.remove_suffix(1);
        value += std::string(more);
        next = next_end + 1;
      }
      size_t first = value.find_first_not_of(" \t");
      size_t last = value.find_last_not_of(" \t");
      values.push_back(first == std::string::npos ? "" : value.substr(first, last - first + 1));
    }
    pos = end + 1;
  }
  return values;
}

std::optional<std::string> HeaderValue(std::string_view message, std::string_view name) {
  auto values = HeaderValues(message, name);
  if (values.empty()) return std::nullopt;
  return std::move(values.front());
}

// Why a message is a newsletter ("infomail"), if it is one: bulk mail says so in its
// headers (RFC 2369 List-Unsubscribe, which bulk senders must offer; Precedence: bulk).
// A List-Id alone is a discussion list, not a newsletter.
std::optional<std::string> NewsletterMarker(std::string_view message) {
  if (HeaderValue(message, "List-Unsubscribe")) return "a newsletter (List-Unsubscribe)";
  if (auto precedence = HeaderValue(message, "Precedence");
      precedence && AsciiLower(*precedence) == "bulk") {
    return "a newsletter (Precedence: bulk)";
  }
  return std::nullopt;
}

std::string BodyOf(std::string_view message) {
  size_t lf = message.find("\n\n");
  size_t crlf = message.find("\r\n\r\n");
  std::string_view body;
  if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
    body = message.substr(crlf + 4);
  } else if (lf != std::string_view::npos) {
    body = message.substr(lf + 2);
  }
  std::string out;
  out.reserve(body.size() + body.size() / 40);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) out.push_back('\r');
    out.push_back(body[i]);
  }
  return out;
}

// What the milter cannot find out defers the message: never passed unfiltered.
MilterDecision Tempfail(const std::string& why) {
  MilterDecision decision;
  decision.kind = MilterDecision::Kind::kTempfail;
  decision.reply = "the message cannot be filtered now; try again later";
  decision.log = "tempfail: " + why;
  return decision;
}

}  // namespace

namespace {

MilterDecision DecideUnarchived(const SpamEnvelope& envelope, std::string_view message,
                                const ProfileLookup& lookup, const SpamCheck& spam,
                                const VirusCheck& virus, const ContentLimits& limits) {
  using Kind = MilterDecision::Kind;
  MilterDecision decision;
  if (envelope.recipients.empty()) return decision;
  // The policy service keeps each transaction to one customer: the first recipient's
  // settings are everyone's.
  auto found = lookup(envelope);
  if (!found.ok()) return Tempfail(found.status().message());
  // Every recipient the inbound listener accepted is a customer's: one that is no
  // customer's (an address the policy and this lookup read apart) is never passed
  // unfiltered.
  if (!*found) return Tempfail(envelope.recipients.front() + " is no customer's");
  const FilterProfile& profile = **found;
  decision.customer = profile.customer;
  if (!profile.filtering) {
    decision.log = fmt::format("accept: {} does not filter", profile.customer);
    return decision;
  }

  std::string kept(message);  // what is delivered or quarantined
  auto quarantine = [&](const char* reason, const std::string& why) {
    decision.kind = Kind::kQuarantine;
    decision.reason = reason;
    decision.subject = HeaderValue(kept, "Subject").value_or("").substr(0, 200);
    decision.quarantined = std::move(kept);
    decision.log = fmt::format("quarantine: {}: {}", profile.customer, why);
    return decision;
  };
  if (virus) {
    auto scanned = virus(message);
    if (!scanned.ok()) return Tempfail(scanned.status().message());
    if (scanned->infected) {
      if (!profile.reject_viruses) return quarantine("virus", "virus " + scanned->name);
      decision.kind = Kind::kReject;
      decision.reply = ReplyText("message refused by the recipient's policy: it carries malware (" +
                                 scanned->name + ")");
      decision.log = fmt::format("reject: {}: virus {}", profile.customer, scanned->name);
      return decision;
    }
  }
  if (profile.content.any()) {
    bool cut = profile.content.action == AttachmentAction::kCutAndInform;
    ContentVerdict verdict = ScanMessage(message, profile.content, cut, limits);
    if (!verdict.findings.empty()) {
      std::string what = DescribeFindings(verdict.findings);
      if (profile.content.action == AttachmentAction::kQuarantine) {
        return quarantine("attachment", what);
      }
      if (!cut || verdict.rewritten.empty()) {
        // Refused: the action says so, or the message could not be cut (then refusing is
        // the only way not to deliver what is forbidden).
        decision.kind = Kind::kReject;
        decision.reply =
            ReplyText("message refused by the recipient's policy: forbidden attachment: " + what);
        decision.log = fmt::format("reject: {}: {}", profile.customer, what);
        return decision;
      }
      decision.kind = Kind::kRewrite;
      decision.body = BodyOf(verdict.rewritten);
      for (const char* name : {"MIME-Version", "Content-Type", "Content-Transfer-Encoding"}) {
        auto before = HeaderValue(message, name);
        auto after = HeaderValue(verdict.rewritten, name);
        if (before != after) decision.headers.emplace_back(name, after);
      }
      decision.removed = ReplyText(what);
      decision.log = fmt::format("cut: {}: {}", profile.customer, what);
      kept = std::move(verdict.rewritten);
      decision.rewritten = kept;
    }
  }

  if (profile.skip_spam) {
    if (decision.log.empty())
      decision.log = fmt::format("accept: {}: allow-listed, not scored", profile.customer);
    return decision;
  }
  auto scored = spam(kept, profile, envelope);
  if (!scored.ok()) return Tempfail(scored.status().message());
  std::string score =
      fmt::format("score {:.1f} ({}) {}", scored->score, scored->action, scored->symbols);
  if (scored->spam) return quarantine("spam", "spam, " + score);
  if (profile.infomail) {
    if (auto marker = NewsletterMarker(kept)) return quarantine("infomail", *marker);
  }
  decision.log = decision.log.empty() ? fmt::format("accept: {}: {}", profile.customer, score)
                                      : decision.log + "; " + score;
  return decision;
}

bool Delivered(const MilterDecision& decision) {
  return decision.kind == MilterDecision::Kind::kAccept ||
         decision.kind == MilterDecision::Kind::kRewrite;
}

// The decision, and the archive that keeps what it delivers (`direction` of the
// profile's customer, when its archiving covers it).
MilterDecision DecideFor(const SpamEnvelope& envelope, std::string_view message,
                         const ProfileLookup& lookup, const SpamCheck& spam,
                         const VirusCheck& virus, const ContentLimits& limits,
                         const char* direction) {
  std::optional<FilterProfile> seen;
  ProfileLookup remembered = [&](const SpamEnvelope& e) {
    auto found = lookup(e);
    if (found.ok() && *found) seen = **found;
    return found;
  };
  MilterDecision decision = DecideUnarchived(envelope, message, remembered, spam, virus, limits);
  if (seen && seen->archive && Delivered(decision))
    decision.archive.push_back({seen->customer, direction});
  return decision;
}

}  // namespace

MilterDecision DecideMessage(const SpamEnvelope& envelope, std::string_view message,
                             const ProfileLookup& lookup, const SpamCheck& spam,
                             const VirusCheck& virus, const ContentLimits& limits) {
  return DecideFor(envelope, message, lookup, spam, virus, limits, "inbound");
}

namespace {

// Why the message does not prove it comes from the customer's tenant; empty when it does.
std::string MissingTenantProof(const TenantProof& proof, std::string_view message,
                               const std::vector<std::string>& dkim_domains) {
  if (proof.service == "office365") {
    auto stamped = HeaderValues(message, "X-MS-Exchange-CrossTenant-Id");
    if (stamped.empty()) return "it carries no X-MS-Exchange-CrossTenant-Id header";
    for (const auto& tenant : stamped) {
      if (AsciiLower(tenant) != proof.tenant_id) {
        return fmt::format("X-MS-Exchange-CrossTenant-Id names tenant '{}'",
                           ReplyText(tenant.substr(0, 64)));
      }
    }
    return "";
  }
  if (proof.service == "google") {
    for (const auto& signer : dkim_domains) {
      for (const auto& domain : proof.dkim_domains) {
        if (IsSameOrSubdomain(signer, domain)) return "";
      }
    }
    return dkim_domains.empty()
               ? "it has no valid DKIM signature"
               : fmt::format("no valid DKIM signature is of the customer's domains (signed by {})",
                             ReplyText(dkim_domains.front()));
  }
  return "";
}

}  // namespace

MilterDecision DecideRelayedMessage(const SpamEnvelope& envelope, std::string_view message,
                                    const RelayLookup& lookup, const SpamCheck& spam,
                                    const VirusCheck& virus, const ContentLimits& limits) {
  using Kind = MilterDecision::Kind;
  MilterDecision decision;
  if (envelope.recipients.empty()) return decision;
  auto found = lookup(envelope);
  if (!found.ok()) return Tempfail(found.status().message());
  if (!*found) return Tempfail("no customer relays from " + envelope.sender);
  FilterProfile sender = std::move((*found)->sender);
  sender.skip_spam = false;
  // One scoring per text and level: the proof's and the filters' are usually the same.
  struct Scored {
    std::string text, level;
    SpamVerdict verdict;
  };
  std::optional<Scored> scored;
  SpamCheck score_once = [&](std::string_view text, const FilterProfile& profile,
                             const SpamEnvelope& env) -> Result<SpamVerdict> {
    if (!scored || scored->text != text || scored->level != profile.level) {
      auto verdict = spam(text, profile, env);
      if (!verdict.ok()) return verdict.status();
      scored = Scored{std::string(text), profile.level, std::move(*verdict)};
    }
    return scored->verdict;
  };

  // One scan per text, likewise.
  std::optional<std::pair<std::string, VirusVerdict>> scanned;
  VirusCheck scan_once;
  if (virus) {
    scan_once = [&](std::string_view text) -> Result<VirusVerdict> {
      if (!scanned || scanned->first != text) {
        auto verdict = virus(text);
        if (!verdict.ok()) return verdict.status();
        scanned.emplace(std::string(text), std::move(*verdict));
      }
      return scanned->second;
    };
  }

  if (!sender.proof.service.empty()) {
    std::vector<std::string> dkim;
    if (sender.proof.service == "google") {
      auto verdict = score_once(message, sender, envelope);
      if (!verdict.ok()) return Tempfail(verdict.status().message());
      dkim = verdict->dkim_domains;
    }
    std::string missing = MissingTenantProof(sender.proof, message, dkim);
    if (!missing.empty()) {
      decision.kind = Kind::kReject;
      decision.customer = sender.customer;
      decision.reply = ReplyText(fmt::format(
          "relay refused: the message does not show it comes from the sending customer's {} "
          "tenant",
          sender.proof.service));
      decision.log = fmt::format("reject: relay for {}: not its {} tenant: {}", sender.customer,
                                 sender.proof.service, missing);
      return decision;
    }
  }

  auto as = [](FilterProfile profile) -> ProfileLookup {
    return [profile = std::move(profile)](const SpamEnvelope&) {
      return Result<std::optional<FilterProfile>>(std::optional<FilterProfile>(profile));
    };
  };
  MilterDecision outbound =
      DecideFor(envelope, message, as(sender), score_once, scan_once, limits, "outbound");
  outbound.log = "outbound " + outbound.log;
  if (!(*found)->recipient || !Delivered(outbound)) return outbound;
  std::string_view left = outbound.kind == Kind::kRewrite ? outbound.rewritten : message;
  MilterDecision inbound =
      DecideFor(envelope, left, as(*(*found)->recipient), score_once, scan_once, limits, "inbound");
  inbound.log = outbound.log + "; then inbound " + inbound.log;
  // Delivered to a customer of the gateway: in the sender's archive and the recipient's.
  if (Delivered(inbound))
    inbound.archive.insert(inbound.archive.begin(), outbound.archive.begin(),
                           outbound.archive.end());
  if (outbound.kind != Kind::kRewrite) return inbound;
  if (inbound.kind == Kind::kAccept) {
    outbound.log = inbound.log;
    outbound.archive = inbound.archive;
    return outbound;
  }
  if (inbound.kind == Kind::kRewrite) {
    // Cut twice: the second cut's body, and every header either changed.
    for (auto& header : outbound.headers) {
      bool changed_again =
          std::any_of(inbound.headers.begin(), inbound.headers.end(),
                      [&](const auto& other) { return other.first == header.first; });
      if (!changed_again) inbound.headers.push_back(std::move(header));
    }
    inbound.removed = outbound.removed + "; " + inbound.removed;
  }
  return inbound;
}

}  // namespace gw
