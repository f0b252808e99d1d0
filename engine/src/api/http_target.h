// The request target of an HTTP request, read the way HttpServer routes it: the path
// as percent-decoded segments and the query as decoded name/value pairs. Private to the
// engine; exposed here for its fuzz target.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/status.h"

namespace gw {

// "/a/b%2Fc" -> {"a", "b/c"}: split on '/', then decoded, so an encoded slash stays in its
// segment. kMalformed for an invalid %-escape, a "." or ".." segment, a control character
// (NUL included) or invalid UTF-8.
Result<std::vector<std::string>> DecodePath(std::string_view path);

// The raw, undecoded segments of `path` (a leading '/' is dropped).
std::vector<std::string_view> SplitPath(std::string_view path);

// "a=1&b=x+y%21" -> {a: "1", b: "x y!"}; nullopt for an invalid %-escape.
std::optional<std::multimap<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace gw
