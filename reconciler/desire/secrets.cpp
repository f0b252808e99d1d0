#include "secrets.h"

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace gwctl {

gw::Result<std::string> ResolveSecret(const std::string& reference,
                                      const std::filesystem::path& repository_root) {
  if (reference.rfind("env:", 0) == 0) {
    std::string name = reference.substr(4);
    const char* value = std::getenv(name.c_str());
    if (!value) {
      return gw::Status(
          gw::StatusCode::kNotFound,
          fmt::format("secret {}: the environment variable {} is not set", reference, name));
    }
    return std::string(value);
  }
  if (reference.rfind("file:", 0) == 0) {
    std::filesystem::path path = reference.substr(5);
    if (path.is_relative()) path = repository_root / path;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return gw::Status(gw::StatusCode::kNotFound,
                        fmt::format("secret {}: cannot read {}", reference, path.string()));
    }
    std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!value.empty() && value.back() == '\n') value.pop_back();
    if (!value.empty() && value.back() == '\r') value.pop_back();
    return value;
  }
  return gw::Status(
      gw::StatusCode::kInvalidArgument,
      fmt::format("'{}' is not a secret reference (env:NAME or file:PATH)", reference));
}

}  // namespace gwctl
