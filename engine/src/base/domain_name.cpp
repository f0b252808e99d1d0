#include "gateway/domain_name.h"

#include <idn2.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace gw {

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::string> NormalizeDomain(std::string_view text) {
  std::string input(text);
  if (!input.empty() && input.back() == '.') input.pop_back();
  if (input.empty()) return Status::Invalid("empty domain name");
  bool ascii = std::all_of(input.begin(), input.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::string domain;
  if (ascii) {
    domain = AsciiLower(input);
  } else {
    char* output = nullptr;
    int rc =
        idn2_lookup_u8(reinterpret_cast<const uint8_t*>(input.c_str()),
                       reinterpret_cast<uint8_t**>(&output), IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
      return Status::Invalid(fmt::format("'{}' is not a valid international domain name: {}", text,
                                         idn2_strerror(rc)));
    domain = AsciiLower(output);
    idn2_free(output);
  }
  if (domain.size() > 253)
    return Status::Invalid(fmt::format("'{}' is longer than 253 characters", text));
  size_t labels = 0;
  size_t start = 0;
  std::string_view last_label;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == std::string::npos) end = domain.size();
    std::string_view label(domain.data() + start, end - start);
    if (label.empty()) return Status::Invalid(fmt::format("'{}' has an empty label", text));
    if (label.size() > 63)
      return Status::Invalid(fmt::format("'{}' has a label longer than 63 characters", text));
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return Status::Invalid(
            fmt::format("'{}' contains '{}'; domain names use letters, digits and '-'", text, c));
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Status::Invalid(fmt::format("'{}' has a label starting or ending with '-'", text));
    }
    ++labels;
    last_label = label;
    start = end + 1;
  }
  if (labels < 2)
    return Status::Invalid(fmt::format("'{}' is not a fully qualified domain name", text));
  if (std::all_of(last_label.begin(), last_label.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return Status::Invalid(
        fmt::format("'{}' is not a domain name (the last label is numeric)", text));
  }
  return domain;
}

bool IsSameOrSubdomain(std::string_view child, std::string_view parent) {
  if (child == parent) return true;
  return child.size() > parent.size() && child.substr(child.size() - parent.size()) == parent &&
         child[child.size() - parent.size() - 1] == '.';
}

Result<EmailAddress> ParseEmailAddress(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) {
    return Status::Invalid(fmt::format("'{}' is not an email address (local@domain)", text));
  }
  std::string_view local = text.substr(0, at);
  if (local.size() > 64)
    return Status::Invalid(
        fmt::format("'{}': the part before @ is longer than 64 characters", text));
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return Status::Invalid(
        fmt::format("'{}': the part before @ cannot start or end with '.' or hold '..'", text));
  }
  static constexpr std::string_view kAllowed = "!#$%&'*+-/=?^_`{|}~.";
  for (char c : local) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && kAllowed.find(c) == std::string_view::npos) {
      return Status::Invalid(fmt::format("'{}': '{}' is not allowed before the @", text, c));
    }
  }
  auto domain = NormalizeDomain(text.substr(at + 1));
  if (!domain.ok()) return domain.status();
  return EmailAddress{AsciiLower(local), std::move(domain).value()};
}

}  // namespace gw
