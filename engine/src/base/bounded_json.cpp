#include "gateway/bounded_json.h"

#include <fmt/format.h>

namespace gw {

size_t FindJsonTooDeep(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // whatever is escaped cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > max_depth) return i;
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

Result<nlohmann::json> ParseBoundedJson(std::string_view text, int max_depth) {
  if (size_t at = FindJsonTooDeep(text, max_depth); at != std::string_view::npos) {
    return Status(StatusCode::kMalformed,
                  fmt::format("the JSON nests deeper than {} levels (at byte {})", max_depth, at));
  }
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status(StatusCode::kMalformed, "the body is not valid JSON");
  return parsed;
}

}  // namespace gw
