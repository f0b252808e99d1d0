#include "gateway/quantity.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>

namespace gw {

Result<uint64_t> ParseSize(std::string_view text) {
  static const std::pair<std::string_view, double> kUnits[] = {
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"KB", 1e3}, {"MB", 1e6},
      {"GB", 1e9},     {"B", 1.0}};
  for (const auto& [unit, factor] : kUnits) {
    if (text.size() <= unit.size() || text.substr(text.size() - unit.size()) != unit) continue;
    std::string number(text.substr(0, text.size() - unit.size()));
    if (!number.empty() && number.back() == ' ') number.pop_back();
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !std::isfinite(value) || value < 0 ||
        value * factor > 1e18)
      break;
    return static_cast<uint64_t>(std::llround(value * factor));
  }
  return Status(StatusCode::kInvalidArgument,
                fmt::format("'{}' is not a size with a unit (B, KB, KiB, MB, MiB, GB, GiB)", text));
}

Result<int64_t> ParseDays(std::string_view text) {
  int64_t days = 0;
  if (text.size() >= 2 && text.back() == 'd') {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, days);
    if (ec == std::errc() && end == text.data() + text.size() - 1) return days;
  }
  return Status(StatusCode::kInvalidArgument,
                fmt::format("'{}' is not a number of days such as 90d", text));
}

Result<int64_t> ParseDurationMs(std::string_view text) {
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (digits > 0 && ec == std::errc() && end == text.data() + digits) {
    for (const auto& [unit, factor] : kUnits) {
      if (text.substr(digits) == unit && value <= INT64_MAX / factor) return value * factor;
    }
  }
  return Status(StatusCode::kInvalidArgument,
                fmt::format("'{}' is not a duration such as 500ms, 30s, 5m or 1h", text));
}

}  // namespace gw
