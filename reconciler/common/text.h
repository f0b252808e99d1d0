// Small string helpers shared by the manifest rules and the CLI.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gwctl {

// `text` without leading and trailing spaces and tabs.
inline std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

// "a, b,,c" -> {"a", "b", "c"}: pieces trimmed, empty ones dropped.
inline std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    std::string part = Trim(text.substr(start, end - start));
    if (!part.empty()) parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

// A yes/no field as people write it in spreadsheets and directories: yes/no, true/false,
// 1/0 (any case); empty is no. Anything else is nullopt.
inline std::optional<bool> ParseYesNo(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower.empty() || lower == "no" || lower == "false" || lower == "0") return false;
  if (lower == "yes" || lower == "true" || lower == "1") return true;
  return std::nullopt;
}

}  // namespace gwctl
