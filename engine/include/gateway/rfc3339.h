// Times as text: RFC 3339 in UTC with milliseconds ("2026-11-23T13:00:00.000Z"), the form
// the store keeps (so stored times compare as text), the admin API returns and gwctl logs.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace gw {

std::string FormatRfc3339(std::chrono::system_clock::time_point at);
// Any RFC 3339 time (a fraction and an offset are optional parts); nullopt when `text`
// is not one.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text);

}  // namespace gw
