// Malware scanning by ClamAV's daemon over its INSTREAM command: the whole message is
// streamed, so clamd's own mail and archive parsers reach every MIME part and every
// archive entry (ScanMail and ScanArchive, on by default).
//
// Why clamd from gw-milter rather than rspamd's antivirus module: an allow-listed sender
// skips rspamd entirely (skip_spam) and must not skip malware scanning; clamd's answer
// names the virus for the SMTP reply and the quarantine; and "clamd cannot answer" is a
// failure the milter turns into a deferral, never a pass.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

struct VirusVerdict {
  bool infected = false;
  std::string name;  // the signature's name, e.g. "Win.Test.EICAR_HDB-1"
};

// kUnavailable when clamd cannot be reached, does not answer within `timeout`, or
// answers with an error (a message over its StreamMaxLength among them).
Result<VirusVerdict> ScanWithClamd(const Endpoint& clamd, std::string_view message,
                                   std::chrono::milliseconds timeout);

// clamd's reply to INSTREAM ("stream: OK", "stream: NAME FOUND", "... ERROR"), read.
Result<VirusVerdict> ParseClamdReply(std::string_view reply);

}  // namespace gw
