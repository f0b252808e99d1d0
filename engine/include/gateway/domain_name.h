// Domain names and email addresses as the gateway compares them: lowercase, with
// international names in their IDNA A-label form (bücher.example -> xn--bcher-kva.example).
#pragma once

#include <string>
#include <string_view>

#include "gateway/status.h"

namespace gw {

// The normalised form of a mail domain, or kInvalidArgument with a message that says
// what is wrong. A domain needs at least two labels; one trailing dot is accepted.
gw::Result<std::string> NormalizeDomain(std::string_view text);

// `text` with ASCII letters lower-cased (how the mail path compares addresses and domains).
std::string AsciiLower(std::string_view text);

// True when `child` equals `parent` or lies below it (both normalised).
bool IsSameOrSubdomain(std::string_view child, std::string_view parent);

struct EmailAddress {
  std::string local;   // lowercased (the gateway treats local parts case-insensitively)
  std::string domain;  // normalised as by NormalizeDomain

  std::string ToString() const { return local + "@" + domain; }
};

// Parses and normalises local@domain.
gw::Result<EmailAddress> ParseEmailAddress(std::string_view text);

}  // namespace gw
