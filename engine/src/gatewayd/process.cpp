#include "gatewayd/process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace gatewayd {

void Log(const std::string& message) {
  std::fprintf(stderr, "gatewayd: %s\n", message.c_str());
}

void NotifySystemd(const std::string& state) {
  // sd_notify(3)'s protocol: one datagram to the socket systemd names; '@' is abstract.
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (socket_path == nullptr || socket_path[0] == '\0') return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  size_t length = std::strlen(socket_path);
  if (length >= sizeof(address.sun_path)) return;
  std::memcpy(address.sun_path, socket_path, length);
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length));
  ::close(fd);
}

gw::Result<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  std::string key;
  if (!in || !std::getline(in, key) || key.empty()) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("--doveadm-key-file {}: no key on its first line", path));
  }
  return key;
}

gw::Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return gw::Status(gw::StatusCode::kUnavailable, "cannot read " + path);
  return std::string{std::istreambuf_iterator<char>(in), {}};
}

std::string DefaultReplicaName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return fmt::format("{}/{}", host, getpid());
}

bool ReplicaGone(const std::string& replica) {
  std::string prefix = DefaultReplicaName();
  prefix.erase(prefix.rfind('/') + 1);
  if (replica.rfind(prefix, 0) != 0) return false;
  std::string pid = replica.substr(prefix.size());
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9)
    return false;
  return kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH;
}

}  // namespace gatewayd
