#include "socketmap_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace gw {

namespace {

constexpr size_t kMaxReply = 1 << 20;

Status Unavailable(const Endpoint& server, const std::string& why) {
  return Status(StatusCode::kUnavailable, fmt::format("socketmap {}: {}", server.ToString(), why));
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool WaitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, events, 0};
  return poll(&p, 1, static_cast<int>(left.count())) == 1;
}

}  // namespace

Result<std::optional<std::string>> SocketmapLookup(const Endpoint& server, const std::string& map,
                                                   const std::string& key,
                                                   std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(server.port);
  if (int rc = getaddrinfo(server.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Unavailable(server, gai_strerror(rc));
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    return Unavailable(server, std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  int rc = connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (rc != 0 && errno != EINPROGRESS) return Unavailable(server, std::strerror(errno));
  if (!WaitFor(fd, POLLOUT, deadline)) return Unavailable(server, "no connection in time");
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return Unavailable(server, std::strerror(error));

  std::string request = map + " " + key;
  std::string framed = fmt::format("{}:{},", request.size(), request);
  for (size_t sent = 0; sent < framed.size();) {
    if (!WaitFor(fd, POLLOUT, deadline)) return Unavailable(server, "no answer in time");
    ssize_t n = send(fd, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return Unavailable(server, std::strerror(errno));
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string reply;
  for (;;) {
    size_t colon = reply.find(':');
    if (colon != std::string::npos) {
      size_t size = 0;
      for (size_t i = 0; i < colon; ++i) {
        if (reply[i] < '0' || reply[i] > '9' || colon > 7) {
          return Status(StatusCode::kInvalidArgument, "socketmap: a reply that is not a netstring");
        }
        size = size * 10 + static_cast<size_t>(reply[i] - '0');
      }
      if (reply.size() >= colon + 1 + size + 1) {
        if (reply[colon + 1 + size] != ',')
          return Status(StatusCode::kInvalidArgument, "socketmap: a reply that is not a netstring");
        std::string answer = reply.substr(colon + 1, size);
        if (answer.rfind("OK ", 0) == 0) return std::optional<std::string>(answer.substr(3));
        if (answer.rfind("NOTFOUND", 0) == 0) return std::optional<std::string>();
        if (answer.rfind("TEMP", 0) == 0) return Unavailable(server, answer);
        return Status(StatusCode::kInvalidArgument, "socketmap: " + answer);
      }
    }
    if (reply.size() > kMaxReply) {
      return Status(StatusCode::kInvalidArgument, "socketmap: a reply over 1 MiB");
    }
    if (!WaitFor(fd, POLLIN, deadline)) return Unavailable(server, "no answer in time");
    char buffer[16384];
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return Unavailable(server, "closed the connection without an answer");
    if (n < 0 && errno != EAGAIN) return Unavailable(server, std::strerror(errno));
    if (n > 0) reply.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace gw
