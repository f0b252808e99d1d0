// Parsing JSON that comes from outside the process (request bodies, answers from a
// gateway). nlohmann's parser, its destructor, the schema validator and the model
// readers all recurse once per nesting level, so a 1 MB body of nested objects is
// enough to exhaust a thread's stack. The nesting is measured in one flat pass before
// any of them runs.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/status.h"

namespace gw {

// Deep enough for every document the admin API defines (a customer is 6 levels).
inline constexpr int kMaxJsonDepth = 64;

// Parses `text`, or answers kMalformed: "not valid JSON", or "nests deeper than N levels
// (at byte B)" without building anything.
Result<nlohmann::json> ParseBoundedJson(std::string_view text, int max_depth = kMaxJsonDepth);

// The byte offset where `text` first opens an array or object deeper than `max_depth`,
// or npos. Brackets inside strings do not count; the text need not be valid JSON.
size_t FindJsonTooDeep(std::string_view text, int max_depth);

}  // namespace gw
