// Time zone names for spam report schedules.
#pragma once

#include <string_view>

namespace gw {

// True when `name` is an IANA time zone known to this machine's tz database
// (/usr/share/zoneinfo, read through Howard Hinnant's date library), such as
// "Europe/London" or "UTC".
bool IsKnownTimeZone(std::string_view name);

}  // namespace gw
