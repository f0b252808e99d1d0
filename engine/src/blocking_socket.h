// A TCP connection for the engine's small clients (SMTP to Postfix, socketmap to
// gatewayd): blocking calls, each bounded by the same timeout, errors as kUnavailable
// naming the server. Not for servers: those are Asio's.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "gateway/endpoint.h"
#include "gateway/network_policy.h"
#include "gateway/status.h"

namespace gw {

class BlockingSocket {
 public:
  BlockingSocket(Endpoint server, std::string protocol, std::chrono::milliseconds timeout)
      : server_(std::move(server)), protocol_(std::move(protocol)), timeout_(timeout) {}
  ~BlockingSocket() {
    if (fd_ >= 0) close(fd_);
  }
  BlockingSocket(const BlockingSocket&) = delete;
  BlockingSocket& operator=(const BlockingSocket&) = delete;

  // With `networks`, the address the server's name resolves to must pass it (checked on
  // the address connected to, so a name cannot resolve one way for a check and another
  // for the connection).
  Status Connect(const DestinationNetworks* networks = nullptr) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(server_.port);
    if (int rc = getaddrinfo(server_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
      return Unavailable(gai_strerror(rc));
    if (networks) {
      if (Status allowed = networks->Check(found->ai_addr); !allowed.ok()) {
        freeaddrinfo(found);
        return Status(StatusCode::kPermissionDenied,
                      fmt::format("{} {}: {}", protocol_, server_.ToString(), allowed.message()));
      }
    }
    fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd_ < 0 ? -1 : connect(fd_, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (fd_ < 0 || (rc != 0 && errno != EINPROGRESS)) return Unavailable(std::strerror(errno));
    if (!Wait(POLLOUT)) return Unavailable("no connection in time");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return Unavailable(std::strerror(error));
    return Status::Ok();
  }

  Status Send(std::string_view bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      if (!Wait(POLLOUT)) return Unavailable("the server stopped reading");
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return Unavailable(std::strerror(errno));
      if (n > 0) sent += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  // Appends what arrives to `buffer`; `step` names what was awaited, for the message.
  Status Receive(std::string& buffer, const std::string& step) {
    if (!Wait(POLLIN)) return Unavailable("no answer in time to " + step);
    char chunk[16384];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return Unavailable("closed the connection at " + step);
    if (n < 0 && errno != EAGAIN) return Unavailable(std::strerror(errno));
    if (n > 0) buffer.append(chunk, static_cast<size_t>(n));
    return Status::Ok();
  }

  Status Unavailable(const std::string& why) const {
    return Status(StatusCode::kUnavailable,
                  fmt::format("{} {}: {}", protocol_, server_.ToString(), why));
  }
  const Endpoint& server() const { return server_; }

 private:
  bool Wait(short events) {
    pollfd p{fd_, events, 0};
    return poll(&p, 1, static_cast<int>(timeout_.count())) == 1;
  }

  Endpoint server_;
  std::string protocol_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
};

}  // namespace gw
