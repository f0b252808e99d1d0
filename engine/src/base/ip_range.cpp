#include "gateway/ip_range.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <tuple>

#include <fmt/format.h>

namespace gw {

namespace {

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  for (int i = 0; i < bits / 8; ++i) {
    if (a[i] != b[i]) return false;
  }
  if (bits % 8 == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - bits % 8));
  return (a[bits / 8] & mask) == (b[bits / 8] & mask);
}

}  // namespace

Result<IpRange> IpRange::Parse(std::string_view text) {
  auto invalid = [&](std::string why) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("'{}' is not an IP address or CIDR block{}", text, why));
  };
  std::string address(text.substr(0, text.find('/')));
  IpRange range;
  range.v6_ = address.find(':') != std::string::npos;
  if (inet_pton(range.v6_ ? AF_INET6 : AF_INET, address.c_str(), range.bytes_.data()) != 1)
    return invalid("");
  int max_prefix = range.v6_ ? 128 : 32;
  range.prefix_ = max_prefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), range.prefix_);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
        range.prefix_ < 0 || range.prefix_ > max_prefix) {
      return invalid(fmt::format(" (the prefix length must be 0-{})", max_prefix));
    }
    IpRange network = range;
    for (int bit = range.prefix_; bit < max_prefix; ++bit) {
      network.bytes_[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    }
    if (network.bytes_ != range.bytes_) {
      return Status(
          StatusCode::kInvalidArgument,
          fmt::format("'{}' has host bits set; the block is {}", text, network.ToString()));
    }
  }
  return range;
}

bool IpRange::Overlaps(const IpRange& other) const {
  if (v6_ != other.v6_) return false;
  return PrefixMatches(bytes_, other.bytes_, std::min(prefix_, other.prefix_));
}

bool IpRange::Contains(const IpRange& other) const {
  return v6_ == other.v6_ && prefix_ <= other.prefix_ &&
         PrefixMatches(bytes_, other.bytes_, prefix_);
}

bool IpRange::IsPrivate() const {
  static const char* const kPrivate[] = {"10.0.0.0/8",    "172.16.0.0/12", "192.168.0.0/16",
                                         "100.64.0.0/10", "127.0.0.0/8",   "169.254.0.0/16",
                                         "fc00::/7",      "fe80::/10",     "::1/128"};
  for (const char* block : kPrivate) {
    auto parsed = Parse(block);
    if (parsed->Overlaps(*this)) return true;
  }
  return false;
}

IpRange IpRange::Truncated(int prefix) const {
  IpRange block = *this;
  block.prefix_ = std::clamp(prefix, 0, prefix_);
  for (int bit = block.prefix_; bit < prefix_; ++bit) {
    block.bytes_[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return block;
}

namespace {

std::string Hex(const std::array<uint8_t, 16>& bytes, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

}  // namespace

std::string IpRange::FirstHex() const {
  return Hex(bytes_, v6_ ? 16 : 4);
}

std::string IpRange::LastHex() const {
  std::array<uint8_t, 16> last = bytes_;
  int max_prefix = v6_ ? 128 : 32;
  for (int bit = prefix_; bit < max_prefix; ++bit) {
    last[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  }
  return Hex(last, v6_ ? 16 : 4);
}

std::string IpRange::ToString() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buffer, sizeof buffer);
  int max_prefix = v6_ ? 128 : 32;
  return prefix_ == max_prefix ? std::string(buffer) : fmt::format("{}/{}", buffer, prefix_);
}

}  // namespace gw
