// Mail as anyone can send it, through the content scanner with every rule on, scanning
// and cutting: it must never crash or leak, and a message that is cut must still be a
// message carrying the notice of what was removed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

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
  return 0;
}
