// Text for server-rendered HTML (the quarantine page, gwctl run's status page).
#pragma once

#include <string>
#include <string_view>

namespace gw {

// `text` safe inside HTML text and quoted attribute values: & < > " ' escaped.
std::string EscapeHtml(std::string_view text);

}  // namespace gw
