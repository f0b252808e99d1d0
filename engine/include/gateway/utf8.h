// UTF-8 validity, as RFC 3629 defines it: no overlong forms, no surrogates, nothing
// past U+10FFFF. Manifests, CSV files and request paths must all pass it.
#pragma once

#include <cstddef>
#include <string_view>

namespace gw {

// The offset of the first byte that does not start a valid UTF-8 sequence, or npos.
size_t FindInvalidUtf8(std::string_view text);

}  // namespace gw
