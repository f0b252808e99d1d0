// Writing a configuration file whole or not at all: into a temporary beside it, then
// renamed over it, so a reader (Postfix, Dovecot) never sees half of one.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "gateway/status.h"

namespace gw {

inline Status WriteFileAtomically(const std::filesystem::path& path, const std::string& text,
                                  mode_t mode = 0644) {
  std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (out) ::chmod(temporary.c_str(), mode);
    out << text;
    if (!out.flush()) {
      return Status(StatusCode::kUnavailable, fmt::format("cannot write {}", temporary.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot write {}: {}", path.string(), ec.message()));
  }
  return Status::Ok();
}

}  // namespace gw
