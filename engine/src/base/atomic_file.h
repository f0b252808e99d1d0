// Writing a configuration file whole or not at all: into a fresh temporary beside it,
// then renamed over it, so a reader (Postfix, Dovecot) never sees half of one. The
// temporary is made by this call alone (O_EXCL, no symbolic link followed) with its final
// mode from the start, so no one else can open it, plant it, or read it in between.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include <fmt/format.h>

#include "gateway/status.h"

namespace gw {

inline Status WriteFileAtomically(const std::filesystem::path& path, const std::string& text,
                                  mode_t mode = 0644) {
  std::random_device random;
  std::filesystem::path temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temporary = fmt::format("{}.{:08x}.tmp", path.string(), random());
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  auto failed = [&](const std::string& what) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot write {}: {}: {}", path.string(), what, why));
  };
  if (fd < 0) return failed("create a temporary");
  // The mode is what was asked, whatever the umask.
  if (::fchmod(fd, mode) != 0) return failed("chmod");
  for (size_t written = 0; written < text.size();) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("write");
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return failed("fsync");
  if (::close(fd) != 0) {
    fd = -1;
    return failed("close");
  }
  fd = -1;
  if (::rename(temporary.c_str(), path.c_str()) != 0) return failed("rename");
  return Status::Ok();
}

}  // namespace gw
