// Framing helpers the lookup protocols (postfix_protocols.h) share: numbers, netstrings,
// dropping answered requests, and text fit for a log line.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace gw::postfix {

inline std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// The first netstring of `text` ("5:hello,"), taken off its front; nothing when `text`
// does not start with a whole one.
inline std::optional<std::string_view> TakeNetstring(std::string_view& text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto length = ParseNumber(text.substr(0, colon));
  size_t rest = text.size() - colon - 1;
  if (!length || *length >= rest || text[colon + 1 + *length] != ',') return std::nullopt;
  std::string_view value = text.substr(colon + 1, *length);
  text.remove_prefix(colon + 2 + *length);
  return value;
}

// Drops the requests answered from the input (all of it when the connection closes).
inline bool Finish(std::string& input, size_t consumed, bool open) {
  if (open) {
    input.erase(0, consumed);
  } else {
    input.clear();
  }
  return open;
}

inline std::string_view DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(at + 1);
}

// Printable for a log line: control bytes escaped, long text cut.
inline std::string Quote(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 120)) {
    auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte >= 0x7f ? fmt::format("\\x{:02x}", byte) : std::string(1, c);
  }
  return text.size() > 120 ? out + "..." : out;
}

}  // namespace gw::postfix
