// SMTP (RFC 5321) as gatewayd speaks it: SendMail hands a message it holds (released
// from the quarantine, a spam report, kept continuity mail) to the gateway's own Postfix,
// one per connection, no authentication, no TLS: for a listener on loopback that trusts
// its client (postfix-config's --release-smtp), whose deliveries then follow Postfix's
// TLS policy. ProbeMail asks a customer's server directly, over STARTTLS when offered.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/endpoint.h"
#include "gateway/network_policy.h"
#include "gateway/status.h"

namespace gw {

// Sends `message` (headers, blank line, body; LF or CRLF line ends) from `sender` ("" for
// the null sender) to `recipients`. OK once the server accepted it for delivery (250
// after the data). A refusal is kFailedPrecondition (5xx) or kUnavailable (4xx, or the
// server unreachable, or no answer within `timeout` for any one step), with the reply.
// `helo`: the name gatewayd greets with (the listener's policy may route by it).
Status SendMail(const Endpoint& server, const std::string& sender,
                const std::vector<std::string>& recipients, std::string_view message,
                std::chrono::milliseconds timeout = std::chrono::seconds(60),
                const std::string& helo = "gatewayd");

// Asks `server` whether it takes mail for `recipient` now, without sending any: greeting,
// EHLO, STARTTLS when offered (opportunistic: the certificate is not checked), MAIL
// FROM:<>, RCPT TO, QUIT. OK for a 250; otherwise as SendMail (kUnavailable for a
// temporary refusal or no answer, kFailedPrecondition for a 5xx). With `networks`, a
// server whose name resolves to an address they refuse is not contacted
// (kPermissionDenied). With `require_tls`, a server that does not offer STARTTLS is
// kUnavailable: mail could not reach it.
Status ProbeMail(const Endpoint& server, const std::string& recipient,
                 std::chrono::milliseconds timeout, const DestinationNetworks* networks = nullptr,
                 bool require_tls = false);

}  // namespace gw
