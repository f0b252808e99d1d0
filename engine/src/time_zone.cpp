#include "gateway/time_zone.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

namespace gw {

bool IsKnownTimeZone(std::string_view name) {
  // The name becomes a path: allow only the characters zone names use, never "..".
  static const std::regex kZoneName(R"([A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*)");
  std::string zone(name);
  if (!std::regex_match(zone, kZoneName)) return false;
  const char* tzdir = std::getenv("TZDIR");
  std::filesystem::path path =
      std::filesystem::path(tzdir && *tzdir ? tzdir : "/usr/share/zoneinfo") / zone;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "TZif";
}

}  // namespace gw
