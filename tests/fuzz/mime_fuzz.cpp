// Mail as anyone can send it, through the content scanner with every rule on, scanning
// and cutting: it must never crash or leak, and a message that is cut must still be a
// message carrying the notice of what was removed. Then through gw-milter's decision on
// relayed mail (the tenant stamps read from its headers, both customers' rules): a
// message without the tenant's stamp in every X-MS-Exchange-CrossTenant-Id is never
// passed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "content_milter.h"
#include "gateway/content_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gw::ContentRules rules = [] {
    gw::ContentRules r;
    r.forbidden = {"executable", "docmacro", "xlsmacro", "pptmacro",
                   "mediafile",  "archive",  ".iso"};
    r.forbid_encrypted = true;
    return r;
  }();
  gw::ContentLimits limits;
  limits.max_entry_bytes = 4u << 20;  // keeps each run fast
  limits.max_expanded_bytes = 16u << 20;
  std::string message(reinterpret_cast<const char*>(data), size);
  gw::ContentVerdict verdict = gw::ScanMessage(message, rules, /*cut=*/true, limits);
  if (!verdict.rewritten.empty()) {
    if (verdict.findings.empty()) std::abort();  // nothing to cut, yet rewritten
    if (verdict.rewritten.find("removed attachments from this message") == std::string::npos)
      std::abort();
  }
  gw::SpamEnvelope envelope;
  envelope.sender = "ceo@acme.example";
  envelope.recipients = {"user@globex.example"};
  gw::RelayFilter filter;
  filter.sender.customer = "northwind/acme";
  filter.sender.content = rules;
  filter.sender.proof = {"office365", "3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d", {}};
  filter.recipient = filter.sender;
  filter.recipient->customer = "northwind/globex";
  filter.recipient->content.action = gw::AttachmentAction::kCutAndInform;
  gw::MilterDecision decision = gw::DecideRelayedMessage(
      envelope, message,
      [&](const gw::SpamEnvelope&) {
        return gw::Result<std::optional<gw::RelayFilter>>(std::optional(filter));
      },
      [](std::string_view, const gw::FilterProfile&, const gw::SpamEnvelope&) {
        return gw::Result<gw::SpamVerdict>(gw::SpamVerdict{});
      },
      {}, limits);
  bool stamped = message.find("3f2b8c1e-7d4a-4e6b-9c2d-5a1e8f0b7c3d") != std::string::npos ||
                 message.find("3F2B8C1E") != std::string::npos;
  if (!stamped && decision.kind != gw::MilterDecision::Kind::kReject) std::abort();
  return 0;
}
