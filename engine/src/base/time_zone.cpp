#include "gateway/time_zone.h"

#include <string>

#include <date/tz.h>

namespace gw {

bool IsKnownTimeZone(std::string_view name) {
  // The same database the spam report schedule reads (the system's, /usr/share/zoneinfo).
  try {
    return date::locate_zone(std::string(name)) != nullptr;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace gw
