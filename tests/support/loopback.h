// Test support: loopback sockets. A port that was free a moment ago (for servers that
// need the number before they bind), whether something listens on a port, and a
// listener that accepts connections (the kernel's backlog does), or a UDP socket that takes
// datagrams, but never answers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "gateway/endpoint.h"

namespace gwtest {

inline sockaddr_in Loopback(int port = 0) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

inline int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = Loopback();
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

inline bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = Loopback(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

// Whether `host` (an IPv4 address) takes TCP connections on `port`.
inline bool CanConnect(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = Loopback(port);
  inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

// A loopback socket that takes connections (SOCK_STREAM, into its backlog) or
// datagrams (SOCK_DGRAM: DNS questions) and never answers.
class SilentListener {
 public:
  explicit SilentListener(int type = SOCK_STREAM) : fd_(socket(AF_INET, type | SOCK_CLOEXEC, 0)) {
    sockaddr_in address = Loopback();
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        (type == SOCK_STREAM && listen(fd_, 8) != 0)) {
      return;
    }
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }  // 0 if it could not listen
  int fd() const { return fd_; }      // for a test that accepts and answers itself
  gw::Endpoint endpoint() const { return {"127.0.0.1", port_}; }

 private:
  int fd_;
  int port_ = 0;
};

}  // namespace gwtest
