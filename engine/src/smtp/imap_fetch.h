// One message read byte for byte from a continuity mailbox over IMAP, for what
// doveadm's JSON API cannot carry unchanged (bytes that are not UTF-8).
//
// Contract: logs in to Dovecot with its master login (SASL PLAIN: authentication
// identity `master`, authorization identity `user`, so no user's own password is
// needed), opens INBOX read-only (EXAMINE: no flag changes, \Seen included) and
// returns the message with UID `uid` exactly as stored. kNotFound when there is no
// such message; kUnavailable for an unreachable server, a refused login or anything
// else, naming the step but never the password. Every step is bounded by `timeout`.
#pragma once

#include <chrono>
#include <string>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

Result<std::string> FetchOverImap(const Endpoint& server, const std::string& user,
                                  const std::string& master, const std::string& password,
                                  const std::string& uid, std::chrono::milliseconds timeout);

}  // namespace gw
