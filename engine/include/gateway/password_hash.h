// Continuity passwords: a user's password for their continuity mailbox, kept only as an
// Argon2id hash (libargon2) in the form Dovecot verifies itself ({ARGON2ID}$argon2id$...),
// so the password is never stored and Dovecot never has to send it to gatewayd.
//
// Contract:
// - HashPassword draws a fresh random salt for every call: equal passwords give
//   different hashes. Cost: Argon2id, 19 MiB, 2 passes, 1 lane (OWASP's minimum for
//   Argon2id; one lane because libsodium, which Dovecot verifies with, supports no more).
// - CheckPasswordRules refuses what may not be a password, saying why, never echoing it.
#pragma once

#include <string>
#include <string_view>

#include "gateway/status.h"

namespace gw {

Result<std::string> HashPassword(std::string_view password);
// Whether `password` matches `stored` (a HashPassword result); false for anything else.
bool VerifyPassword(std::string_view password, const std::string& stored);
// At least 10 characters, at most 256 bytes, valid UTF-8, no control characters.
Status CheckPasswordRules(std::string_view password);

}  // namespace gw
