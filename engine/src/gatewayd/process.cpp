#include "gatewayd/process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

namespace gatewayd {

void Log(const std::string& message) {
  std::fprintf(stderr, "gatewayd: %s\n", message.c_str());
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
